"""Accounts: creation, password sign-in, claims for tokens, remembered consent.

Implements `idp.oidc.interfaces.AccountStore` and `ConsentStore`. Other domains contribute claims through
`ClaimSource`s (enrollment: identity pivot, insurance number, verified_claims; cards: PSC claims).
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from idp.accounts.bruteforce import BruteForceGuard
from idp.accounts.models import Account, Consent
from idp.accounts.passwords import HashingBusy, Passwords
from idp.db import Database, utcnow
from idp.errors import MandatError
from idp.oidc.models import Client
from idp.stamped import StampedCache
from idp.store import EphemeralStore

# Standard claims per scope (OIDC Core §5.4).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "given_name", "family_name", "preferred_username", "gender", "birthdate", "locale",
                "updated_at"),
    "email": ("email", "email_verified"),
}

class ClaimSource(Protocol):
    """A domain's claims: `(account, scopes, requested claim names, client, amr=...)`."""

    def __call__(self, account: Account, scopes: frozenset[str], requested: frozenset[str], client: Client, *,
                 amr: tuple[str, ...]) -> Awaitable[dict[str, Any]]: ...


class AccountError(MandatError):
    pass


class UnknownAccount(AccountError):
    code = "unknown_account"
    public = "No account has this id."
    status = 404


class AccountStateConflict(AccountError):
    """The account is not in the state the change starts from (locking a locked account…)."""

    code = "account_state"
    status = 409


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True, slots=True)
class LoginResult:
    account: Account | None
    retry_after: int = 0

    @property
    def ok(self) -> bool:
        return self.account is not None


def standard_claims(account: Account) -> dict[str, Any]:
    names = " ".join(n for n in (account.given_name, account.family_name) if n)
    values: dict[str, Any] = {
        "name": names or None, "given_name": account.given_name, "family_name": account.family_name,
        "preferred_username": account.username, "gender": account.gender,
        "birthdate": account.birthdate.isoformat() if account.birthdate else None, "locale": account.locale,
        "updated_at": int(account.updated_at.timestamp()) if account.updated_at else None,
        "email": account.email, "email_verified": account.email_verified if account.email else None,
    }
    return {k: v for k, v in values.items() if v is not None}


