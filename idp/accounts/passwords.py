"""The one module importing argon2-cffi: argon2id hashing for people's passwords.

Hashing runs in a worker thread (≈100 ms at RFC 9106 low-memory defaults) so the event loop keeps serving.
`verify` reports when the stored hash uses old parameters, so login re-hashes it (`check_needs_rehash`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    ok: bool
    needs_rehash: bool = False


class Passwords:
    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        # Verified when the account does not exist, so both paths cost the same (no enumeration by timing).
        self._dummy = self._hasher.hash("mandat-dummy-password-for-timing")

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    def _verify(self, stored: str | None, password: str) -> PasswordCheck:
        try:
            self._hasher.verify(stored or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return PasswordCheck(False)
        if stored is None:
            return PasswordCheck(False)
        return PasswordCheck(True, self._hasher.check_needs_rehash(stored))

    async def verify(self, stored: str | None, password: str) -> PasswordCheck:
        return await asyncio.to_thread(self._verify, stored, password)
