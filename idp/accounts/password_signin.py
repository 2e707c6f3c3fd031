"""Password sign-in, written once: the form check shared by the sign-in page of an authorization request and
/account/login. Either answer is the same whether the account exists or not (no enumeration); the brute-force
guard (bruteforce.py) throttles per typed username and per IP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from idp.accounts.models import Account
from idp.accounts.passwords import HashingBusy
from idp.http.oauth_io import client_ip
from idp.http.pages import container_of, gettext

__all__ = ["PasswordRefused", "check_password"]


@dataclass(frozen=True, slots=True)
class PasswordRefused:
    """Why the form did not sign anyone in, in the person's language, with the status to answer."""

    message: str
    status: int
    username: str
    retry_after: int = 0  # seconds, for a Retry-After header (503 while the hashing pool is full)


async def check_password(request: Request, form: Any, locale: str, *, client_id: str | None = None,
                         context: str | None = None) -> Account | PasswordRefused:
    container = container_of(request)
    ip = client_ip(request)
    username = str(form.get("username") or "").strip()[:200]
    password = str(form.get("password") or "")
    if not username or not password:
        return PasswordRefused(gettext(locale, "Enter your username and your password."), 400, username)
    try:
        result = await container.accounts.login_with_password(username, password, ip)
    except HashingBusy as busy:
        # A burst of logins beyond what the hashing pool may queue (idp/accounts/passwords.py): nothing was
        # checked, so this says nothing about the account; the person simply tries again in a moment.
        container.audit.count("accounts:login:busy", client_id=client_id)
        return PasswordRefused(gettext(
            locale, "Many people are signing in right now. Please try again in {seconds} seconds.",
            seconds=busy.retry_after), 503, username, busy.retry_after)
    if result.retry_after:
        container.audit.record("accounts:login:throttled", ip=ip, client_id=client_id, context=context)
        minutes = max(1, (result.retry_after + 59) // 60)
        return PasswordRefused(gettext(
            locale, "Too many attempts. Wait {minutes} minute(s), or sign in with your card or security key.",
            minutes=minutes), 429, username)
    if result.account is None:
        container.audit.record("accounts:login:failed", ip=ip, client_id=client_id, context=context)
        return PasswordRefused(gettext(
            locale, "The username or password is incorrect. Check them and try again."), 401, username)
    container.audit.record("accounts:login:succeeded", actor=result.account.id, ip=ip, client_id=client_id,
                           method="pwd", context=context)
    return result.account