class AccountService:
    """Accounts, consents and password sign-in.

    `is_active` and `claims` (every refresh, userinfo and ID token) read the account through a per-process copy
    kept under the account stamp (idp/stamped.py) when a store is given: any transaction that writes the accounts
    table renews the stamp once committed (`Database.after_commit`), so a lock or a changed name is seen at the
    next read in every process; `keep_seconds` bounds changes made outside Mandat. The kept copy is detached and
    shared: only those two read it, never to change it. `get` always reads the database.
    """

    def __init__(self, db: Database, passwords: Passwords, guard: BruteForceGuard, *,
                 store: EphemeralStore | None = None, keep_seconds: float = 5.0) -> None:
        self._db = db
        self.passwords = passwords
        self.guard = guard
        self.claim_sources: list[ClaimSource] = []
        self._kept: StampedCache[Account] | None = None
        if store is not None and keep_seconds > 0:
            self._kept = StampedCache(store, "account", max_age=keep_seconds)
            db.after_commit.append(self._written)

    async def _written(self, tables: frozenset[str]) -> None:
        if self._kept is not None and Account.__tablename__ in tables:
            await self._kept.committed()

    async def _read(self, account_id: str) -> Account | None:
        """The account for reading only (see the class docstring)."""
        if self._kept is None:
            return await self.get(account_id)
        return await self._kept.get(account_id, lambda: self.get(account_id))

    # --- AccountStore -------------------------------------------------------------------------------------
    async def is_active(self, account_id: str) -> bool:
        account = await self._read(account_id)
        return account is not None and account.status == "active"

    async def get(self, account_id: str) -> Account | None:
        async with self._db.session() as session:
            return await session.get(Account, account_id)

    async def by_username(self, username: str) -> Account | None:
        async with self._db.session() as session:
            return (await session.scalars(select(Account).where(Account.username == username.strip()))).first()

    async def claims(self, account_id: str, scopes: frozenset[str], requested: frozenset[str],
                     client: Client, *, amr: tuple[str, ...] = ()) -> dict[str, Any]:
        account = await self._read(account_id)
        if account is None:
            return {}
        wanted = set(requested)
        for scope in scopes:
            wanted.update(SCOPE_CLAIMS.get(scope, ()))
        available = standard_claims(account)
        result = {k: v for k, v in available.items() if k in wanted}
        for source in self.claim_sources:
            result.update(await source(account, scopes, requested, client, amr=amr))
        return result

    # --- ConsentStore ----------------------------------------------------------------------------------------
    async def granted_scopes(self, account_id: str, client_id: str) -> frozenset[str]:
        async with self._db.session() as session:
            rows = await session.scalars(select(Consent.scope).where(
                Consent.account_id == account_id, Consent.client_id == client_id))
            return frozenset(rows.all())

    async def remember(self, account_id: str, client_id: str, scopes: Iterable[str]) -> None:
        """Insert one row per scope, ignoring those already granted (idempotent, race-free)."""
        rows = [{"account_id": account_id, "client_id": client_id, "scope": scope, "granted_at": utcnow()}
                for scope in sorted(set(scopes))]
        if not rows:
            return
        dialect_insert = sqlite_insert if self._db.is_sqlite else postgresql_insert
        statement = dialect_insert(Consent).on_conflict_do_nothing(
            index_elements=["account_id", "client_id", "scope"])
        async with self._db.transaction() as session:
            await session.execute(statement, rows)

    # --- accounts -----------------------------------------------------------------------------------------------
    async def create(self, *, username: str, password: str | None, kind: str = "citizen",
                     given_name: str | None = None, family_name: str | None = None, email: str | None = None,
                     birthdate: date | None = None, gender: str | None = None,
                     national_id: str | None = None, identity: dict[str, Any] | None = None) -> Account:
        username = username.strip()
        if not username or len(username) > 200:
            raise AccountError("username must be 1-200 characters")
        if await self.by_username(username) is not None:
            raise AccountError(f"an account named {username!r} already exists")
        account = Account(username=username, kind=kind, given_name=given_name, family_name=family_name,
                          email=email, email_verified=email is not None, birthdate=birthdate, gender=gender,
                          national_id=national_id, identity=identity,
                          password_hash=await self.passwords.hash(password) if password else None)
        async with self._db.transaction() as session:
            session.add(account)
        return account

    async def login_with_password(self, username: str, password: str, ip: str) -> LoginResult:
        """Same answer, same cost, whether or not the account exists (no enumeration)."""
        verdict = await self.guard.check(username, ip)
        if not verdict.allowed:
            return LoginResult(None, verdict.retry_after)
        account = await self.by_username(username) if len(username) <= 200 else None
        stored = account.password_hash if account is not None and account.status == "active" else None
        check = await self.passwords.verify(stored, password[:1024])
        if not check.ok or account is None:
            await self.guard.failed(username, ip)
            return LoginResult(None)
        await self.guard.succeeded(username)
        if check.needs_rehash:
            try:
                new_hash = await self.passwords.hash(password)
            except HashingBusy:
                return LoginResult(account)  # signed in all the same; the next login re-hashes
            async with self._db.transaction() as session:
                fresh = await session.get(Account, account.id)
                if fresh is not None:
                    fresh.password_hash = new_hash
        return LoginResult(account)

    # --- administration (the admin API and the CLI) ---------------------------------------------------------
    async def search(self, q: str | None, *, after: tuple[datetime, str] | None = None,
                     limit: int = 50) -> list[Account]:
        """Accounts whose username, national id or insurance number is `q` (spaces ignored), or whose names
        contain every word of `q`; all accounts when `q` is empty. Ordered by (created_at, id), starting after
        `after`: keyset pagination, stable while accounts are added."""
        query = select(Account).order_by(Account.created_at, Account.id).limit(limit)
        words = (q or "").split()
        if words:
            compact = "".join(words)
            every_word = and_(*(or_(Account.given_name.ilike(_like(w), escape="\\"),
                                    Account.family_name.ilike(_like(w), escape="\\"),
                                    Account.username.ilike(_like(w), escape="\\")) for w in words))
            query = query.where(or_(Account.username == compact, Account.national_id == compact, every_word))
        if after is not None:
            created_at, account_id = after
            query = query.where(or_(Account.created_at > created_at,
                                    and_(Account.created_at == created_at, Account.id > account_id)))
        async with self._db.session() as session:
            return list((await session.scalars(query)).all())

    async def lock(self, account_id: str) -> Account:
        """An active account can no longer sign in, refresh or be acted for. The caller ends its sessions and
        grants (idp.admin.operations does both)."""
        return await self._move(account_id, "active", "locked")

    async def unlock(self, account_id: str) -> Account:
        """A locked account is active again, and its password brute-force throttle is cleared."""
        account = await self._move(account_id, "locked", "active")
        await self.guard.succeeded(account.username)
        return account

    async def _move(self, account_id: str, start: str, end: str) -> Account:
        async with self._db.transaction() as session:
            account = await session.get(Account, account_id, with_for_update=True)
            if account is None:
                raise UnknownAccount(account_id)
            if account.status != start:
                raise AccountStateConflict(f"account {account_id} is {account.status}, not {start}",
                                           public=f"This account is {account.status}.")
            account.status = end
            account.updated_at = utcnow()
        return account
