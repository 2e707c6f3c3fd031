"""CSRF protection for every form: signed double-submit bound to the session (OWASP CSRF cheat sheet).

The browser holds a random CSRF cookie (`idp.http.cookies.CSRF`: HttpOnly, SameSite=Strict, `__Host-` over
https); each form (and each JSON call from our scripts, in the X-CSRF-Token header) carries

    HMAC(server key, len(cookie) ":" cookie "|" binding)

where `binding` is SHA-256 of the SSO session cookie's value when the browser has one, and empty before
sign-in. A cross-site page can neither read the cookie nor forge the HMAC; and a cookie/token pair minted in
another browser or session (an attacker's own visit, then the cookie planted in the victim's browser) does not
match the victim's session. The session token itself never enters the page: only a hash of it goes into the MAC.

Right after sign-in the browser holds a new session cookie, so the next page it loads carries tokens for it.
A form rendered before sign-in (login, activation, card and security-key sign-in) may be posted after a
sign-in in another tab: the endpoints that only sign in, and do nothing with the current session's authority,
also accept the token of the session-less binding (`pre_session=True`). Everything acting for a signed-in
person requires the token of the current session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from idp.http.cookies import CSRF as COOKIE

__all__ = ["COOKIE", "FIELD", "HEADER", "is_valid", "new_cookie_value", "session_binding", "token_for"]

FIELD = "csrf_token"
# JSON calls from our own scripts (passkeys, card) send the same token in this header.
HEADER = "x-csrf-token"


def new_cookie_value() -> str:
    return secrets.token_urlsafe(24)


def session_binding(session_token: str | None) -> str:
    """What the token is bound to: a hash of the SSO session cookie's value, or "" without one."""
    if not session_token:
        return ""
    return hashlib.sha256(b"mandat csrf session binding\0" + session_token.encode()).hexdigest()


def token_for(key: bytes, cookie_value: str, session_token: str | None = None) -> str:
    message = f"{len(cookie_value)}:{cookie_value}|{session_binding(session_token)}"
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def is_valid(key: bytes, cookie_value: str | None, submitted: str | None, session_token: str | None = None,
             *, pre_session: bool = False) -> bool:
    """Does `submitted` match this cookie and this session (or, with `pre_session`, no session)?"""
    if not cookie_value or not submitted or len(submitted) != 64:
        return False
    if hmac.compare_digest(token_for(key, cookie_value, session_token), submitted):
        return True
    return pre_session and bool(session_token) and hmac.compare_digest(token_for(key, cookie_value), submitted)
