"""The object graph: built once by `create_app` (or the CLI) from settings. No module-level singletons."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from idp.accounts.bruteforce import BruteForceGuard
from idp.accounts.passwords import Passwords
from idp.accounts.service import AccountService
from idp.audit import AuditLog
from idp.clients.service import ClientRegistry
from idp.db import Database
from idp.grants.service import SqlGrantStore
from idp.oidc.keystore import KeyStore, derive_key, load_server_secret
from idp.oidc.provider import Provider, ProviderConfig, ProviderKeys
from idp.settings import Settings
from idp.store import EphemeralStore, MemoryStore, RedisStore

log = logging.getLogger("mandat")


@dataclass(slots=True)
class Container:
    settings: Settings
    db: Database
    store: EphemeralStore
    keystore: KeyStore
    server_secret: bytes
    audit: AuditLog
    clients: ClientRegistry
    grants: SqlGrantStore
    accounts: AccountService
    provider: Provider
    # Domain services registered by their packages (enrollment, cards, passkeys, ...).
    services: dict[str, Any] = field(default_factory=dict)

    def add_scopes(self, scopes: tuple[str, ...], claims: tuple[str, ...] = ()) -> None:
        """Let a domain package announce the scopes and claims it serves (discovery metadata)."""
        config = self.provider.config
        self.provider.config = replace(
            config, scopes_supported=tuple(dict.fromkeys(config.scopes_supported + scopes)),
            claims_supported=tuple(dict.fromkeys(config.claims_supported + claims)))

    def add_login_method(self, template: str, order: int = 50, **context: Any) -> None:
        """Offer a sign-in method on the login page; `template` is included inside the page."""
        self.services.setdefault("login_methods", []).append({"template": template, "order": order, **context})

    def key(self, purpose: str) -> bytes:
        return derive_key(self.server_secret, purpose)

    async def close(self) -> None:
        await self.audit.stop()
        await self.store.close()
        await self.db.dispose()


def build_store(settings: Settings) -> EphemeralStore:
    if settings.redis_url:
        return RedisStore(settings.redis_url)
    return MemoryStore()


def build_container(settings: Settings, *, store: EphemeralStore | None = None) -> Container:
    keys_dir = settings.keys_path
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = load_server_secret(keys_dir)
    keystore = KeyStore(keys_dir, max_token_ttl=settings.max_token_ttl)
    keystore.ensure_key()
    db = Database(settings.database_url)
    store = store or build_store(settings)
    audit = AuditLog(db)
    clients = ClientRegistry(db, derive_key(secret, "client-secret"), cache_seconds=settings.client_cache_seconds)
    grants = SqlGrantStore(db)
    passwords = Passwords(time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib,
                          parallelism=settings.argon2_parallelism)
    accounts = AccountService(db, passwords, BruteForceGuard(
        store, max_failures=settings.login_max_failures, ip_max_failures=settings.login_ip_max_failures))
    config = ProviderConfig(
        issuer=settings.issuer, code_ttl=settings.code_ttl, access_token_ttl=settings.access_token_ttl,
        id_token_ttl=settings.id_token_ttl, refresh_token_ttl=settings.refresh_token_ttl,
        grant_absolute_ttl=settings.grant_absolute_ttl, offline_grant_absolute_ttl=settings.offline_grant_absolute_ttl,
        interaction_ttl=settings.interaction_ttl, session_idle_ttl=settings.session_idle_ttl,
        session_absolute_ttl=settings.session_absolute_ttl,
        scopes_supported=("openid", "profile", "email", "offline_access"),
        claims_supported=("sub", "iss", "auth_time", "acr", "amr", "sid", "name", "given_name", "family_name",
                          "preferred_username", "gender", "birthdate", "locale", "updated_at", "email",
                          "email_verified"),
    )
    provider = Provider(
        config=config, clients=clients, grants=grants, consents=accounts, accounts=accounts, store=store,
        keystore=keystore, audit=audit,
        keys=ProviderKeys(client_secret=derive_key(secret, "client-secret"), pairwise=derive_key(secret, "pairwise"),
                          token_hash=derive_key(secret, "token-hash")),
    )
    return Container(settings=settings, db=db, store=store, keystore=keystore, server_secret=secret, audit=audit,
                     clients=clients, grants=grants, accounts=accounts, provider=provider)
