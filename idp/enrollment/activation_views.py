"""/activate: the health insurance number, the mailed code and a new password open (or recover) the account.

On success the person is signed in at once through `finish_sign_in` (eidas1, amr `pwd`, as if they had just
typed the new password) and offered to add a passkey at /account/passkeys/new; the fresh mailed code lets that
session bind a key as a second factor for a few minutes (`idp.oidc.assurance.activation`). A recovery
first revokes the old credentials: grants and refresh tokens, SSO sessions, passkeys (the service has already
replaced the password).

Code checks are throttled by the service per client IP and per (number, IP), with an exponential backoff
(`idp.enrollment.guessing`), never by locking the mailed code: a source that guessed too much gets 429 with
Retry-After and the wait in words, while the citizen on their own connection can still activate.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from idp.enrollment.errors import EnrollmentError, RateLimited
from idp.enrollment.forms import ActivationForm, PageError, error_for
from idp.enrollment.http import form_expired, service_of, translate_errors
from idp.enrollment.interfaces import Activation
from idp.enrollment.passwords import MAX_LENGTH, MIN_LENGTH, strength_hint
from idp.enrollment.recovery import revoke_credentials
from idp.http.oauth_io import SESSION_COOKIE, client_ip
from idp.http.pages import check_csrf, container_of, locale_of, render
from idp.oidc import assurance
from idp.oidc.sessions import load_session
from idp.signin.finish import finish_sign_in

__all__ = ["routes"]

DONE = "/activate/done"


def routes() -> list[BaseRoute]:
    return [
        Route("/activate", activate_page, methods=["GET"]),
        Route("/activate", activate_submit, methods=["POST"]),
        Route(DONE, done_page, methods=["GET"]),
    ]


def _form(request: Request, *, number: str = "", errors: list[PageError] | None = None, status: int = 200,
          strength: str | None = None) -> Response:
    locale = locale_of(request)
    return render(request, "enrollment/activate.html", {
        "number": number, "errors": translate_errors(locale, errors or []), "min_length": MIN_LENGTH,
        "max_length": MAX_LENGTH, "strength": strength,
    }, status=status, locale=locale)


async def activate_page(request: Request) -> Response:
    return _form(request, number=request.query_params.get("number", "")[:40])


async def activate_submit(request: Request) -> Response:
    container = container_of(request)
    locale = locale_of(request)
    form = await request.form()
    if not await check_csrf(request, form, pre_session=True):
        return form_expired(request, locale)
    typed = ActivationForm.read(form)
    missing = typed.missing()
    if missing:
        return _form(request, number=typed.number, errors=missing, status=400)
    ip = client_ip(request)

    async def settle(activation: Activation) -> None:
        """Inside the activation's transaction: a recovery revokes what the lost password or device opened, and
        the audit event commits with the change it records (or neither does)."""
        account = activation.account
        if activation.recovered:
            revoked = await revoke_credentials(container, account.id)
            container.audit.record("enrollment:account:recovered", actor=account.id, ip=ip, grants=revoked.grants,
                                   passkeys=revoked.passkeys)
        else:
            container.audit.record("enrollment:account:activated", actor=account.id, ip=ip)

    try:
        activation = await service_of(request).activate(typed.number, typed.code, typed.password, ip=ip,
                                                        then=settle)
    except RateLimited as error:
        container.audit.record("enrollment:activation:rate_limited", ip=ip, retry_after=error.retry_after)
        minutes = max(1, (int(error.retry_after) + 59) // 60)
        response = _form(request, number=typed.number, status=429, errors=[PageError(
            "", "Too many codes were tried from this connection. Wait {minutes} minute(s), then try again.",
            {"minutes": minutes}, next_step="Waiting does not cancel the code in your letter.")])
        response.headers["retry-after"] = str(max(1, int(error.retry_after)))
        return response
    except EnrollmentError as error:
        container.audit.record("enrollment:activation:failed", ip=ip, code=error.code, detail=error.detail or None)
        strength = strength_hint(typed.password).level if error.code.startswith("password_") else None
        return _form(request, number=typed.number, errors=[error_for(error)], status=400, strength=strength)
    account = activation.account
    # The fresh mailed code proves the address on file: keys added in the next minutes count as a second factor.
    target = f"{DONE}?recovered=1" if activation.recovered else DONE
    return await finish_sign_in(request, account.id, assurance.activation(), next_page=target)


async def done_page(request: Request) -> Response:
    container = container_of(request)
    session = await load_session(container.provider, request.cookies.get(SESSION_COOKIE), touch=False)
    account = await container.accounts.get(session.authentication.account_id) if session else None
    return render(request, "enrollment/activated.html", {
        "account": account, "recovered": request.query_params.get("recovered") == "1"})
