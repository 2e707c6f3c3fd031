"""Cookie names, in one place.

The application code reads and sets the *logical* names below. When the issuer is https
(`Settings.secure_cookies`), the browser sees them with the `__Host-` prefix (RFC 6265bis §4.1.3.2): such a
cookie is only accepted when Secure, with Path=/ and no Domain, so a sibling domain cannot set or overwrite it
(cookie tossing). `idp.http.middleware.HostCookies` renames them on the wire both ways and ignores an
unprefixed cookie of the same name, which may have come from a sibling domain.

The per-interaction cookies (`mandat_ia_<uid>`) are scoped to their interaction's path and so cannot take the
prefix (it requires Path=/).
"""

from __future__ import annotations

__all__ = ["CSRF", "HOST_PREFIX", "LANG", "PREFIXED", "SESSION", "wire_name"]

SESSION = "mandat_session"  # the SSO session (HttpOnly, SameSite=Lax)
CSRF = "mandat_csrf"  # the double-submit CSRF cookie (HttpOnly, SameSite=Strict)
LANG = "mandat_lang"  # the language chosen with ?lang=
PREFIXED = frozenset({SESSION, CSRF, LANG})
HOST_PREFIX = "__Host-"


def wire_name(name: str, *, secure: bool) -> str:
    """The name the browser holds for a logical cookie name (tests and external drivers use this)."""
    return HOST_PREFIX + name if secure and name in PREFIXED else name
