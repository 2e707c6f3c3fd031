"""What a recovery takes away: whoever lost a password or a device may have left it with someone else.

At the activation of a recovery code the password is replaced (the service does that); here we revoke the
rest: every grant of the account (its refresh tokens with it, so introspection and refresh stop at once), every
SSO session of the account (`end_account_sessions`), and the passkeys.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from idp.container import Container
from idp.grants.models import GrantRecord
from idp.oidc.sessions import end_account_sessions
from idp.passkeys.models import WebAuthnCredential

__all__ = ["Revoked", "revoke_credentials"]


@dataclass(frozen=True, slots=True)
class Revoked:
    grants: int
    passkeys: int


async def revoke_credentials(container: Container, account_id: str) -> Revoked:
    async with container.db.session() as session:
        rows = (await session.execute(
            select(GrantRecord.id, GrantRecord.revoked_at)
            .where(GrantRecord.account_id == account_id))).all()
    live = [grant_id for grant_id, revoked_at in rows if revoked_at is None]
    for grant_id in live:
        await container.grants.revoke(grant_id, "account_recovered")
    await end_account_sessions(container.provider, account_id)
    async with container.db.transaction() as session:
        result = await session.execute(delete(WebAuthnCredential).where(WebAuthnCredential.account_id == account_id))
    passkeys = int(getattr(result, "rowcount", 0) or 0)
    return Revoked(grants=len(live), passkeys=passkeys)
