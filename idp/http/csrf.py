"""CSRF protection for every form: signed double-submit (OWASP CSRF cheat sheet).

The browser holds a random `mandat_csrf` cookie (HttpOnly, SameSite=Strict); each form carries
HMAC(server key, cookie). A cross-site page can neither read the cookie nor forge the HMAC, and a cookie
planted by a sibling domain does not match a token it cannot compute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE = "mandat_csrf"
FIELD = "csrf_token"
# JSON calls from our own scripts (passkeys, card) send the same token in this header.
HEADER = "x-csrf-token"


def new_cookie_value() -> str:
    return secrets.token_urlsafe(24)


def token_for(key: bytes, cookie_value: str) -> str:
    return hmac.new(key, cookie_value.encode(), hashlib.sha256).hexdigest()


def is_valid(key: bytes, cookie_value: str | None, submitted: str | None) -> bool:
    if not cookie_value or not submitted or len(submitted) != 64:
        return False
    return hmac.compare_digest(token_for(key, cookie_value), submitted)
