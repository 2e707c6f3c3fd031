"""What a recovery takes away: whoever lost a password or a device may have left it with someone else.

At the activation of a recovery code the password is replaced (the service does that); here we revoke the
rest, each through its own service: every grant of the account (its refresh tokens with it, so introspection and
refresh stop at once), every SSO session of the account (`end_account_sessions`), and the passkeys.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp.container import Container
from idp.oidc.sessions import end_account_sessions
from idp.passkeys.service import PasskeyService

__all__ = ["Revoked", "revoke_credentials"]


@dataclass(frozen=True, slots=True)
class Revoked:
    grants: int
    passkeys: int


async def revoke_credentials(container: Container, account_id: str) -> Revoked:
    grants = await container.grants.revoke_for_account(account_id, "account_recovered")
    await end_account_sessions(container.provider, account_id)
    passkeys = 0
    if container.has_service(PasskeyService):
        passkeys = await container.service(PasskeyService).remove_all(account_id)
    return Revoked(grants=len(grants), passkeys=passkeys)
