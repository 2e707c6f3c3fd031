"""Ephemeral state: authorization codes, login transactions, SSO sessions, challenges, counters, replay caches.

`EphemeralStore` is the small protocol every caller depends on. `MemoryStore` is the embedded default for a
single process; `RedisStore` is the production implementation for any number of processes. Both pass the same
contract tests (tests/unit/test_store.py). Every key carries a TTL; single-use values are consumed atomically
(`take` is GETDEL on Redis, and a plain dict pop under the event loop in memory).
"""

from __future__ import annotations

import heapq
import json
import time
from typing import Any, Protocol, runtime_checkable

__all__ = ["EphemeralStore", "MemoryStore", "RedisStore", "get_json", "put_json", "take_json"]


@runtime_checkable
class EphemeralStore(Protocol):
    async def put(self, key: str, value: bytes, ttl: float) -> None:
        """Store `value` under `key` for `ttl` seconds, replacing any previous value."""

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store only if `key` is absent; True when stored. Used for replay caches (`jti`)."""

    async def get(self, key: str) -> bytes | None:
        """The live value, or None."""

    async def take(self, key: str) -> bytes | None:
        """Atomically read and delete: at most one caller ever gets the value (single-use items)."""

    async def delete(self, key: str) -> None:
        """Forget `key` if present."""

    async def incr(self, key: str, ttl: float) -> int:
        """Increment a counter; the TTL starts when the counter is created (fixed windows)."""

    async def ttl(self, key: str) -> float | None:
        """Seconds left for `key`, or None when absent."""

    async def close(self) -> None:
        """Release connections."""


class MemoryStore:
    """In-process store. Correct for one process only: `create_app` warns when used with several workers."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[str, tuple[float, bytes]] = {}
        self._expiry_heap: list[tuple[float, str]] = []

    def _live(self, key: str) -> tuple[float, bytes] | None:
        item = self._values.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._values[key]
            return None
        return item

    def _sweep(self) -> None:
        # Amortised expiry so memory stays bounded under load without a background task.
        now = self._clock()
        heap = self._expiry_heap
        for _ in range(64):
            if not heap or heap[0][0] > now:
                return
            _expires, key = heapq.heappop(heap)
            item = self._values.get(key)
            if item is not None and item[0] <= now:
                del self._values[key]

    def _set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        expires = self._clock() + ttl
        self._values[key] = (expires, value)
        heapq.heappush(self._expiry_heap, (expires, key))
        self._sweep()

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        self._set(key, value, ttl)

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        if self._live(key) is not None:
            return False
        self._set(key, value, ttl)
        return True

    async def get(self, key: str) -> bytes | None:
        item = self._live(key)
        return None if item is None else item[1]

    async def take(self, key: str) -> bytes | None:
        item = self._live(key)
        if item is None:
            return None
        del self._values[key]
        return item[1]

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def incr(self, key: str, ttl: float) -> int:
        item = self._live(key)
        if item is None:
            self._set(key, b"1", ttl)
            return 1
        count = int(item[1]) + 1
        self._values[key] = (item[0], str(count).encode())
        return count

    async def ttl(self, key: str) -> float | None:
        item = self._live(key)
        return None if item is None else item[0] - self._clock()

    async def close(self) -> None:
        self._values.clear()
        self._expiry_heap.clear()


class RedisStore:
    """Redis implementation (redis-py asyncio). Keys are namespaced by `prefix` so tests can share a server.

    Every Redis failure (refused, reset, timed out after `timeout` seconds) is raised as `StorageUnavailable`,
    which the application answers with 503 + Retry-After (`temporarily_unavailable` on protocol endpoints);
    the client reconnects on the next command once Redis is back.
    """

    # INCR then set the expiry only when the key is new: a fixed window that one Lua call makes atomic.
    _INCR_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""

    def __init__(self, url: str, prefix: str = "mandat:", *, timeout: float | None = None) -> None:
        from idp.redis_client import RedisError, connect, unavailable

        self._redis = connect(url, timeout=timeout)
        self._prefix = prefix
        self._incr = self._redis.register_script(self._INCR_SCRIPT)
        self._errors = RedisError
        self._unavailable = unavailable

    async def _call(self, command: Any) -> Any:
        try:
            return await command
        except self._errors as exc:
            raise self._unavailable(exc) from exc

    def _k(self, key: str) -> str:
        return self._prefix + key

    @staticmethod
    def _px(ttl: float) -> int:
        # Same contract as MemoryStore: a non-positive TTL is a caller bug, not a 1 ms value.
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        return max(1, int(ttl * 1000))

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        await self._call(self._redis.set(self._k(key), value, px=self._px(ttl)))

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self._call(self._redis.set(self._k(key), value, px=self._px(ttl), nx=True)))

    async def get(self, key: str) -> bytes | None:
        value = await self._call(self._redis.get(self._k(key)))
        return None if value is None else bytes(value)

    async def take(self, key: str) -> bytes | None:
        value = await self._call(self._redis.getdel(self._k(key)))
        return None if value is None else bytes(value)

    async def delete(self, key: str) -> None:
        await self._call(self._redis.delete(self._k(key)))

    async def incr(self, key: str, ttl: float) -> int:
        return int(await self._call(self._incr(keys=[self._k(key)], args=[max(1, int(ttl * 1000))])))

    async def ttl(self, key: str) -> float | None:
        ms = await self._call(self._redis.pttl(self._k(key)))
        return None if ms is None or ms < 0 else ms / 1000

    async def ping(self) -> bool:
        return bool(await self._call(self._redis.ping()))

    async def close(self) -> None:
        await self._redis.aclose()


async def put_json(store: EphemeralStore, key: str, value: Any, ttl: float) -> None:
    await store.put(key, json.dumps(value, separators=(",", ":")).encode(), ttl)


async def get_json(store: EphemeralStore, key: str) -> Any:
    raw = await store.get(key)
    return None if raw is None else json.loads(raw)


async def take_json(store: EphemeralStore, key: str) -> Any:
    raw = await store.take(key)
    return None if raw is None else json.loads(raw)
