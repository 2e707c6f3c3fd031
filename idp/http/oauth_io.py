"""Reading OAuth requests and writing OAuth responses: what every protocol endpoint's HTTP glue shares.

Requests become the engine's framework-free `OidcRequest`; errors become `{"error", "error_description"}` with
the RFC status (and the WWW-Authenticate challenge where one is due); redirects go back to the client by query
or by form post. Nothing here decides a protocol question.
"""

from __future__ import annotations

import html
import json
import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import Send

from idp.http.pages import SESSION_COOKIE, container_of
from idp.oidc import errors
from idp.oidc.models import OidcRequest, Redirect

log = logging.getLogger("mandat.http")

__all__ = ["NO_STORE", "SESSION_COOKIE", "challenge", "client_ip", "client_ip_of", "form_post_page", "json_error",
           "log_error", "normalise", "parse_form", "read_request", "redirect_response", "send_json"]
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
FORM_TYPE = "application/x-www-form-urlencoded"


def client_ip_of(peer: str, forwarded: str | None, proxies: frozenset[str]) -> str:
    """The client's address: the peer, or the last X-Forwarded-For hop when the peer is a trusted proxy."""
    if peer in proxies and forwarded:
        return forwarded.split(",")[-1].strip()
    return peer


def client_ip(request: Request) -> str:
    peer = request.client.host if request.client else ""
    return client_ip_of(peer, request.headers.get("x-forwarded-for"), container_of(request).settings.proxies)


def normalise(method: str, pairs: list[tuple[str, str]], *, authorization: str, client_ip: str,
              endpoint_url: str) -> OidcRequest:
    params: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if name in params:
            repeated.add(name)
        params[name] = value
    return OidcRequest(method=method, params=params, headers={"authorization": authorization},
                       client_ip=client_ip, repeated=frozenset(repeated), endpoint_url=endpoint_url)


def parse_form(content_type: str, body: bytes) -> list[tuple[str, str]]:
    if content_type.split(";")[0].strip().lower() != FORM_TYPE:
        raise errors.InvalidRequest(f"the body must be {FORM_TYPE}")
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise errors.InvalidRequest("the body is not valid form data") from None


def _normalise(method: str, pairs: list[tuple[str, str]], request: Request) -> OidcRequest:
    # The endpoint as the issuer names it (for private_key_jwt `aud`), not as the Host header says.
    return normalise(method, pairs, authorization=request.headers.get("authorization", ""),
                     client_ip=client_ip(request),
                     endpoint_url=container_of(request).settings.issuer + request.scope["path"])


async def read_request(request: Request, *, allow_get: bool = True) -> OidcRequest:
    if request.method == "POST":
        pairs = parse_form(request.headers.get("content-type", ""), await request.body())
        return _normalise("POST", pairs, request)
    if not allow_get:
        raise errors.InvalidRequest("use POST")
    try:
        pairs = parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True,
                          max_num_fields=100)
    except ValueError:
        raise errors.InvalidRequest("too many parameters") from None
    return _normalise("GET", pairs, request)


def challenge(exc: errors.OAuthError, *, bearer: bool = False, basic: bool = False) -> str | None:
    """The WWW-Authenticate value for an error, if it needs one."""
    if bearer and isinstance(exc, errors.MissingToken):
        return 'Bearer realm="mandat"'
    if bearer:
        desc = exc.description.replace('"', "'")
        return f'Bearer error="{exc.error}", error_description="{desc}"'
    if basic and exc.status == 401:
        return 'Basic realm="mandat"'
    return None


def json_error(exc: errors.OAuthError, *, bearer: bool = False, basic: bool = False) -> JSONResponse:
    response = JSONResponse(exc.as_dict(), status_code=exc.status, headers=NO_STORE)
    value = challenge(exc, bearer=bearer, basic=basic)
    if value is not None:
        response.headers["www-authenticate"] = value
    return response


def log_error(exc: errors.OAuthError, request: Request) -> None:
    log.info("%s %s -> %s (%s)", request.method, request.url.path, exc.error, exc.detail)


def redirect_response(redirect: Redirect, *, status: int = 303) -> Response:
    if redirect.response_mode == "form_post":
        return form_post_page(redirect)
    separator = "&" if urlsplit(redirect.url).query else "?"
    return RedirectResponse(redirect.url + separator + urlencode(redirect.params), status_code=status,
                            headers=NO_STORE)


def form_post_page(redirect: Redirect) -> Response:
    """OAuth 2.0 Form Post Response Mode: an auto-submitting form (external script; CSP allows it)."""
    inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in redirect.params.items())
    target = urlsplit(redirect.url)
    origin = f"{target.scheme}://{target.netloc}"
    body = ("<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Mandat</title>"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<script src=\"/static/form_post.js\" defer></script></head><body>"
            f"<form method=\"post\" action=\"{html.escape(redirect.url)}\" id=\"form_post\">{inputs}"
            "<noscript><button type=\"submit\">Continuer / Continue</button></noscript></form></body></html>")
    csp = (f"default-src 'none'; script-src 'self'; form-action {origin}; frame-ancestors 'none'; "
           "base-uri 'none'")
    return HTMLResponse(body, headers={**NO_STORE, "content-security-policy": csp})


_JSON_NO_STORE = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


async def send_json(send: Send, status: int, body: dict[str, Any], www_authenticate: str | None) -> None:
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    headers = [*_JSON_NO_STORE, (b"content-length", str(len(payload)).encode())]
    if www_authenticate is not None:
        headers.append((b"www-authenticate", www_authenticate.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
