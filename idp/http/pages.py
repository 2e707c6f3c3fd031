"""Server-rendered pages: Jinja2 rendering in the person's language, with the CSRF cookie and token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from idp.container import Container
from idp.http import cookies, csrf
from idp.http.i18n import LOCALES, pick_locale, translations

TEMPLATES = Path(__file__).parent / "templates"
# Domain packages keep their own templates (idp/<domain>/templates); ours come first.
TEMPLATE_DIRS = [TEMPLATES, *sorted(p for p in Path(__file__).parent.parent.glob("*/templates") if p != TEMPLATES)]
# Logical names (idp/http/cookies.py); over https the browser holds them with the __Host- prefix.
LANG_COOKIE = cookies.LANG
SESSION_COOKIE = cookies.SESSION

_env = Environment(loader=FileSystemLoader(TEMPLATE_DIRS), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def locale_of(request: Request, ui_locales: tuple[str, ...] = ()) -> str:
    forced = request.query_params.get("lang")
    if forced in LOCALES:
        return forced
    return pick_locale(ui_locales=ui_locales, cookie=request.cookies.get(LANG_COOKIE),
                       accept_language=request.headers.get("accept-language"),
                       default=container_of(request).settings.default_locale)


def gettext(locale: str, message: str, **values: Any) -> str:
    text = translations(locale).gettext(message)
    return text.format(**values) if values else text


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200,
           locale: str | None = None, ui_locales: tuple[str, ...] = ()) -> HTMLResponse:
    container = container_of(request)
    locale = locale or locale_of(request, ui_locales)
    cookie_value = request.cookies.get(csrf.COOKIE) or csrf.new_cookie_value()
    session_token = _session_for_csrf(request)
    trans = translations(locale)

    def _(message: str, **values: Any) -> str:
        text = trans.gettext(message)
        return text.format(**values) if values else text

    other = "en" if locale == "fr" else "fr"
    body = _env.get_template(template).render(
        _=_, locale=locale, other_locale=other, path=request.url.path,
        csrf_token=csrf.token_for(container.key("csrf"), cookie_value, session_token),
        demo=container.settings.demo,
        # Whom the signed-in person acts for (set by `idp.accounts.views.signed_in`): base.html shows a banner.
        acting=getattr(request.state, "acting", None), **(context or {}))
    response = HTMLResponse(body, status_code=status)
    response.headers["cache-control"] = "no-store"
    response.headers["content-language"] = locale
    secure = container.settings.secure_cookies
    if request.cookies.get(csrf.COOKIE) != cookie_value:
        response.set_cookie(csrf.COOKIE, cookie_value, httponly=True, secure=secure, samesite="strict", path="/")
    if request.query_params.get("lang") in LOCALES:
        response.set_cookie(LANG_COOKIE, locale, max_age=31536000, secure=secure, samesite="lax", path="/")
    return response


def _session_for_csrf(request: Request) -> str | None:
    """The SSO session cookie CSRF tokens are bound to: one set earlier in this request wins (see
    `set_session_cookie`), else the one the browser sent."""
    fresh: str | None = getattr(request.state, "csrf_session", None)
    return fresh if fresh is not None else request.cookies.get(SESSION_COOKIE)


async def check_csrf(request: Request, form: Any, *, pre_session: bool = False) -> bool:
    """The form's token matches the CSRF cookie and the current SSO session.

    `pre_session=True` for forms that only sign in (or otherwise act without the session's authority) and may
    have been rendered before a sign-in in another tab: the session-less token is accepted too.
    """
    container = container_of(request)
    return csrf.is_valid(container.key("csrf"), request.cookies.get(csrf.COOKIE), form.get(csrf.FIELD),
                         request.cookies.get(SESSION_COOKIE), pre_session=pre_session)


def check_csrf_header(request: Request, *, pre_session: bool = False) -> bool:
    """CSRF for JSON calls made by our pages' scripts: the token travels in the X-CSRF-Token header."""
    container = container_of(request)
    return csrf.is_valid(container.key("csrf"), request.cookies.get(csrf.COOKIE), request.headers.get(csrf.HEADER),
                         request.cookies.get(SESSION_COOKIE), pre_session=pre_session)


def form_expired(request: Request, locale: str) -> Response:
    """A form whose CSRF token does not match: say what happened and what to do, and change nothing."""
    return error_page(request, gettext(locale, "The form expired"),
                      gettext(locale, "For your security, forms are valid for one visit only."),
                      next_step=gettext(locale, "Go back, reload the page and try again."), status=403, locale=locale)


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """The SSO session cookie: HttpOnly, SameSite=Lax, Secure outside localhost (and `__Host-` there).

    A page rendered later in this same request binds its CSRF tokens to the new session."""
    request.state.csrf_session = token
    response.set_cookie(SESSION_COOKIE, token, httponly=True, secure=container_of(request).settings.secure_cookies,
                        samesite="lax", path="/")


def error_page(request: Request, title: str, message: str, *, status: int = 400, next_step: str | None = None,
               locale: str | None = None) -> Response:
    return render(request, "error.html", {"title": title, "message": message, "next_step": next_step},
                  status=status, locale=locale)
