"""What a recovery takes away: whoever lost a password or a device may have left it with someone else.

At the activation of a recovery code the password is replaced (the service does that); here we revoke the
rest: every grant of the account (its refresh tokens with it, so introspection and refresh stop at once), the
SSO sessions we can find, and the passkeys.

SSO sessions live in the ephemeral store keyed by a hash of their cookie, with no index by account. We find
them through the `sid` of the account's grants and the sessions opened by activations (remembered here), and
end them through the `sid:` index the session module keeps. A session opened by a password sign-in that never
led to a grant is not found; it dies at its idle timeout (a per-account session index in
`idp.oidc.sessions` would close that gap: asked of the lead).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import delete, select

from idp.container import Container
from idp.grants.models import GrantRecord
from idp.passkeys.models import WebAuthnCredential
from idp.store import get_json

__all__ = ["Revoked", "remember_session", "revoke_credentials"]


@dataclass(frozen=True, slots=True)
class Revoked:
    grants: int
    sessions: int
    passkeys: int


def _sessions_key(account_id: str) -> str:
    return f"enrol:sids:{account_id}"


async def remember_session(container: Container, account_id: str, sid: str) -> None:
    """Note a session opened at activation, so a later recovery can end it even if it never made a grant."""
    key = _sessions_key(account_id)
    known: list[str] = await get_json(container.store, key) or []
    known = [*known[-19:], sid]
    ttl = container.provider.config.session_absolute_ttl
    await container.store.put(key, json.dumps(known).encode(), ttl)


async def _end_session(container: Container, sid: str) -> bool:
    # The session module's layout: `sid:<sid>` → {"key": <hash of the cookie>}, `sess:<hash>` → the session.
    pointer = await get_json(container.store, f"sid:{sid}")
    await container.store.delete(f"sid:{sid}")
    if isinstance(pointer, dict) and isinstance(pointer.get("key"), str):
        await container.store.delete(f"sess:{pointer['key']}")
        return True
    return False


async def revoke_credentials(container: Container, account_id: str) -> Revoked:
    async with container.db.session() as session:
        rows = (await session.execute(
            select(GrantRecord.id, GrantRecord.sid, GrantRecord.revoked_at)
            .where(GrantRecord.account_id == account_id))).all()
    live = [grant_id for grant_id, _, revoked_at in rows if revoked_at is None]
    for grant_id in live:
        await container.grants.revoke(grant_id, "account_recovered")
    sids = {sid for _, sid, _ in rows if sid}
    sids.update(await get_json(container.store, _sessions_key(account_id)) or [])
    await container.store.delete(_sessions_key(account_id))
    ended = 0
    for sid in sorted(sids):
        ended += await _end_session(container, sid)
    async with container.db.transaction() as session:
        result = await session.execute(delete(WebAuthnCredential).where(WebAuthnCredential.account_id == account_id))
    passkeys = int(getattr(result, "rowcount", 0) or 0)
    return Revoked(grants=len(live), sessions=ended, passkeys=passkeys)
