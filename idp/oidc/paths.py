"""Every route path of the protocol surface, in one place: the router, discovery and the error handlers read
them from here, so an endpoint cannot be moved in one and forgotten in another."""

from __future__ import annotations

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/jwks"
AUTHORIZE = "/authorize"
TOKEN = "/token"
USERINFO = "/userinfo"
INTROSPECT = "/token/introspect"
REVOKE = "/token/revoke"
END_SESSION = "/session/end"

# Pages of an authorization request in progress (the login, consent and "act as" steps).
INTERACTION = "/interaction/{uid}"

# Endpoints whose callers are programs: errors answer JSON with an RFC error code, never an HTML page.
JSON_ENDPOINTS = frozenset({TOKEN, USERINFO, INTROSPECT, REVOKE})


def interaction(uid: str, step: str = "") -> str:
    """The address of an interaction page, e.g. `interaction(uid, "login")` → /interaction/{uid}/login."""
    base = f"/interaction/{uid}"
    return f"{base}/{step}" if step else base
