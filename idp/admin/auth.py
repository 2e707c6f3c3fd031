"""Who calls the admin API: an admin client, by the bearer access token it got from `client_credentials`.

- No token, a malformed one, a bad signature, an expired or revoked token, a token that is not the client's own
  (`sub` must be its `client_id`: a person's token never administers), or a client since disabled or removed:
  401 with `WWW-Authenticate: Bearer` (RFC 6750 §3: no error code when no token came, else `invalid_token`).
- A valid token without the route's scope: 403 naming the scope (`insufficient_scope`).

The client is read from the database on every call (not the token endpoint's cache), so disabling an admin
client or changing its structure takes effect at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from idp.admin.problems import Problem
from idp.container import Container
from idp.oidc.access import TokenRejected, validate_access_token

__all__ = ["ADMIN_SCOPES", "Caller", "authenticate"]

ADMIN_SCOPES = {
    "admin:clients": "Register, change, disable clients and rotate their secrets.",
    "admin:accounts": "Look up accounts, lock and unlock them, list credentials, end sessions.",
    "admin:delegations": "Create, list and revoke delegations (one structure's assistants for a "
                         "structure-scoped client).",
    "admin:audit": "Query and export the audit trail.",
    "admin:keys": "List and rotate the signing keys.",
}
REALM = 'Bearer realm="mandat-admin"'
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True, slots=True)
class Caller:
    client_id: str
    scopes: frozenset[str]
    admin_structure: str | None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return f"admin:{self.client_id}"


def _quoted(text: str) -> str:
    """RFC 6750 §3: error_description holds %x20-21 / %x23-5B / %x5D-7E only."""
    return "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in text)[:200]


def _unauthorized(detail: str, *, error: bool = True) -> Problem:
    challenge = REALM + (f', error="invalid_token", error_description="{_quoted(detail)}"' if error else "")
    return Problem("unauthorized", detail, headers={"www-authenticate": challenge})


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if header is None:
        raise _unauthorized("a bearer access token is required", error=False)
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("the Authorization header must be: Bearer <access token>")
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise _unauthorized("the access token is malformed")
    return token


async def authenticate(container: Container, request: Request, scope: str) -> Caller:
    token = _bearer(request)
    try:
        access = await validate_access_token(container.provider, token)
    except TokenRejected as exc:
        raise _unauthorized(f"the access token is refused: {exc.reason}") from None
    claims = access.claims
    client_id = claims.get("client_id")
    if not isinstance(client_id, str) or claims.get("sub") != client_id or access.grant is not None:
        raise _unauthorized("only a client's own token (client_credentials) can call the admin API")
    details = await container.clients.details(client_id)
    if details is None or not details.enabled:
        raise _unauthorized("the client of this token is disabled or removed")
    raw_scope = claims.get("scope")
    scopes = frozenset(raw_scope.split()) if isinstance(raw_scope, str) else frozenset()
    # The token's scopes, still held by the client now: removing a scope from a client takes effect at once.
    scopes &= details.client.scopes
    if scope not in scopes:
        raise Problem("forbidden", f"this route needs the {scope} scope", scope=scope, headers={
            "www-authenticate": f'{REALM}, error="insufficient_scope", scope="{scope}"'})
    return Caller(client_id, scopes, details.admin_structure)
