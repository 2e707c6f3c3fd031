"""The guess backoff: its schedule, its two scopes, and the allowance taken before the code is checked."""

from __future__ import annotations

import asyncio

import pytest

from idp.enrollment.config import EnrollmentSettings
from idp.enrollment.guessing import Backoff, GuessGuard, Verdict, source_of
from idp.store import MemoryStore

NUMBER = "LEFE90551712"
A, B = "198.51.100.66", "192.0.2.1"


class Ticks:
    """A monotonic clock for the memory store that the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def guard(store: MemoryStore, *, free: int = 5, ip_free: int = 20) -> GuessGuard:
    return GuessGuard(store, pair=Backoff(free, 15, 300), ip=Backoff(ip_free, 15, 300), window=3600)


def test_backoff_schedule() -> None:
    settings = EnrollmentSettings()
    backoff = Backoff(settings.guess_free_tries, settings.guess_first_delay_seconds, settings.guess_max_delay_seconds)
    assert [backoff.delay_before(n) for n in range(1, 13)] == [
        0, 0, 0, 0, 0, 15, 30, 60, 120, 240, 300, 300]
    assert backoff.delay_before(10**9) == 300  # no overflow, however long someone keeps going
    assert Backoff(20, 15, 300).delay_before(21) == 15


def test_window_shorter_than_the_longest_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        GuessGuard(MemoryStore(), pair=Backoff(5, 15, 300), ip=Backoff(20, 15, 300), window=60)


async def test_each_check_past_the_allowance_waits_twice_as_long() -> None:
    ticks = Ticks()
    g = guard(MemoryStore(clock=ticks))
    assert [await g.admit(NUMBER, A) for _ in range(5)] == [Verdict(True)] * 5
    waits = []
    for _ in range(7):
        refused = await g.admit(NUMBER, A)
        assert not refused.allowed
        waits.append(refused.retry_after)
        ticks.now += refused.retry_after
        assert (await g.admit(NUMBER, A)).allowed
    assert waits == [15, 30, 60, 120, 240, 300, 300]


async def test_retrying_early_does_not_lengthen_the_wait() -> None:
    ticks = Ticks()
    g = guard(MemoryStore(clock=ticks))
    for _ in range(5):
        await g.admit(NUMBER, A)
    for elapsed in range(10):
        ticks.now += 1
        assert await g.admit(NUMBER, A) == Verdict(False, 15 - elapsed - 1)
    ticks.now += 5
    assert (await g.admit(NUMBER, A)).allowed
    ticks.now += 30
    assert (await g.admit(NUMBER, A)).allowed  # the next wait was 30 s: the early retries did not count


async def test_another_connection_is_not_slowed_and_a_right_code_clears_the_pair() -> None:
    g = guard(MemoryStore())
    for _ in range(5):
        await g.admit(NUMBER, A)
    assert not (await g.admit(NUMBER, A)).allowed
    assert (await g.admit(NUMBER, B)).allowed  # the citizen, from home
    assert (await g.admit("OTHE90551712", A)).allowed  # A, for another number (its IP allowance is 20)
    await g.succeeded(NUMBER, A)
    assert (await g.admit(NUMBER, A)).allowed


async def test_one_address_cannot_spread_guesses_over_many_numbers() -> None:
    g = guard(MemoryStore(), ip_free=20)
    numbers = [f"NUMB{n:08d}" for n in range(25)]
    verdicts = [await g.admit(number, A) for number in numbers]
    assert [v.allowed for v in verdicts] == [True] * 20 + [False] * 5
    assert verdicts[-1].retry_after == 15
    assert (await g.admit(numbers[-1], B)).allowed


class InterleavingStore(MemoryStore):
    """A memory store that yields to other tasks before each operation, as a network store does."""

    async def ttl(self, key: str) -> float | None:
        await asyncio.sleep(0)
        return await super().ttl(key)

    async def incr(self, key: str, ttl: float) -> int:
        await asyncio.sleep(0)
        return await super().incr(key, ttl)

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        await asyncio.sleep(0)
        return await super().add(key, value, ttl)


async def test_a_burst_of_concurrent_guesses_gets_no_more_than_the_allowance() -> None:
    store = InterleavingStore()
    g = guard(store)
    verdicts = await asyncio.gather(*(g.admit(NUMBER, A) for _ in range(50)))
    assert sum(v.allowed for v in verdicts) == 5
    assert all(v.retry_after > 0 for v in verdicts if not v.allowed)


def test_an_ipv6_client_counts_as_its_64() -> None:
    assert source_of("2001:db8:1:2:aaaa::1") == source_of("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert source_of("2001:db8:1:3::1") != source_of("2001:db8:1:2::1")
    assert source_of("::ffff:192.0.2.1") == source_of("192.0.2.1") == "192.0.2.1"
    assert source_of("testclient") == "testclient"


async def test_rotating_ipv6_addresses_within_a_64_does_not_escape_the_wait() -> None:
    g = guard(MemoryStore())
    verdicts = [await g.admit(NUMBER, f"2001:db8:1:2::{n:x}") for n in range(8)]
    assert [v.allowed for v in verdicts] == [True] * 5 + [False] * 3
