"""HTTP glue for the protocol endpoints: normalise the request, call the engine, shape the response.

JSON endpoints answer errors as `{"error", "error_description"}` with the RFC status; nothing here decides
protocol questions.
"""

from __future__ import annotations

import html
import json
import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from idp.container import Container
from idp.http.pages import SESSION_COOKIE, container_of, error_page, gettext, locale_of
from idp.oidc import errors
from idp.oidc.authorize import AuthorizeFailure, decide, validate
from idp.oidc.discovery import provider_metadata
from idp.oidc.introspect import introspection_endpoint
from idp.oidc.models import NeedsInteraction, OidcRequest, Redirect
from idp.oidc.revoke import revocation_endpoint
from idp.oidc.sessions import load_session
from idp.oidc.token import token_endpoint
from idp.oidc.userinfo import userinfo_endpoint

log = logging.getLogger("mandat.http")

__all__ = ["NO_STORE", "SESSION_COOKIE", "client_ip", "read_request", "redirect_response"]
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


def _log(exc: errors.OAuthError, request: Request) -> None:
    log.info("%s %s -> %s (%s)", request.method, request.url.path, exc.error, exc.detail)


# --- discovery and keys -------------------------------------------------------------------------------------

async def discovery(request: Request) -> Response:
    container = container_of(request)
    metadata = container.services.get("discovery_metadata") or provider_metadata(container.provider)
    container.services["discovery_metadata"] = metadata
    return JSONResponse(metadata, headers={"cache-control": f"public, max-age={container.settings.jwks_cache_seconds}"})


async def jwks(request: Request) -> Response:
    container = container_of(request)
    return JSONResponse(container.keystore.jwks(),
                        headers={"cache-control": f"public, max-age={container.settings.jwks_cache_seconds}"})


# --- authorization endpoint ------------------------------------------------------------------------------------

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


def interaction_redirect(request: Request, needs: NeedsInteraction) -> Response:
    container = container_of(request)
    response = RedirectResponse(f"/interaction/{needs.uid}", status_code=303, headers=NO_STORE)
    response.set_cookie(f"mandat_ia_{needs.uid}", needs.browser_binding, httponly=True,
                        secure=container.settings.secure_cookies, samesite="lax", path=f"/interaction/{needs.uid}",
                        max_age=container.settings.interaction_ttl)
    return response


async def authorize(request: Request) -> Response:
    container = container_of(request)
    provider = container.provider
    locale = locale_of(request)
    try:
        oidc_request = await read_request(request)
        ctx, auth_request = await validate(provider, oidc_request)
        session = await load_session(provider, request.cookies.get(SESSION_COOKIE))
        outcome = await decide(provider, ctx, auth_request, session)
    except AuthorizeFailure as failure:
        _log(failure.error, request)
        if failure.redirect is not None:
            return redirect_response(failure.redirect, status=302)
        return error_page(request, gettext(locale, "This sign-in link is not valid"),
                          failure.error.description, next_step=gettext(
                              locale, "Go back to the site you came from and try again. If it keeps happening, "
                              "contact that site's support."), locale=locale)
    except errors.OAuthError as exc:
        _log(exc, request)
        return error_page(request, gettext(locale, "This sign-in link is not valid"), exc.description,
                          locale=locale)
    if isinstance(outcome, NeedsInteraction):
        return interaction_redirect(request, outcome)
    return redirect_response(outcome, status=302)


# --- JSON endpoints ---------------------------------------------------------------------------------------------

class TokenEndpoint:
    """POST /token as a plain ASGI app.

    Profiled under load: building Starlette's Request and Response objects cost more than the grant itself
    for client_credentials. This reads the headers and body straight from the ASGI messages and writes the
    answer with two sends; everything protocol-related is still `token_endpoint`.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        container: Container = scope["app"].state.container
        authorization = content_type = forwarded = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        peer = scope["client"][0] if scope.get("client") else ""
        settings = container.settings
        try:
            oidc_request = normalise(
                "POST", parse_form(content_type, b"".join(chunks)), authorization=authorization,
                client_ip=client_ip_of(peer, forwarded, settings.proxies), endpoint_url=settings.issuer + scope["path"])
            body = await token_endpoint(container.provider, oidc_request)
        except errors.OAuthError as exc:
            log.info("POST /token -> %s (%s)", exc.error, exc.detail)
            # Every 401 names a scheme (RFC 9110 §15.5.2), also when the client tried client_secret_post.
            await _send_json(send, exc.status, exc.as_dict(), challenge(exc, basic=True))
            return
        await _send_json(send, 200, body, None)


_JSON_NO_STORE = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


async def _send_json(send: Send, status: int, body: dict[str, Any], www_authenticate: str | None) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers = [*_JSON_NO_STORE, (b"content-length", str(len(payload)).encode())]
    if www_authenticate is not None:
        headers.append((b"www-authenticate", www_authenticate.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


token = TokenEndpoint()


async def userinfo(request: Request) -> Response:
    container = container_of(request)
    try:
        if request.method == "GET" and "access_token" in request.query_params:
            raise errors.InvalidRequest("do not send access tokens in the query string (RFC 6750 §2.3)")
        if request.method == "POST":
            oidc_request = await read_request(request, allow_get=False)
        else:
            oidc_request = OidcRequest("GET", {}, {"authorization": request.headers.get("authorization", "")},
                                       client_ip(request))
        claims = await userinfo_endpoint(container.provider, oidc_request)
    except errors.OAuthError as exc:
        _log(exc, request)
        return json_error(exc, bearer=True)
    return JSONResponse(claims, headers=NO_STORE)


async def introspect(request: Request) -> Response:
    container = container_of(request)
    try:
        body = await introspection_endpoint(container.provider, await read_request(request, allow_get=False))
    except errors.OAuthError as exc:
        _log(exc, request)
        return json_error(exc, basic=True)
    return JSONResponse(body, headers=NO_STORE)


async def revoke(request: Request) -> Response:
    container = container_of(request)
    try:
        await revocation_endpoint(container.provider, await read_request(request, allow_get=False))
    except errors.OAuthError as exc:
        _log(exc, request)
        return json_error(exc, basic=True)
    return Response(status_code=200, headers=NO_STORE)
