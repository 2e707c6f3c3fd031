"""What the enrollment pages share: the service and settings of the running app, errors as the page shows them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from idp.enrollment.config import EnrollmentSettings
from idp.enrollment.forms import PageError
from idp.enrollment.service import EnrollmentService
from idp.http.pages import container_of, form_expired, gettext

__all__ = ["form_expired", "service_of", "settings_of", "translate_errors"]


def service_of(request: Request) -> EnrollmentService:
    return container_of(request).service(EnrollmentService)


def settings_of(request: Request) -> EnrollmentSettings:
    return container_of(request).service(EnrollmentSettings)


def translate_errors(locale: str, errors: list[PageError]) -> list[dict[str, Any]]:
    return [{"field": e.field, "text": gettext(locale, e.message, **e.values),
             "next": gettext(locale, e.next_step) if e.next_step else None, "new_code_link": e.new_code_link}
            for e in errors]
