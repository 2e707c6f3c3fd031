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

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from idp.cards.config import CardSettings
from idp.cards.errors import CardError, InvalidCardResponse
from idp.cards.pki import ChainValidator
from idp.cards.service import PSC_SCOPES, CardSignIn, SignedInProfessional
from idp.cards.verify import certificate_from_proxy_header
from idp.container import Container
from idp.domains import Domain
from idp.errors import InteractionExpired, MandatError
from idp.http.interaction import current_interaction, expired_page, load_current, login_page
from idp.http.oauth_io import client_ip
from idp.http.page_api import as_json_redirect, json_error, json_ok, read_json, require_csrf
from idp.http.pages import check_csrf, container_of, form_expired, gettext, locale_of
from idp.oidc import assurance, paths
from idp.oidc.assurance import EIDAS3
from idp.oidc.sessions import Interaction
from idp.signin.finish import finish_sign_in
from idp.signin.methods import PROFESSIONAL, SignInHelp, SignInMethod

__all__ = ["domain"]

log = logging.getLogger("mandat.cards")


class NoClientCertificate(CardError):
    code = "no_client_certificate"
    public = "Your browser did not present a card certificate. Insert your card and try again."


def domain(container: Container) -> Domain | None:
    settings = container.settings.domain(CardSettings.from_env)
    if not settings.enabled:
        return None
    service = CardSignIn(settings, ChainValidator.from_settings(settings), db=container.db, store=container.store,
                         accounts=container.accounts)
    for warning in settings.dev_warnings():
        log.warning("DEV DEFAULT: %s", warning)
    routes: list[BaseRoute] = [
        Route(paths.INTERACTION + "/card/challenge", challenge, methods=["POST"]),
        Route(paths.INTERACTION + "/card/verify", verify, methods=["POST"]),
    ]
    if settings.tls_login:
        routes.append(Route(paths.INTERACTION + "/card/tls", tls_sign_in, methods=["POST"]))
    card = SignInMethod(
        name="card", template="cards/login_method.html", max_acr=EIDAS3, audiences=frozenset({PROFESSIONAL}),
        primary_for=frozenset({PROFESSIONAL}), order=10,
        context={"card_agent_url": f"http://127.0.0.1:{settings.agent_port}", "card_tls_login": settings.tls_login})
    return Domain(
        name="cards", routes=routes, scopes=tuple(PSC_SCOPES), claims=PSC_SCOPES["scope_all"],
        claim_source=service.claims, sign_in_methods=(card,),
        sign_in_help=(SignInHelp("cards/help.html", frozenset({PROFESSIONAL}), order=10),), services=(service,))


def service_of(request: Request) -> CardSignIn:
    return container_of(request).service(CardSignIn)


# --- path A: the card agent -----------------------------------------------------------------------------------

async def challenge(request: Request) -> Response:
    _, interaction = await load_current(request)
    locale = _locale(request, interaction)
    try:
        interaction = _check_json_call(request, interaction)
        value = await service_of(request).new_challenge(interaction.uid)
    except MandatError as error:
        return json_error(error, locale)
    return json_ok({"challenge": value, "expires_in": service_of(request).settings.challenge_ttl})


async def verify(request: Request) -> Response:
    container, interaction = await load_current(request)
    locale = _locale(request, interaction)
    client_id = interaction.request.client_id if interaction else None
    try:
        interaction = _check_json_call(request, interaction)
        body = await read_json(request, malformed=InvalidCardResponse)
        value = body.get("challenge")
        if not isinstance(value, str) or not 0 < len(value) <= 256:
            raise InvalidCardResponse("challenge is missing")
        result = await service_of(request).sign_in_with_response(interaction.uid, value, body)
    except MandatError as error:
        _audit_failure(request, container, error, client_id, path="agent")
        return json_error(error, locale)
    return as_json_redirect(await _signed_in(request, container, interaction, result, path="agent"))


def _check_json_call(request: Request, interaction: Interaction | None) -> Interaction:
    require_csrf(request, pre_session=True)
    if interaction is None:
        raise InteractionExpired("interaction unknown, finished or not bound to this browser")
    return interaction


# --- path B: TLS client certificate through a trusted proxy -----------------------------------------------------

async def tls_sign_in(request: Request) -> Response:
    current = await current_interaction(request)
    if current is None:
        return expired_page(request)
    container, interaction, client, locale = current.container, current.interaction, current.client, current.locale
    form = await request.form()
    if not await check_csrf(request, form, pre_session=True):
        return form_expired(request, locale)
    try:
        certificate = forwarded_certificate(request, container)
        result = await service_of(request).sign_in_with_certificate(certificate)
    except CardError as error:
        _audit_failure(request, container, error, client.client_id, path="tls")
        return login_page(request, interaction, client, locale, status=error.status,
                          error=gettext(locale, error.public))
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
    signed = assurance.card()
    container.audit.record("cards:login:succeeded", actor=result.account.id, ip=client_ip(request),
                           client_id=interaction.request.client_id, path=path, acr=signed.acr)
    return await finish_sign_in(request, result.account.id, signed, interaction=interaction)


def _audit_failure(request: Request, container: Container, error: MandatError, client_id: str | None, *,
                   path: str) -> None:
    log.info("cards: sign-in failed: %s (%s)", error.code, error.detail)
    container.audit.record("cards:login:failed", ip=client_ip(request), client_id=client_id, path=path,
                           error=error.code, reason=error.detail or None)


def _locale(request: Request, interaction: Interaction | None) -> str:
    return locale_of(request, interaction.request.ui_locales if interaction else ())
