"""`StampedCache`: database rows kept per process while a shared stamp in the ephemeral store is unchanged.

The read paths of tokens (introspection, userinfo, refresh, the delegation check) ask the database the same
question many times a second: is this grant, this delegation, still as it was? A kept answer counts only under the
stamp that was current when it was read. Every change through the owning service writes a new random stamp (in
Redis: shared by every process) once its transaction has committed, so a revocation takes effect at the next read
everywhere, at the cost of one store read instead of one database round trip.

- The stamp is read *before* the row: a change committed after the read comes with a newer stamp, so an old row
  is never kept under a new stamp.
- A change made inside a caller's open transaction (`Database.transaction` joins) renews the stamp when that
  transaction commits, before `transaction()` returns (`Database.when_committed`); renewing before the commit would
  let another process keep the old row under the new stamp.
- Changes made without the service (a hand-edited row, a restore) reach kept rows within `max_age` seconds.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from idp.db import Database, open_transaction
from idp.store import EphemeralStore

__all__ = ["StampedCache"]

V = TypeVar("V")
_STAMP_TTL = 7 * 86400


class StampedCache(Generic[V]):
    def __init__(self, store: EphemeralStore, name: str, *, max_age: float, max_items: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._key = f"{name}:stamp"
        self._max_age = max_age
        self._max_items = max_items
        self._clock = clock
        self._kept: dict[str, tuple[bytes, float, V]] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """The kept value while current, else `load()` (kept when found; a miss is never kept)."""
        if self._max_age <= 0:
            return await load()
        stamp = await self._store.get(self._key)
        if stamp is None:  # first use, or expired: start one (add: never overwrite a change's stamp)
            await self._store.add(self._key, secrets.token_bytes(16), _STAMP_TTL)
            stamp = await self._store.get(self._key)
        now = self._clock()
        kept = self._kept.get(key)
        if kept is not None and kept[0] == stamp and now - kept[1] < self._max_age:
            return kept[2]
        value = await load()
        if value is not None and stamp is not None:
            if len(self._kept) >= self._max_items:
                self._kept.clear()
            self._kept[key] = (stamp, now, value)
        return value

    async def changed(self) -> None:
        """What this cache keeps changed: stale in every process now, or when the open transaction commits."""
        outer = open_transaction()
        if outer is None:
            await self.committed()
        else:
            self.changed_after_commit(outer)

    def changed_after_commit(self, session: Any) -> None:
        """Stale everywhere once the `Database.transaction()` of `session` has committed, before it returns."""
        Database.when_committed(session, self.committed)

    async def committed(self) -> None:
        """A change has just committed: stale in this process at once, in the others once the stamp is renewed."""
        self._kept.clear()
        await self._renew()

    async def _renew(self) -> None:
        await self._store.put(self._key, secrets.token_bytes(16), _STAMP_TTL)
