"""One contract for every `EphemeralStore`: the in-process MemoryStore and RedisStore behave the same."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest

from idp.store import EphemeralStore, MemoryStore, RedisStore, get_json, put_json, take_json
from tests.conftest import REDIS_URL, port_open, unavailable

Factory = Callable[[], EphemeralStore]


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    """Builds stores that share one namespace (several processes, for Redis; one dict, for memory)."""
    made: list[EphemeralStore] = []
    if request.param == "memory":
        shared = MemoryStore()

        def factory() -> EphemeralStore:
            return shared
    else:
        parts = urlsplit(REDIS_URL)
        if not port_open(parts.hostname or "127.0.0.1", parts.port or 6379):
            unavailable(f"Redis is not reachable at {parts.hostname}:{parts.port}")
        prefix = f"test:store:{secrets.token_hex(6)}:"

        def factory() -> EphemeralStore:
            store = RedisStore(REDIS_URL, prefix=prefix)
            made.append(store)
            return store
    yield factory
    for store in made:
        await store.close()


@pytest.fixture
def store(make_store: Factory) -> EphemeralStore:
    return make_store()


async def test_put_then_get(store: EphemeralStore) -> None:
    await store.put("k", b"v1", 10)
    assert await store.get("k") == b"v1"
    await store.put("k", b"v2", 10)
    assert await store.get("k") == b"v2"
    assert await store.get("absent") is None


async def test_values_expire(store: EphemeralStore) -> None:
    await store.put("short", b"v", 0.15)
    await store.put("long", b"v", 10)
    ttl = await store.ttl("short")
    assert ttl is not None and 0 < ttl <= 0.15
    await asyncio.sleep(0.25)
    assert await store.get("short") is None
    assert await store.ttl("short") is None
    assert await store.take("short") is None
    assert await store.get("long") == b"v"


async def test_put_replaces_the_ttl(store: EphemeralStore) -> None:
    await store.put("k", b"v", 0.15)
    await store.put("k", b"v", 10)
    await asyncio.sleep(0.25)
    assert await store.get("k") == b"v"


async def test_ttl_must_be_positive(store: EphemeralStore) -> None:
    for ttl in (0, -1):
        with pytest.raises(ValueError, match="ttl must be positive"):
            await store.put("k", b"v", ttl)
        with pytest.raises(ValueError, match="ttl must be positive"):
            await store.add("k", b"v", ttl)
    assert await store.get("k") is None


async def test_add_only_when_absent(store: EphemeralStore) -> None:
    assert await store.add("jti", b"1", 0.15) is True
    assert await store.add("jti", b"2", 10) is False
    assert await store.get("jti") == b"1"
    await asyncio.sleep(0.25)
    assert await store.add("jti", b"3", 10) is True
    assert await store.get("jti") == b"3"


async def test_add_has_one_winner_under_concurrency(make_store: Factory) -> None:
    stores = [make_store() for _ in range(4)]
    results = await asyncio.gather(*(stores[i % 4].add("race", str(i).encode(), 10) for i in range(100)))
    assert results.count(True) == 1


async def test_take_is_single_use(store: EphemeralStore) -> None:
    await store.put("code", b"payload", 10)
    assert await store.take("code") == b"payload"
    assert await store.take("code") is None
    assert await store.get("code") is None


async def test_take_has_one_winner_under_concurrency(make_store: Factory) -> None:
    stores = [make_store() for _ in range(4)]
    await stores[0].put("code", b"payload", 10)
    results = await asyncio.gather(*(stores[i % 4].take("code") for i in range(100)))
    assert [r for r in results if r is not None] == [b"payload"]


async def test_incr_counts_in_a_fixed_window(store: EphemeralStore) -> None:
    assert [await store.incr("n", 0.3) for _ in range(3)] == [1, 2, 3]
    await asyncio.sleep(0.15)
    assert await store.incr("n", 0.3) == 4
    # The window started with the first increment; later ones do not extend it.
    ttl = await store.ttl("n")
    assert ttl is not None and ttl <= 0.16
    await asyncio.sleep(0.2)
    assert await store.incr("n", 0.3) == 1


async def test_incr_is_atomic(make_store: Factory) -> None:
    stores = [make_store() for _ in range(4)]
    results = await asyncio.gather(*(stores[i % 4].incr("n", 10) for i in range(100)))
    assert sorted(results) == list(range(1, 101))


async def test_delete(store: EphemeralStore) -> None:
    await store.put("k", b"v", 10)
    await store.delete("k")
    assert await store.get("k") is None
    await store.delete("k")  # absent: no error


async def test_json_helpers(store: EphemeralStore) -> None:
    await put_json(store, "j", {"a": [1, "é"]}, 10)
    assert await get_json(store, "j") == {"a": [1, "é"]}
    assert await take_json(store, "j") == {"a": [1, "é"]}
    assert await take_json(store, "j") is None


async def test_store_satisfies_the_protocol(store: EphemeralStore) -> None:
    assert isinstance(store, EphemeralStore)
