"""The protocol endpoints' HTTP side: discovery, JWKS, authorize, token, userinfo, introspection, revocation.

Each reads the request with `oauth_io`, calls the engine in `idp.oidc`, and shapes the answer; nothing here
decides a protocol question.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from idp.container import Container
from idp.errors import StorageUnavailable
from idp.http.oauth_io import (
    NO_STORE,
    SESSION_COOKIE,
    challenge,
    client_ip_of,
    json_error,
    log,
    log_error,
    normalise,
    parse_form,
    read_request,
    redirect_response,
    send_json,
)
from idp.http.pages import container_of, error_page, gettext, locale_of
from idp.observability.faults import backend_of
from idp.observability.metrics import STORAGE_ERRORS, TOKENS, grant_label
from idp.oidc import errors, paths
from idp.oidc.authorize import AuthorizeFailure, decide, validate
from idp.oidc.discovery import provider_metadata
from idp.oidc.introspect import introspection_endpoint
from idp.oidc.models import NeedsInteraction, OidcRequest
from idp.oidc.revoke import revocation_endpoint
from idp.oidc.sessions import load_session
from idp.oidc.token_endpoint import token_endpoint
from idp.oidc.userinfo import userinfo_endpoint

__all__ = ["authorize", "discovery", "introspect", "jwks", "revoke", "token", "userinfo"]


# --- discovery and keys -------------------------------------------------------------------------------------

async def discovery(request: Request) -> Response:
    container = container_of(request)
    if container.discovery_document is None:
        container.discovery_document = provider_metadata(container.provider)
    metadata = container.discovery_document
    return JSONResponse(metadata, headers={"cache-control": f"public, max-age={container.settings.jwks_cache_seconds}"})


async def jwks(request: Request) -> Response:
    container = container_of(request)
    return JSONResponse(container.keystore.jwks(),
                        headers={"cache-control": f"public, max-age={container.settings.jwks_cache_seconds}"})


def interaction_redirect(request: Request, needs: NeedsInteraction) -> Response:
    container = container_of(request)
    response = RedirectResponse(paths.interaction(needs.uid), status_code=303, headers=NO_STORE)
    response.set_cookie(f"mandat_ia_{needs.uid}", needs.browser_binding, httponly=True,
                        secure=container.settings.secure_cookies, samesite="lax", path=paths.interaction(needs.uid),
                        max_age=container.settings.interaction_ttl)
    return response


async def authorize(request: Request) -> Response:
    container = container_of(request)
    provider = container.provider
    locale = locale_of(request)
    try:
        oidc_request = await read_request(request)
        ctx, auth_request = await validate(provider, oidc_request)
        try:
            session = await load_session(provider, request.cookies.get(SESSION_COOKIE))
            outcome = await decide(provider, ctx, auth_request, session)
        except StorageUnavailable as exc:
            # The client and its redirect_uri are verified: tell it (RFC 6749 §4.1.2.1), not the person.
            STORAGE_ERRORS.labels(backend_of(exc) or "redis").inc()
            raise AuthorizeFailure(errors.TemporarilyUnavailable(
                "the service is briefly unavailable, retry later", detail=exc.detail), ctx) from exc
    except AuthorizeFailure as failure:
        log_error(failure.error, request)
        if failure.redirect is not None:
            return redirect_response(failure.redirect, status=302)
        return error_page(request, gettext(locale, "This sign-in link is not valid"),
                          failure.error.description, next_step=gettext(
                              locale, "Go back to the site you came from and try again. If it keeps happening, "
                              "contact that site's support."), locale=locale)
    except errors.OAuthError as exc:
        log_error(exc, request)
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
        raw = await _RawRequest.read(scope, receive, container)
        try:
            oidc_request = raw.form()
            body = await token_endpoint(container.provider, oidc_request)
        except errors.OAuthError as exc:
            log.info("POST /token -> %s (%s)", exc.error, exc.detail)
            # Every 401 names a scheme (RFC 9110 §15.5.2), also when the client tried client_secret_post.
            await send_json(send, exc.status, exc.as_dict(), challenge(exc, basic=True))
            return
        TOKENS.labels(grant_label(oidc_request.params.get("grant_type", ""))).inc()
        await send_json(send, 200, body, None)


token = TokenEndpoint()


class _RawRequest:
    """What the JSON endpoints need of a request, read straight from the ASGI scope and messages."""

    __slots__ = ("authorization", "body", "client_ip", "content_type", "endpoint_url", "method", "scope")

    def __init__(self, scope: Scope, body: bytes, authorization: str, content_type: str, client_ip: str,
                 endpoint_url: str) -> None:
        self.scope, self.body, self.method = scope, body, scope["method"]
        self.authorization, self.content_type = authorization, content_type
        self.client_ip, self.endpoint_url = client_ip, endpoint_url

    @classmethod
    async def read(cls, scope: Scope, receive: Receive, container: Container) -> _RawRequest:
        authorization = content_type = forwarded = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
        chunks = []
        more = scope["method"] == "POST"
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        peer = scope["client"][0] if scope.get("client") else ""
        settings = container.settings
        # The endpoint as the issuer names it (for private_key_jwt `aud`), not as the Host header says.
        return cls(scope, b"".join(chunks), authorization, content_type,
                   client_ip_of(peer, forwarded, settings.proxies), settings.issuer + scope["path"])

    def form(self) -> OidcRequest:
        return normalise("POST", parse_form(self.content_type, self.body), authorization=self.authorization,
                         client_ip=self.client_ip, endpoint_url=self.endpoint_url)

    def log(self, exc: errors.OAuthError) -> None:
        log.info("%s %s -> %s (%s)", self.method, self.scope["path"], exc.error, exc.detail)


class UserinfoEndpoint:
    """GET/POST /userinfo as a plain ASGI app, for the same reason as `TokenEndpoint` (profiled: Starlette's
    Request and JSONResponse were a tenth of a userinfo answer's CPU)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        container: Container = scope["app"].state.container
        raw = await _RawRequest.read(scope, receive, container)
        try:
            if raw.method == "POST":
                oidc_request = raw.form()
            else:
                if any(name == "access_token" for name, _ in _query(scope)):
                    raise errors.InvalidRequest("do not send access tokens in the query string (RFC 6750 §2.3)")
                oidc_request = OidcRequest("GET", {}, {"authorization": raw.authorization}, raw.client_ip)
            claims = await userinfo_endpoint(container.provider, oidc_request)
        except errors.OAuthError as exc:
            raw.log(exc)
            await send_json(send, exc.status, exc.as_dict(), challenge(exc, bearer=True))
            return
        await send_json(send, 200, claims, None)


class IntrospectionEndpoint:
    """POST /introspect as a plain ASGI app (see `UserinfoEndpoint`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        container: Container = scope["app"].state.container
        raw = await _RawRequest.read(scope, receive, container)
        try:
            body = await introspection_endpoint(container.provider, raw.form())
        except errors.OAuthError as exc:
            raw.log(exc)
            await send_json(send, exc.status, exc.as_dict(), challenge(exc, basic=True))
            return
        await send_json(send, 200, body, None)


def _query(scope: Scope) -> list[tuple[str, str]]:
    try:
        return parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True, max_num_fields=100)
    except ValueError:
        raise errors.InvalidRequest("too many parameters") from None


userinfo = UserinfoEndpoint()
introspect = IntrospectionEndpoint()


async def revoke(request: Request) -> Response:
    container = container_of(request)
    try:
        await revocation_endpoint(container.provider, await read_request(request, allow_get=False))
    except errors.OAuthError as exc:
        log_error(exc, request)
        return json_error(exc, basic=True)
    return Response(status_code=200, headers=NO_STORE)
