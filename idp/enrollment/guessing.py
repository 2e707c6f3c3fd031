"""Backoff for mailed-code guesses: it slows the *source* of the guesses, never the citizen's code.

Locking a code after a few wrong tries would let anyone who knows a citizen's insurance number destroy the code
mailed to that citizen (and the next one) with a handful of random guesses. The code does not need that: it has
60 random bits (security_code.py), so what matters is how fast one source can guess, not how many guesses a code
has seen. Two scopes are throttled, both keyed by the client IP:

* (number, IP): `free` checks in a window, then each further check waits `first_delay`, doubling up to `max_delay`
  (default 5, then 15 s, 30 s, 1 min, 2 min, 4 min, then 5 min each);
* IP: the same with a larger `free` allowance (default 20), so one address cannot spread guesses over many numbers.

An IPv6 client counts as its /64: one subscriber usually holds a whole /64 and could otherwise take a fresh
address for every guess.

A source that keeps guessing gets one check per `max_delay` per scope, which the code's entropy makes hopeless;
a citizen on their own connection is never slowed by anyone else's guesses. The very high ceiling on wrong tries
per code (`code_max_tries`, enforced by the service on `SecurityCode.tries`) only bounds what a botnet could ever
try against one code.

Same shape as `idp.accounts.bruteforce`, with one difference: the allowance is taken *before* the code is checked,
atomically (INCR for the count, SET NX for the wait), so a burst of concurrent guesses cannot all pass a check
that has not counted them yet. Every check that reaches the database is counted, right or wrong; pure refusals
(malformed number, weak password, mistyped check symbol) are not. A right code clears the (number, IP) scope.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass

from idp.store import EphemeralStore

__all__ = ["Backoff", "GuessGuard", "Verdict", "source_of"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """An exponential schedule: after `free` checks in the window, check n waits first_delay·2^(n-free-1)."""

    free: int
    first_delay: float
    max_delay: float

    def delay_before(self, check: int) -> float:
        """Seconds that must separate the `check`-th check of the window (from 1) from the one before it."""
        if check <= self.free:
            return 0.0
        # Capped exponent: beyond 2^32 the cap has long been reached, and 2.0**huge would overflow.
        return min(self.max_delay, self.first_delay * 2.0 ** min(check - self.free - 1, 32))


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # whole seconds, for the Retry-After header


def source_of(ip: str) -> str:
    """The throttled source: the IPv4 address, or the /64 of an IPv6 one (anything unparsable, as given)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _pair(number: str, ip: str) -> str:
    # Hashed so the store holds no insurance numbers next to addresses.
    return hashlib.sha256(f"{number}\x00{ip}".encode()).hexdigest()[:32]


class GuessGuard:
    def __init__(self, store: EphemeralStore, *, pair: Backoff, ip: Backoff, window: float) -> None:
        if window < max(pair.max_delay, ip.max_delay):
            raise ValueError("the window must be at least as long as the longest delay")
        self._store = store
        self._scopes = {"pair": pair, "ip": ip}
        self._window = window

    def _keys(self, number: str, ip: str) -> list[tuple[str, Backoff]]:
        ip = source_of(ip)
        return [(f"enrol:guess:pair:{_pair(number, ip)}", self._scopes["pair"]),
                (f"enrol:guess:ip:{ip}", self._scopes["ip"])]

    async def _waiting(self, key: str) -> float:
        left = await self._store.ttl(f"{key}:wait")
        return left if left is not None and left > 0 else 0.0

    async def admit(self, number: str, ip: str) -> Verdict:
        """Take one check of `number` from `ip`, or say how long to wait. Call it just before checking the code."""
        keys = self._keys(number, ip)
        # A source still waiting is refused without counting, so retrying early does not lengthen the wait.
        waits = [await self._waiting(key) for key, _ in keys]
        if max(waits) > 0:
            return Verdict(False, math.ceil(max(waits)))
        for key, backoff in keys:
            count = await self._store.incr(f"{key}:count", self._window)
            delay = backoff.delay_before(count + 1)
            if delay <= 0:
                continue
            # The wait before the next check starts now. SET NX: of concurrent checks past the allowance, one wins.
            if not await self._store.add(f"{key}:wait", b"1", delay):
                return Verdict(False, max(1, math.ceil(await self._waiting(key))))
        return Verdict(True)

    async def succeeded(self, number: str, ip: str) -> None:
        """The right code: this number needs no more checks from this IP (the IP scope keeps counting)."""
        key, _ = self._keys(number, ip)[0]
        await self._store.delete(f"{key}:count")
        await self._store.delete(f"{key}:wait")
