"""Authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 7636, RFC 9207, RFC 9700).

Read top to bottom: `AUTHORIZE_STEPS` validates the request, `decide` chooses between answering at once (a
live SSO session that satisfies prompt/max_age/acr and remembered consent) and sending the person to the
interaction pages. Errors raised before the client and redirect_uri are trusted are shown on our own page;
later errors are redirected to the client with `state` and `iss`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from idp.oidc import errors
from idp.oidc.assurance import acr_rank
from idp.oidc.delegated import fitting_offers, offer_for
from idp.oidc.minting import random_token, token_hash
from idp.oidc.models import (
    Authentication,
    AuthorizationRequest,
    Client,
    Delegated,
    NeedsInteraction,
    OidcRequest,
    Redirect,
)
from idp.oidc.provider import Provider
from idp.oidc.sessions import Session, start_interaction
from idp.store import put_json

PROMPTS = frozenset({"none", "login", "consent", "select_account"})
RESPONSE_MODES = ("query", "form_post")
# RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is exactly 43 characters.
S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
MAX_PARAM = 2048


@dataclass(slots=True)
class AuthorizeContext:
    provider: Provider
    request: OidcRequest
    client: Client | None = None
    redirect_uri: str | None = None
    response_mode: str = "query"
    scopes: tuple[str, ...] = ()
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    acr_values: tuple[str, ...] = ()
    claims: dict[str, Any] | None = None
    ui_locales: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trusted_redirect(self) -> bool:
        return self.client is not None and self.redirect_uri is not None


Step = Callable[[AuthorizeContext], Awaitable[None]]


# --- steps: the client and where to answer -----------------------------------------------------------------

async def check_single_valued(ctx: AuthorizeContext) -> None:
    """RFC 6749 §3.1: parameters must not repeat. Checked first, so nothing below reads an ambiguous value."""
    if ctx.request.repeated:
        raise errors.InvalidRedirectUri(f"parameter repeated: {', '.join(sorted(ctx.request.repeated))}")


async def load_client(ctx: AuthorizeContext) -> None:
    client_id = ctx.request.get("client_id")
    if client_id is None:
        raise errors.UnknownClientAtAuthorize("client_id is missing")
    if len(client_id) > 200:
        raise errors.UnknownClientAtAuthorize("client_id is too long")
    client = await ctx.provider.clients.get(client_id)
    if client is None:
        raise errors.UnknownClientAtAuthorize("unknown client_id", detail=f"unknown client {client_id!r}")
    ctx.client = client


async def check_redirect_uri(ctx: AuthorizeContext) -> None:
    """Exact string match against the registered URIs (RFC 9700 §4.1.3). Never redirect on failure."""
    assert ctx.client is not None
    redirect_uri = ctx.request.get("redirect_uri")
    if redirect_uri is None:
        raise errors.InvalidRedirectUri("redirect_uri is missing")
    if redirect_uri not in ctx.client.redirect_uris:
        raise errors.InvalidRedirectUri("redirect_uri is not registered for this client",
                                        detail=f"{redirect_uri!r} not in {ctx.client.redirect_uris}")
    ctx.redirect_uri = redirect_uri


async def check_response_mode(ctx: AuthorizeContext) -> None:
    mode = ctx.request.get("response_mode") or "query"
    if mode not in RESPONSE_MODES:
        raise errors.InvalidRequest("response_mode must be query or form_post")
    ctx.response_mode = mode


async def check_request_object(ctx: AuthorizeContext) -> None:
    if ctx.request.get("request") is not None:
        raise errors.RequestNotSupported("request objects are not supported")
    if ctx.request.get("request_uri") is not None:
        raise errors.RequestUriNotSupported("request_uri is not supported")


async def check_response_type(ctx: AuthorizeContext) -> None:
    """Code flow only: no implicit or hybrid (RFC 9700 §2.1.2)."""
    response_type = ctx.request.get("response_type")
    if response_type is None:
        raise errors.InvalidRequest("response_type is missing")
    if response_type != "code":
        raise errors.UnsupportedResponseType("only response_type=code is supported")


async def check_client_may_use_code(ctx: AuthorizeContext) -> None:
    assert ctx.client is not None
    if "authorization_code" not in ctx.client.grant_types:
        raise errors.UnauthorizedClient("this client may not use the authorization code grant")


async def check_scope(ctx: AuthorizeContext) -> None:
    assert ctx.client is not None
    raw = ctx.request.get("scope")
    if raw is None:
        raise errors.InvalidScope("scope is missing; it must include openid")
    scopes = tuple(dict.fromkeys(raw.split()))
    if "openid" not in scopes:
        raise errors.InvalidScope("scope must include openid")
    not_allowed = [s for s in scopes if s not in ctx.client.scopes]
    if not_allowed:
        raise errors.InvalidScope(f"scope not allowed for this client: {' '.join(not_allowed)}")
    ctx.scopes = scopes


async def check_pkce(ctx: AuthorizeContext) -> None:
    """PKCE with S256 for every client, public or confidential; `plain` is refused (RFC 9700 §2.1.1)."""
    challenge = ctx.request.get("code_challenge")
    method = ctx.request.get("code_challenge_method")
    if challenge is None:
        raise errors.InvalidRequest("code_challenge is required (PKCE with S256)")
    if method is None:
        raise errors.InvalidRequest("code_challenge_method is required and must be S256")
    if method != "S256":
        raise errors.InvalidRequest("code_challenge_method must be S256; plain is not allowed")
    if not S256_CHALLENGE.match(challenge):
        raise errors.InvalidRequest("code_challenge must be 43 base64url characters (S256)")


async def check_lengths(ctx: AuthorizeContext) -> None:
    for name in ("state", "nonce", "login_hint", "claims", "ui_locales", "acr_values", "on_behalf_of"):
        value = ctx.request.get(name)
        if value is not None and len(value) > MAX_PARAM:
            raise errors.InvalidRequest(f"{name} is too long")


async def check_prompt(ctx: AuthorizeContext) -> None:
    raw = ctx.request.get("prompt")
    prompt = frozenset(raw.split()) if raw else frozenset()
    unknown = prompt - PROMPTS
    if unknown:
        raise errors.InvalidRequest(f"unsupported prompt value: {' '.join(sorted(unknown))}")
    if "none" in prompt and len(prompt) > 1:
        raise errors.InvalidRequest("prompt=none cannot be combined with other values")
    ctx.prompt = prompt


async def check_max_age(ctx: AuthorizeContext) -> None:
    raw = ctx.request.get("max_age")
    if raw is None:
        return
    if not raw.isdigit() or len(raw) > 9:
        raise errors.InvalidRequest("max_age must be a non-negative integer")
    ctx.max_age = int(raw)


async def check_acr_values(ctx: AuthorizeContext) -> None:
    raw = ctx.request.get("acr_values")
    if raw is None:
        return
    values = tuple(raw.split())
    unknown = [v for v in values if v not in ctx.provider.config.acr_values_supported]
    if unknown:
        raise errors.InvalidRequest(
            f"unsupported acr_values: {' '.join(unknown)}; use {' '.join(ctx.provider.config.acr_values_supported)}")
    ctx.acr_values = values


async def check_claims_parameter(ctx: AuthorizeContext) -> None:
    """OIDC Core §5.5: a JSON object with optional `userinfo` and `id_token` members."""
    raw = ctx.request.get("claims")
    if raw is None:
        return
    try:
        claims = json.loads(raw)
    except ValueError:
        raise errors.InvalidRequest("claims must be a JSON object") from None
    if not isinstance(claims, dict) or not set(claims) <= {"userinfo", "id_token"}:
        raise errors.InvalidRequest("claims must be a JSON object with userinfo and/or id_token members")
    for member in claims.values():
        if member is not None and not isinstance(member, dict):
            raise errors.InvalidRequest("claims members must be JSON objects")
    ctx.claims = claims


async def check_ui_locales(ctx: AuthorizeContext) -> None:
    raw = ctx.request.get("ui_locales")
    ctx.ui_locales = tuple(raw.split()) if raw else ()


AUTHORIZE_STEPS: tuple[Step, ...] = (
    check_single_valued,
    load_client,
    check_redirect_uri,
    # From here on the redirect target is trusted: errors go back to the client.
    check_response_mode,
    check_request_object,
    check_response_type,
    check_client_may_use_code,
    check_scope,
    check_pkce,
    check_lengths,
    check_prompt,
    check_max_age,
    check_acr_values,
    check_claims_parameter,
    check_ui_locales,
)


async def validate(provider: Provider, request: OidcRequest) -> tuple[AuthorizeContext, AuthorizationRequest]:
    ctx = AuthorizeContext(provider=provider, request=request)
    try:
        for step in AUTHORIZE_STEPS:
            await step(ctx)
    except errors.OAuthError as exc:
        raise AuthorizeFailure(exc, ctx) from exc
    assert ctx.client is not None and ctx.redirect_uri is not None
    code_challenge = request.get("code_challenge")
    assert code_challenge is not None
    auth_request = AuthorizationRequest(
        client_id=ctx.client.client_id, redirect_uri=ctx.redirect_uri, scopes=ctx.scopes,
        state=request.get("state"), nonce=request.get("nonce"), code_challenge=code_challenge,
        response_mode=ctx.response_mode, prompt=ctx.prompt, max_age=ctx.max_age, acr_values=ctx.acr_values,
        claims=ctx.claims, login_hint=request.get("login_hint"), ui_locales=ctx.ui_locales,
        on_behalf_of=request.get("on_behalf_of"),
    )
    return ctx, auth_request


class AuthorizeFailure(Exception):
    """Wraps a protocol error with what is known about where it may be sent."""

    def __init__(self, error: errors.OAuthError, ctx: AuthorizeContext | None = None,
                 redirect: Redirect | None = None) -> None:
        super().__init__(error.description)
        self.error = error
        self.redirect = redirect
        if redirect is None and ctx is not None and ctx.trusted_redirect and error.redirectable:
            assert ctx.redirect_uri is not None
            self.redirect = error_redirect(ctx.provider, ctx.redirect_uri, ctx.response_mode,
                                           ctx.request.get("state"), error)


def error_redirect(provider: Provider, redirect_uri: str, response_mode: str, state: str | None,
                   error: errors.OAuthError) -> Redirect:
    params = {"error": error.error, "error_description": error.description, "iss": provider.config.issuer}
    if state is not None:
        params["state"] = state
    return Redirect(redirect_uri, params, response_mode)


# --- deciding: answer now, or interact ------------------------------------------------------------------------

def required_acr_rank(request: AuthorizationRequest) -> int:
    """The lowest level the request accepts (acr_values, or an essential `acr` claim)."""
    values = list(request.acr_values)
    essential = ((request.claims or {}).get("id_token") or {}).get("acr")
    if isinstance(essential, dict) and essential.get("essential"):
        if isinstance(essential.get("values"), list):
            values.extend(str(v) for v in essential["values"])
        elif isinstance(essential.get("value"), str):
            values.append(essential["value"])
    ranks = [acr_rank(v) for v in values if acr_rank(v)]
    return min(ranks) if ranks else 0


def needs_fresh_login(provider: Provider, request: AuthorizationRequest, session: Session | None) -> bool:
    # `select_account` does not: it asks for the "act as" choice (whom to act for), which follows any sign-in.
    if session is None or "login" in request.prompt:
        return True
    auth = session.authentication
    # `>=`, not `>`: auth_time has one-second resolution, so with `>` max_age=0 (OIDC Core §3.1.2.1: "the
    # End-User MUST be actively re-authenticated") would reuse a session opened earlier in the same second.
    if request.max_age is not None and provider.now() - auth.auth_time >= request.max_age:
        return True
    return acr_rank(auth.acr) < required_acr_rank(request)


async def needs_consent(provider: Provider, client: Client, request: AuthorizationRequest, account_id: str) -> bool:
    if "consent" in request.prompt:
        return True
    if client.first_party:
        return False
    granted = await provider.consents.granted_scopes(account_id, client.client_id)
    return not set(request.scopes) <= granted


async def decide(provider: Provider, ctx: AuthorizeContext, request: AuthorizationRequest,
                 session: Session | None) -> Redirect | NeedsInteraction:
    assert ctx.client is not None
    try:
        fresh = needs_fresh_login(provider, request, session)
        if session is not None and not await provider.accounts.is_active(session.authentication.account_id):
            fresh, session = True, None
        if fresh and "none" in request.prompt:
            raise errors.LoginRequired("the person must sign in")
        if not fresh and session is not None:
            account_id = session.authentication.account_id
            acting, ask = await acting_without_page(provider, ctx.client, request, account_id)
            if ask and "none" in request.prompt:
                if "select_account" in request.prompt:
                    raise errors.AccountSelectionRequired("the person must choose whom to act for")
                ask = False  # no page may be shown: the person acts as themself, as without delegations
            if await needs_consent(provider, ctx.client, request, account_id):
                if "none" in request.prompt:
                    raise errors.ConsentRequired("the person must consent")
            elif not ask:
                return await issue_code(provider, ctx.client, request, session.authentication, delegated=acting)
    except errors.OAuthError as exc:
        raise AuthorizeFailure(exc, ctx) from exc
    interaction, binding = await start_interaction(provider, request, fresh_login=fresh, session=session)
    return NeedsInteraction(interaction.uid, binding)


async def acting_without_page(provider: Provider, client: Client, request: AuthorizationRequest,
                              account_id: str) -> tuple[Delegated | None, bool]:
    """Whom the person acts for when that is already decided, and whether the "act as" page must ask.

    - `on_behalf_of` names a principal: acting for them if a delegation allows it now (the page asks only with
      `prompt=select_account`), else `access_denied` saying so;
    - otherwise the page asks when some delegation fits the requested scopes, or `prompt=select_account`
      forces it; with none, the person acts as themself and the flow is unchanged."""
    offers = await fitting_offers(provider, request, account_id)
    forced = "select_account" in request.prompt
    if request.on_behalf_of is not None:
        chosen = offer_for(provider, client, offers, request.on_behalf_of)
        if chosen is None:
            raise errors.AccessDenied("on_behalf_of: no active delegation lets this person act for that principal "
                                      "with the requested scopes")
        return chosen, forced
    return None, forced or bool(offers)


async def issue_code(provider: Provider, client: Client, request: AuthorizationRequest,
                     auth: Authentication, extra: dict[str, Any] | None = None, *,
                     delegated: Delegated | None = None) -> Redirect:
    """Mint a single-use code. Its grant id is fixed now so a replay can revoke what it issued."""
    if acr_rank(auth.acr) < required_acr_rank(request):
        raise AuthorizeFailure(
            errors.UnmetAuthenticationRequirements("the sign-in method does not reach the requested acr"),
            redirect=error_redirect(provider, request.redirect_uri, request.response_mode, request.state,
                                    errors.UnmetAuthenticationRequirements(
                                        "the sign-in method does not reach the requested acr")))
    code = random_token()
    key = token_hash(provider, code)
    grant_id = secrets.token_urlsafe(24)
    payload = {
        "client_id": client.client_id, "redirect_uri": request.redirect_uri,
        "code_challenge": request.code_challenge, "scopes": list(request.scopes), "nonce": request.nonce,
        "claims": request.claims, "account_id": auth.account_id, "auth_time": auth.auth_time, "acr": auth.acr,
        "amr": list(auth.amr), "sid": auth.sid, "grant_id": grant_id, "exp": provider.now() + provider.config.code_ttl,
        "extra": extra or {},
        "delegation_id": delegated.delegation_id if delegated else None,
        "principal_id": delegated.principal_id if delegated else None,
    }
    await put_json(provider.store, f"code:{key}", payload, provider.config.code_ttl)
    # Outlives the code: lets the token endpoint tell a replay (revoke the grant) from an unknown code.
    await put_json(provider.store, f"code_grant:{key}", {"grant_id": grant_id, "used": False},
                   max(600, provider.config.code_ttl * 10))
    provider.audit.record("oidc:code:issued", actor=auth.account_id, client_id=client.client_id,
                          grant_id=grant_id, acr=auth.acr, subject=delegated.principal_id if delegated else None,
                          delegation_id=delegated.delegation_id if delegated else None)
    params = {"code": code, "iss": provider.config.issuer}
    if request.state is not None:
        params["state"] = request.state
    return Redirect(request.redirect_uri, params, request.response_mode)
