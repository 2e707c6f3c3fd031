"""The password hashing pool: bounded concurrency, a fair bounded queue, and 503 + Retry-After beyond it.

Threads are held busy with a `threading.Event` so every state is reached deterministically; nothing here
asserts a duration.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from idp.accounts.passwords import HashingBusy, HashPool, Passwords
from tests.conftest import PASSWORD, Env, form_field
from tests.unit.accounts.test_login import attempt, login_page


async def settle(condition: Callable[[], bool]) -> None:
    """Let the event loop run until `condition` holds (thread hand-offs need a few turns)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never held")


async def test_runs_at_most_workers_at_once_and_queues_the_rest_in_arrival_order() -> None:
    pool = HashPool(2, queue=10, max_wait=30)
    gate = threading.Event()
    finished: list[str] = []

    def job(name: str) -> str:
        gate.wait(10)
        finished.append(name)
        return name

    first = [asyncio.create_task(pool.run(job, name)) for name in ("a", "b")]
    await settle(lambda: pool.running == 2)
    queued = []
    for name in ("c", "d", "e"):
        queued.append(asyncio.create_task(pool.run(job, name)))
        await settle(lambda: pool.waiting == len(queued))
    assert pool.running == 2 and pool.waiting == 3
    gate.set()
    assert await asyncio.gather(*first, *queued) == ["a", "b", "c", "d", "e"]
    assert pool.running == 0 and pool.waiting == 0
    pool.shutdown()


async def test_waiters_get_the_slots_first_come_first_served() -> None:
    pool = HashPool(1, queue=10, max_wait=30)
    gates = {name: threading.Event() for name in "abcd"}
    started: list[str] = []

    def job(name: str) -> None:
        started.append(name)
        gates[name].wait(10)

    tasks = []
    for name in "abcd":
        tasks.append(asyncio.create_task(pool.run(job, name)))
        await settle(lambda: len(tasks) == pool.running + pool.waiting)
    for name in "abcd":
        await settle(lambda: started[-1:] == [name])
        gates[name].set()
    await asyncio.gather(*tasks)
    assert started == ["a", "b", "c", "d"]
    pool.shutdown()


async def test_a_full_queue_answers_busy_at_once_with_retry_after() -> None:
    pool = HashPool(1, queue=1, max_wait=30)
    gate = threading.Event()
    running = asyncio.create_task(pool.run(gate.wait, 10))
    await settle(lambda: pool.running == 1)
    waiting = asyncio.create_task(pool.run(lambda: "waited"))
    await settle(lambda: pool.waiting == 1)
    with pytest.raises(HashingBusy) as refused:
        await pool.run(lambda: "refused")
    assert refused.value.status == 503
    assert refused.value.retry_after == 30
    gate.set()
    assert await waiting == "waited"
    assert await running is True
    pool.shutdown()


async def test_a_waiter_gives_up_after_max_wait_and_leaves_the_queue() -> None:
    pool = HashPool(1, queue=5, max_wait=0.01)
    gate = threading.Event()
    running = asyncio.create_task(pool.run(gate.wait, 10))
    await settle(lambda: pool.running == 1)
    with pytest.raises(HashingBusy) as refused:
        await pool.run(lambda: "too late")
    assert refused.value.retry_after == 1  # max_wait rounded up to whole seconds, at least 1
    assert pool.waiting == 0
    gate.set()
    await running
    assert await pool.run(lambda: "free again") == "free again"
    assert pool.running == 0
    pool.shutdown()


async def test_a_cancelled_request_keeps_its_slot_until_its_thread_is_done() -> None:
    """The bound is on threads: a client that went away must not let a new hash start beside its own."""
    pool = HashPool(1, queue=5, max_wait=30)
    gate = threading.Event()
    abandoned = asyncio.create_task(pool.run(gate.wait, 10))
    await settle(lambda: pool.running == 1)
    abandoned.cancel()
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    assert pool.running == 1
    follower = asyncio.create_task(pool.run(lambda: "after"))
    await settle(lambda: pool.waiting == 1)
    gate.set()
    assert await follower == "after"
    assert pool.running == 0
    pool.shutdown()


