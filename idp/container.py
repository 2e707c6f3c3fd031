"""The object graph: built once by `create_app` (or the CLI) from settings. No module-level singletons."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

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

if TYPE_CHECKING:
    from idp.domains import AccountSection, Domain, InteractionStep, Job, StepUp
    from idp.signin.methods import SignInHelp, SignInMethod

log = logging.getLogger("mandat")

T = TypeVar("T")


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
    # What the registered domains contribute (see idp/domains.py); filled by `register`, read by the pages.
    domains: list[Domain] = field(default_factory=list)
    sign_in_methods: list[SignInMethod] = field(default_factory=list)
    sign_in_help: list[SignInHelp] = field(default_factory=list)
    step_ups: list[StepUp] = field(default_factory=list)
    interaction_steps: list[InteractionStep] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    account_sections: list[AccountSection] = field(default_factory=list)
    _services: dict[type, object] = field(default_factory=dict)
    discovery_document: dict[str, Any] | None = None

    def register(self, domain: Domain) -> None:
        """Take in what one domain contributes. Services are keyed by their own type."""
        self.domains.append(domain)
        config = self.provider.config
        self.provider.config = replace(
            config, scopes_supported=tuple(dict.fromkeys(config.scopes_supported + domain.scopes)),
            claims_supported=tuple(dict.fromkeys(config.claims_supported + domain.claims)))
        if domain.claim_source is not None:
            self.accounts.claim_sources.append(domain.claim_source)
        self.sign_in_methods.extend(domain.sign_in_methods)
        self.sign_in_help.extend(domain.sign_in_help)
        self.step_ups.extend(domain.step_ups)
        self.interaction_steps.extend(domain.interaction_steps)
        self.jobs.extend(domain.jobs)
        self.account_sections.extend(domain.account_sections)
        for service in domain.services:
            self.provide(service)

    def provide(self, service: object) -> None:
        """Register (or, in a test, replace) the service of its own type."""
        self._services[type(service)] = service

    def service(self, kind: type[T]) -> T:
        """The registered service of this type; a missing one is a wiring bug, said plainly."""
        found = self._services.get(kind)
        if not isinstance(found, kind):
            raise LookupError(f"no {kind.__name__} registered: is its domain switched off?")
        return found

    def has_service(self, kind: type) -> bool:
        return kind in self._services

    def key(self, purpose: str) -> bytes:
        return derive_key(self.server_secret, purpose)

    async def close(self) -> None:
        await self.audit.stop()
        await self.store.close()
        await self.db.dispose()


def build_store(settings: Settings) -> EphemeralStore:
    if settings.redis_url:
        return RedisStore(settings.redis_url, timeout=settings.store_timeout)
    return MemoryStore()


def build_container(settings: Settings, *, store: EphemeralStore | None = None) -> Container:
    keys_dir = settings.keys_path
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = load_server_secret(keys_dir)
    keystore = KeyStore(keys_dir, max_token_ttl=settings.max_token_ttl, reload_seconds=settings.keys_reload_seconds)
    keystore.ensure_key()
    db = Database(settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
                  connect_timeout=settings.db_connect_timeout)
    store = store or build_store(settings)
    audit = AuditLog(db)
    clients = ClientRegistry(db, derive_key(secret, "client-secret"), cache_seconds=settings.client_cache_seconds)
    grants = SqlGrantStore(db, store, keep_seconds=settings.grant_keep_seconds)
    passwords = Passwords(time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib,
                          parallelism=settings.argon2_parallelism, workers=settings.password_hash_workers or None,
                          queue=settings.password_hash_queue, max_wait=settings.password_hash_max_wait_ms / 1000)
    accounts = AccountService(db, passwords, BruteForceGuard(
        store, max_failures=settings.login_max_failures, ip_max_failures=settings.login_ip_max_failures),
        store=store, keep_seconds=settings.account_keep_seconds)
    config = ProviderConfig(
        issuer=settings.issuer, code_ttl=settings.code_ttl, access_token_ttl=settings.access_token_ttl,
        id_token_ttl=settings.id_token_ttl, refresh_token_ttl=settings.refresh_token_ttl,
        grant_absolute_ttl=settings.grant_absolute_ttl, offline_grant_absolute_ttl=settings.offline_grant_absolute_ttl,
        interaction_ttl=settings.interaction_ttl, session_idle_ttl=settings.session_idle_ttl,
        session_absolute_ttl=settings.session_absolute_ttl, binding_max_age=settings.binding_max_age,
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
