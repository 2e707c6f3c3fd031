"""Enrollment pages: request a mailed code (/enroll, /recover), activate (/activate), and the demo outbox.

**No oracle.** A well-formed request always ends in the same 303 to /enroll/requested, with no cookie set and
no body, whether or not a record matched; the service pads its duration. The refusals (a malformed field, a rate
limit, under-age) depend only on what was typed and on counters kept for every number, so they reveal nothing
either. /recover is the same form with words for a lost password or device: a request for a number that has an
account mails a recovery code, and activating it revokes the old credentials (see recovery.py).

**Demo outbox.** /demo/outbox lists the pending letters, codes included, so a newcomer can finish the flow
without a printer, and the delegation domain's messages (idp.delegation.pages.demo_outbox). The route exists only
in demo mode.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from idp.container import Container
from idp.delegation.pages import demo_outbox
from idp.domains import Domain
from idp.enrollment import activation_views
from idp.enrollment.claims import CLAIMS, SCOPES, enrollment_claims
from idp.enrollment.config import EnrollmentSettings
from idp.enrollment.errors import EnrollmentError, RateLimited, UnderAge
from idp.enrollment.forms import PageError, code_request, error_for, request_values
from idp.enrollment.http import form_expired, service_of, settings_of, translate_errors
from idp.enrollment.service import EnrollmentService
from idp.http.oauth_io import NO_STORE, client_ip
from idp.http.pages import check_csrf, container_of, locale_of, render
from idp.signin.methods import CITIZEN, SignInHelp

__all__ = ["domain"]


def domain(container: Container) -> Domain:
    settings = container.settings.domain(EnrollmentSettings.from_env)

    def observe(number: str, outcome: str) -> None:
        container.audit.record("enrollment:code:outcome", subject=number, outcome=outcome)

    service = EnrollmentService(
        container.db, container.store, settings, container.key("enrollment-codes"),
        hash_password=container.accounts.passwords.hash_sync, observe=observe)
    routes: list[BaseRoute] = [
        Route("/enroll", enroll_page, methods=["GET"]),
        Route("/enroll", enroll_submit, methods=["POST"]),
        Route("/recover", recover_page, methods=["GET"]),
        Route("/recover", recover_submit, methods=["POST"]),
        Route("/enroll/requested", requested_page, methods=["GET"]),
        *activation_views.routes(),
    ]
    if container.settings.demo:
        routes.append(Route("/demo/outbox", outbox_page, methods=["GET"]))
    return Domain(
        name="enrollment", routes=routes, scopes=SCOPES, claims=CLAIMS, claim_source=enrollment_claims,
        sign_in_help=(SignInHelp("enrollment/login_links.html", frozenset({CITIZEN}), order=90),),
        services=(service, settings))


# --- request a code -------------------------------------------------------------------------------------------

def _request_form(request: Request, mode: str, *, values: dict[str, str] | None = None,
                  errors: list[PageError] | None = None, status: int = 200) -> Response:
    locale = locale_of(request)
    return render(request, "enrollment/enroll.html", {
        "mode": mode, "action": "/recover" if mode == "recover" else "/enroll", "values": values or {},
        "errors": translate_errors(locale, errors or []),
    }, status=status, locale=locale)


async def enroll_page(request: Request) -> Response:
    return _request_form(request, "enrol")


async def recover_page(request: Request) -> Response:
    return _request_form(request, "recover")


async def enroll_submit(request: Request) -> Response:
    return await _submit(request, "enrol")


async def recover_submit(request: Request) -> Response:
    return await _submit(request, "recover")


async def _submit(request: Request, mode: str) -> Response:
    container = container_of(request)
    locale = locale_of(request)
    form = await request.form()
    if not await check_csrf(request, form, pre_session=True):
        return form_expired(request, locale)
    values = request_values(form)
    ip = client_ip(request)
    try:
        await service_of(request).request_code(code_request(values), ip)
    except RateLimited as error:
        container.audit.record("enrollment:code:rate_limited", ip=ip, detail=error.detail)
        minutes = max(1, int(error.retry_after + 59) // 60)
        response = _request_form(request, mode, values=values, status=429, errors=[PageError(
            "", "Too many requests from this connection or for this number. Wait {minutes} minute(s), then "
            "try again.", {"minutes": minutes})])
        response.headers["retry-after"] = str(int(error.retry_after))
        return response
    except UnderAge as error:
        container.audit.record("enrollment:code:under_age", ip=ip)
        return render(request, "enrollment/under_age.html", {"minimum_age": error.minimum_age}, status=403,
                      locale=locale)
    except EnrollmentError as error:
        container.audit.record("enrollment:code:refused", ip=ip, code=error.code, reason=getattr(error, "reason", None),
                               field=getattr(error, "field", None))
        return _request_form(request, mode, values=values, errors=[error_for(error)], status=400)
    # The same record whether or not a record matched; the outcome goes to the audit through `observe`.
    container.audit.record("enrollment:code:requested", ip=ip, mode=mode)
    return RedirectResponse("/enroll/requested", status_code=303, headers=NO_STORE)


async def requested_page(request: Request) -> Response:
    settings = settings_of(request)
    return render(request, "enrollment/requested.html", {
        "lifetime_days": settings.code_lifetime_days, "max_tries": settings.code_max_tries})


# --- demo outbox ----------------------------------------------------------------------------------------------

async def outbox_page(request: Request) -> Response:
    letters = await service_of(request).pending_letters()
    # Messages about delegations are shown here too (None when the delegation domain is off).
    notices = await demo_outbox(request)
    return render(request, "enrollment/outbox.html", {"letters": letters, "delegation_notices": notices})
