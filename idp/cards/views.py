"""Card sign-in routes on the login page. Present only when card sign-in is enabled (trust anchors set).

Path A (the local card agent), called by /static/cards.js with the page's CSRF token in `X-CSRF-Token`:

    POST /interaction/{uid}/card/challenge   → {"challenge", "expires_in"}
    POST /interaction/{uid}/card/verify      {"challenge", "certificate", "signature", "alg"} → {"redirect"}

Path B (TLS client certificate; only with MANDAT_CARDS_TLS_LOGIN), a form post with the usual CSRF field:

    POST /interaction/{uid}/card/tls         → 303 to the interaction, or the login page with the error

The certificate header is believed only from a peer in MANDAT_TRUSTED_PROXIES; from anyone else it is
ignored and audited (`cards:mtls:spoofed_header`), and the chain is always re-validated here.

Errors answer `{"error": <CardError.code>, "message": <public text in the page's language>}`; each failure
is audited as `cards:login:failed` with its code, the private detail going to the log and the audit only.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from idp.cards.config import CardSettings
from idp.cards.errors import CardError, InvalidCardResponse
from idp.cards.pki import ChainValidator
from idp.cards.service import PSC_SCOPES, CardSignIn, SignedInProfessional
from idp.cards.verify import certificate_from_proxy_header
from idp.container import Container
from idp.http import csrf
from idp.http.interaction import load_current, login_page, signed_in
from idp.http.pages import check_csrf, check_csrf_header, container_of, error_page, form_expired, gettext, locale_of
from idp.http.protocol import NO_STORE, client_ip
from idp.oidc.sessions import Interaction

__all__ = ["CSRF_HEADER", "extension"]

log = logging.getLogger("mandat.cards")

CSRF_HEADER = csrf.HEADER
ACR = "eidas3"
AMR = ("sc", "pin", "hwk", "mfa")
MAX_BODY_BYTES = 16384


class CsrfRefused(CardError):
    code = "csrf_invalid"
    description = "For your security, this page has expired. Reload it and try again."
    status = 403


class InteractionExpired(CardError):
    code = "interaction_expired"
    description = "This sign-in page has expired. Go back to the site you came from and choose sign in again."


class NoClientCertificate(CardError):
    code = "no_client_certificate"
    description = "Your browser did not present a card certificate. Insert your card and try again."


def extension(container: Container) -> list[BaseRoute]:
    settings = container.settings.domain(CardSettings.from_env)
    if not settings.enabled:
        return []
    service = CardSignIn(settings, ChainValidator.from_settings(settings), db=container.db, store=container.store,
                         accounts=container.accounts)
    container.services["cards"] = service
    container.accounts.claim_sources.append(service.claims)
    container.add_scopes(tuple(PSC_SCOPES), PSC_SCOPES["scope_all"])
    container.add_login_method("cards/login_method.html", order=5,
                               card_agent_url=f"http://127.0.0.1:{settings.agent_port}",
                               card_tls_login=settings.tls_login)
    for warning in settings.dev_warnings():
        log.warning("DEV DEFAULT: %s", warning)
    routes: list[BaseRoute] = [
        Route("/interaction/{uid}/card/challenge", challenge, methods=["POST"]),
        Route("/interaction/{uid}/card/verify", verify, methods=["POST"]),
    ]
    if settings.tls_login:
        routes.append(Route("/interaction/{uid}/card/tls", tls_sign_in, methods=["POST"]))
    return routes


def service_of(request: Request) -> CardSignIn:
    service: CardSignIn = container_of(request).services["cards"]
    return service


# --- path A: the card agent -----------------------------------------------------------------------------------

async def challenge(request: Request) -> Response:
    container, interaction = await load_current(request)
    locale = _locale(request, interaction)
    try:
        interaction = _check_json_call(request, container, interaction)
        value = await service_of(request).new_challenge(interaction.uid)
    except CardError as error:
        return _json_error(error, locale)
    return JSONResponse({"challenge": value, "expires_in": service_of(request).settings.challenge_ttl},
                        headers=NO_STORE)


async def verify(request: Request) -> Response:
    container, interaction = await load_current(request)
    locale = _locale(request, interaction)
    client_id = interaction.request.client_id if interaction else None
    try:
        interaction = _check_json_call(request, container, interaction)
        body = await _json_body(request)
        value = body.get("challenge")
        if not isinstance(value, str) or not 0 < len(value) <= 256:
            raise InvalidCardResponse("challenge is missing")
        result = await service_of(request).sign_in_with_response(interaction.uid, value, body)
    except CardError as error:
        _audit_failure(request, container, error, client_id, path="agent")
        return _json_error(error, locale)
    redirect = await _signed_in(request, container, interaction, result, path="agent")
    response = JSONResponse({"redirect": redirect.headers["location"]}, headers=NO_STORE)
    for name, header in redirect.raw_headers:
        if name == b"set-cookie":
            response.raw_headers.append((name, header))
    return response


def _check_json_call(request: Request, container: Container, interaction: Interaction | None) -> Interaction:
    if not check_csrf_header(request, pre_session=True):
        raise CsrfRefused("no or bad X-CSRF-Token")
    if interaction is None:
        raise InteractionExpired("interaction unknown, finished or not bound to this browser")
    return interaction


async def _json_body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise InvalidCardResponse("content type is not application/json")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidCardResponse("body too large")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise InvalidCardResponse("body is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidCardResponse("body is not a JSON object")
    return body


# --- path B: TLS client certificate through a trusted proxy -----------------------------------------------------

async def tls_sign_in(request: Request) -> Response:
    container, interaction = await load_current(request)
    locale = _locale(request, interaction)
    if interaction is None:
        return error_page(request, gettext(locale, InteractionExpired.description), "", status=400, locale=locale)
    form = await request.form()
    if not await check_csrf(request, form, pre_session=True):
        return form_expired(request, locale)
    client = await container.clients.get(interaction.request.client_id)
    if client is None:
        return error_page(request, gettext(locale, InteractionExpired.description), "", status=400, locale=locale)
    try:
        certificate = forwarded_certificate(request, container)
        result = await service_of(request).sign_in_with_certificate(certificate)
    except CardError as error:
        _audit_failure(request, container, error, client.client_id, path="tls")
        return login_page(request, interaction, client, locale, status=error.status,
                          error=gettext(locale, error.description))
    return await _signed_in(request, container, interaction, result, path="tls")


def forwarded_certificate(request: Request, container: Container) -> bytes:
    """The DER certificate the TLS proxy forwarded; a header from any other peer is ignored and audited."""
    header = service_of(request).settings.client_cert_header
    value = request.headers.get(header, "")
    peer = request.client.host if request.client else ""
    if peer not in container.settings.proxies:
        if value:
            container.audit.record("cards:mtls:spoofed_header", ip=peer, header=header)
            log.warning("cards: %s header from untrusted peer %s ignored", header, peer)
        raise NoClientCertificate(f"no certificate header from a trusted proxy (peer {peer})")
    if not value:
        raise NoClientCertificate("the proxy forwarded no client certificate")
    return certificate_from_proxy_header(value)


# --- shared ---------------------------------------------------------------------------------------------------

async def _signed_in(request: Request, container: Container, interaction: Interaction,
                     result: SignedInProfessional, *, path: str) -> Response:
    container.audit.record("cards:login:succeeded", actor=result.account.id, ip=client_ip(request),
                           client_id=interaction.request.client_id, path=path, acr=ACR)
    return await signed_in(request, container, interaction, result.account.id, ACR, AMR)


def _audit_failure(request: Request, container: Container, error: CardError, client_id: str | None, *,
                   path: str) -> None:
    log.info("cards: sign-in failed: %s (%s)", error.code, error.detail)
    container.audit.record("cards:login:failed", ip=client_ip(request), client_id=client_id, path=path,
                           error=error.code, reason=error.detail or None)


def _locale(request: Request, interaction: Interaction | None) -> str:
    return locale_of(request, interaction.request.ui_locales if interaction else ())


def _json_error(error: CardError, locale: str) -> JSONResponse:
    return JSONResponse({"error": error.code, "message": gettext(locale, error.description)},
                        status_code=error.status, headers=NO_STORE)
