"""The one module importing argon2-cffi: argon2id hashing for people's passwords, on a bounded pool of threads.

- **Parameters** come from the settings (`MANDAT_ARGON2_*`, chosen and explained in idp/settings.py). `verify`
  reads the parameters from the stored hash, so hashes made with older parameters keep verifying, and it says
  when one should be re-made (`check_needs_rehash`): login then re-hashes it.
- **Off the event loop, bounded.** A hash is ≈20 ms of one core at the defaults. It runs on a dedicated pool of
  `workers` threads (argon2-cffi releases the GIL), never on the event loop and never on the default executor
  that other work shares. At most `workers` hashes run at once; up to `queue` more wait their turn in arrival
  order (first come, first served), each for at most `max_wait` seconds. Beyond that the login is answered at
  once with `HashingBusy` (503 + Retry-After), so a burst of logins queues fairly instead of taking every core
  from token requests, and memory stays bounded (`workers` × the argon2 memory).
- A slot is released when its thread has finished, not when the waiting request gives up (a client that went
  away), so the bound holds for the threads themselves.
- **Memory given back.** glibc serves a large block from the heap once a block that size has been freed (its
  mmap threshold grows to match), and then keeps it: each hashing thread would hold its argon2 block (19 MiB)
  for good, +40-60 MB of RSS per process. A fixed threshold (`mallopt`) makes every block of 1 MiB or more an
  mmap returned when freed. Measured: RSS stays at its idle level under a login burst; a hash costs ≈24 ms of
  CPU instead of ≈16 ms (the pages are faulted in again), still ≥ 40 hashes/s per core.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import math
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from idp.errors import MandatError

__all__ = ["HashPool", "HashingBusy", "PasswordCheck", "Passwords"]

T = TypeVar("T")

# Defaults of the pool when a caller does not give its own (the settings' defaults, for tests and the CLI).
DEFAULT_QUEUE = 64
DEFAULT_MAX_WAIT = 3.0


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    ok: bool
    needs_rehash: bool = False


class HashingBusy(MandatError):
    """Too many password checks are waiting already: try again in `retry_after` seconds."""

    code = "hashing_busy"
    public = "Many people are signing in right now. Please try again in a few seconds."
    status = 503

    def __init__(self, retry_after: int, detail: str = "") -> None:
        super().__init__(detail or "password hashing pool is full")
        self.retry_after = retry_after


class HashPool:
    """Runs blocking hash calls on `workers` threads; a bounded first-in first-out queue in front of them."""

    def __init__(self, workers: int, *, queue: int = DEFAULT_QUEUE, max_wait: float = DEFAULT_MAX_WAIT) -> None:
        if workers < 1 or queue < 0 or max_wait < 0:
            raise ValueError("workers must be at least 1, queue and max_wait at least 0")
        self.workers = workers
        self.queue = queue
        self.max_wait = max_wait
        # What a refused caller is told: by then the queue in front of it has had time to drain.
        self.retry_after = max(1, math.ceil(max_wait))
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def running(self) -> int:
        """Hashes on a thread now (or handed a slot and about to start)."""
        return self._running

    @property
    def waiting(self) -> int:
        """Callers queued for a slot."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """`function(*args)` on a pool thread once a slot is free; `HashingBusy` if none frees up in time."""
        await self._acquire()
        loop = asyncio.get_running_loop()
        try:
            future = self._executor.submit(function, *args)
        except BaseException:
            self._release()
            raise
        # Released when the thread is done, even if the awaiting request was cancelled meanwhile.
        future.add_done_callback(lambda _done: loop.call_soon_threadsafe(self._release))
        return await asyncio.wrap_future(future)

    async def _acquire(self) -> None:
        if self._running < self.workers and not self.waiting:
            self._running += 1
            return
        if self.waiting >= self.queue:
            raise HashingBusy(self.retry_after, f"{self._running} hashing, {self.waiting} waiting (queue full)")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.max_wait)
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return  # the slot was handed over just as the wait ran out: use it
            waiter.cancel()
            raise HashingBusy(self.retry_after, f"waited {self.max_wait:g} s for a hashing slot") from None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot it will not use: pass it on
            else:
                waiter.cancel()
            raise
        finally:
            if waiter in self._waiters and waiter.done():
                self._waiters.remove(waiter)

    def _release(self) -> None:
        # Hand the slot straight to the longest waiter (so a newcomer cannot overtake it), else free it.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._running -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_MMAP_THRESHOLD = 1 << 20


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold at 1 MiB (module note). False where there is no glibc (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


class Passwords:
    def __init__(self, *, time_cost: int = 2, memory_kib: int = 19456, parallelism: int = 1,
                 workers: int | None = None, queue: int = DEFAULT_QUEUE, max_wait: float = DEFAULT_MAX_WAIT) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self.pool = HashPool(workers or os.cpu_count() or 1, queue=queue, max_wait=max_wait)
        if memory_kib * 1024 >= _MMAP_THRESHOLD:
            return_large_blocks()
        # Verified when the account does not exist, so both paths cost the same (no enumeration by timing).
        self._dummy = self._hasher.hash("mandat-dummy-password-for-timing")

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        """Raises `HashingBusy` when the pool is saturated."""
        return await self.pool.run(self._hasher.hash, password)

    def _verify(self, stored: str | None, password: str) -> PasswordCheck:
        try:
            self._hasher.verify(stored or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return PasswordCheck(False)
        if stored is None:
            return PasswordCheck(False)
        return PasswordCheck(True, self._hasher.check_needs_rehash(stored))

    async def verify(self, stored: str | None, password: str) -> PasswordCheck:
        """Raises `HashingBusy` when the pool is saturated (the same whether or not the account exists)."""
        return await self.pool.run(self._verify, stored, password)
