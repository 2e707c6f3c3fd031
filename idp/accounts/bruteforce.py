"""Brute-force control for password sign-in (OWASP ASVS V6.3).

Counters are kept per *typed username* (existing or not, so a lockout reveals nothing) and per IP.
After `max_failures` failures on a username, each further try waits an exponentially growing delay capped
at 15 minutes: an attacker can slow a chosen person's password sign-in but never lock them out for good,
and the person can always use another factor (card, security key), which this does not touch.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from idp.store import EphemeralStore

WINDOW = 900.0
MAX_DELAY = 900.0


def _key(username: str) -> str:
    return hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


class BruteForceGuard:
    def __init__(self, store: EphemeralStore, *, max_failures: int = 5, ip_max_failures: int = 50) -> None:
        self._store = store
        self._max = max_failures
        self._ip_max = ip_max_failures

    async def check(self, username: str, ip: str) -> Verdict:
        ip_count = await self._store.get(f"bf:ip:{ip}")
        if ip_count is not None and int(ip_count) >= self._ip_max:
            return Verdict(False, int(await self._store.ttl(f"bf:ip:{ip}") or WINDOW))
        until = await self._store.get(f"bf:until:{_key(username)}")
        if until is not None:
            wait = float(until) - time.time()
            if wait > 0:
                return Verdict(False, int(wait) + 1)
        return Verdict(True)

    async def failed(self, username: str, ip: str) -> None:
        key = _key(username)
        count = await self._store.incr(f"bf:user:{key}", WINDOW)
        await self._store.incr(f"bf:ip:{ip}", WINDOW)
        if count >= self._max:
            delay = min(MAX_DELAY, 2.0 ** (count - self._max + 1))
            await self._store.put(f"bf:until:{key}", str(time.time() + delay).encode(), delay)

    async def succeeded(self, username: str) -> None:
        key = _key(username)
        await self._store.delete(f"bf:user:{key}")
        await self._store.delete(f"bf:until:{key}")