async def test_a_cancelled_waiter_does_not_take_a_slot() -> None:
    pool = HashPool(1, queue=5, max_wait=30)
    gate = threading.Event()
    running = asyncio.create_task(pool.run(gate.wait, 10))
    await settle(lambda: pool.running == 1)
    waiter = asyncio.create_task(pool.run(lambda: "never"))
    await settle(lambda: pool.waiting == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert pool.waiting == 0
    gate.set()
    await running
    await settle(lambda: pool.running == 0)
    pool.shutdown()


def test_pool_sizes_are_checked() -> None:
    with pytest.raises(ValueError):
        HashPool(0)
    with pytest.raises(ValueError):
        HashPool(1, queue=-1)


async def test_old_hashes_still_verify_and_ask_for_a_rehash() -> None:
    old = Passwords(time_cost=3, memory_kib=2048, parallelism=2, workers=1)
    current = Passwords(time_cost=2, memory_kib=1024, parallelism=1, workers=1)
    stored = await old.hash(PASSWORD)
    check = await current.verify(stored, PASSWORD)
    assert check.ok and check.needs_rehash
    fresh = await current.hash(PASSWORD)
    again = await current.verify(fresh, PASSWORD)
    assert again.ok and not again.needs_rehash
    assert not (await current.verify(stored, "wrong")).ok


def test_default_parameters_are_owasps() -> None:
    passwords = Passwords()
    assert passwords.hash_sync(PASSWORD).startswith("$argon2id$v=19$m=19456,t=2,p=1$")


# --- on the sign-in page ---------------------------------------------------------------------------------------

async def saturate(env: Env) -> tuple[threading.Event, asyncio.Task[bool]]:
    """Give the app a one-thread pool with no queue, and hold its thread."""
    passwords = Passwords(time_cost=1, memory_kib=1024, parallelism=1, workers=1, queue=0, max_wait=2)
    env.container.accounts.passwords = passwords
    gate = threading.Event()
    holder = asyncio.create_task(passwords.pool.run(gate.wait, 10))
    await settle(lambda: passwords.pool.running == 1)
    return gate, holder


@pytest.mark.parametrize(("lang", "message"), [
    ("en", "Many people are signing in right now. Please try again in 2 seconds."),
    ("fr", "Beaucoup de personnes se connectent en ce moment. Réessayez dans 2 secondes."),
])
async def test_a_saturated_pool_answers_503_with_retry_after_in_the_persons_language(
        sqlite_env: Env, lang: str, message: str) -> None:
    env = sqlite_env
    await env.add_client()
    await env.add_account()
    location, csrf = await login_page(env)
    gate, holder = await saturate(env)
    try:
        response = await env.http.post(f"{location}/login?lang={lang}", data={
            "csrf_token": csrf, "username": "alice", "password": PASSWORD})
        unknown = await env.http.post(f"{location}/login?lang={lang}", data={
            "csrf_token": csrf, "username": "mallory", "password": PASSWORD})
    finally:
        gate.set()
        await holder
    assert response.status_code == unknown.status_code == 503
    assert response.headers["retry-after"] == unknown.headers["retry-after"] == "2"
    assert message in response.text.replace("&#39;", "'")
    assert "mandat_session" not in response.headers.get("set-cookie", "")
    # Nothing was checked, so nothing counts as a failure: the right password goes through once there is room.
    assert (await attempt(env, location, csrf, "alice", PASSWORD)).status_code == 303


async def test_account_login_page_answers_503_too(sqlite_env: Env) -> None:
    env = sqlite_env
    await env.add_account()
    page = await env.http.get("/account/login?lang=en")
    csrf = form_field(page.text, "csrf_token")
    gate, holder = await saturate(env)
    try:
        response = await env.http.post("/account/login", data={"csrf_token": csrf, "username": "alice",
                                                               "password": PASSWORD})
    finally:
        gate.set()
        await holder
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert "Many people are signing in right now" in response.text
