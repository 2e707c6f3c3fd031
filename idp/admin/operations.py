"""Administrative changes, one code path for the admin API and the `python -m idp` commands: each calls the
domain service that owns the data (ClientRegistry, AccountService, DelegationService, KeyStore) and records an
`admin:<resource>:<action>` audit event naming who (`admin:<client_id>`, or `admin:cli:<user>` from the CLI)
and why. Delegation changes are also audited by the delegation service itself (`delegation:*`, same actor).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from idp.accounts.models import Account
from idp.clients.service import ClientDetails, NewClient, UpdatedClient
from idp.container import Container
from idp.delegation.interfaces import Actor, DelegationRequest, DelegationView
from idp.delegation.service import DelegationService
from idp.oidc.keystore import StoredKey
from idp.oidc.sessions import end_account_sessions

__all__ = ["AdminOperations", "By", "delegation_service"]


@dataclass(frozen=True, slots=True)
class By:
    """Who asks and why. `name` is the admin client id (API) or `cli:<user>` (CLI)."""

    name: str
    reason: str | None = None

    @property
    def actor(self) -> str:
        return f"admin:{self.name}"

    @property
    def client_id(self) -> str | None:
        return None if self.name.startswith("cli:") else self.name


def delegation_service(container: Container) -> DelegationService:
    """The delegation domain's service; built here when that domain is not registered (the CLI, a trimmed app)."""
    if not container.has_service(DelegationService):
        from idp.delegation.config import DelegationSettings

        container.provide(DelegationService(container.db, container.store, container.audit,
                                            container.settings.domain(DelegationSettings.from_env)))
    return container.service(DelegationService)


class AdminOperations:
    def __init__(self, container: Container) -> None:
        self._c = container

    def _audit(self, tag: str, by: By, *, subject: str | None, **detail: Any) -> None:
        self._c.audit.record(tag, actor=by.actor, subject=subject, client_id=by.client_id, reason=by.reason,
                             **detail)

    # --- clients ----------------------------------------------------------------------------------------------

    async def create_client(self, by: By, **registration: Any) -> NewClient:
        created = await self._c.clients.register(**registration)
        client = created.client
        self._audit("admin:client:created", by, subject=client.client_id, auth_method=client.auth_method,
                    scopes=sorted(client.scopes), grant_types=sorted(client.grant_types),
                    admin_structure=registration.get("admin_structure"))
        return created

    async def update_client(self, by: By, client_id: str, changes: Mapping[str, Any]) -> UpdatedClient:
        updated = await self._c.clients.update(client_id, changes)
        self._audit("admin:client:updated", by, subject=client_id, changed=sorted(changes),
                    secret_generated=True if updated.secret else None)
        return updated

    async def rotate_client_secret(self, by: By, client_id: str) -> str:
        secret = await self._c.clients.rotate_secret(client_id)
        self._audit("admin:client:secret_rotated", by, subject=client_id)
        return secret

    async def disable_client(self, by: By, client_id: str) -> ClientDetails:
        details = await self._c.clients.disable(client_id)
        self._audit("admin:client:disabled", by, subject=client_id)
        return details

    # --- accounts ---------------------------------------------------------------------------------------------

    async def account_id(self, username: str) -> str:
        """The id of the account signing in as `username` (the CLI names people that way)."""
        from idp.accounts.service import UnknownAccount

        account = await self._c.accounts.by_username(username)
        if account is None:
            raise UnknownAccount(username, public=f"no account named {username!r}")
        return account.id

    async def lock_account(self, by: By, account_id: str) -> Account:
        """Lock, then end the account's SSO sessions and revoke its grants: a locked account keeps no way in."""
        account = await self._c.accounts.lock(account_id)
        await end_account_sessions(self._c.provider, account_id)
        revoked = await self._c.grants.revoke_for_account(account_id, "account_locked")
        self._audit("admin:account:locked", by, subject=account_id, grants_revoked=len(revoked))
        return account

    async def unlock_account(self, by: By, account_id: str) -> Account:
        account = await self._c.accounts.unlock(account_id)
        self._audit("admin:account:unlocked", by, subject=account_id)
        return account

    async def revoke_sessions(self, by: By, account_id: str) -> int:
        """End every SSO session of the account and revoke every grant (refresh tokens; access tokens bound to
        a grant fail introspection and userinfo at once). Returns how many grants were revoked."""
        from idp.accounts.service import UnknownAccount

        if await self._c.accounts.get(account_id) is None:
            raise UnknownAccount(account_id)
        await end_account_sessions(self._c.provider, account_id)
        revoked = await self._c.grants.revoke_for_account(account_id, "admin_revoked")
        self._audit("admin:account:sessions_revoked", by, subject=account_id, grants_revoked=len(revoked))
        return len(revoked)

    # --- delegations ------------------------------------------------------------------------------------------

    async def create_delegation(self, by: By, request: DelegationRequest) -> DelegationView:
        """The same policy as self-service and the CLI; refusals (`DelegationError`) are audited by the service."""
        view = await delegation_service(self._c).create(request, Actor.administrator(by.actor))
        self._audit("admin:delegation:created", by, subject=view.principal_id, delegation_id=view.id,
                    kind=view.kind, delegate=view.delegate_id, scopes=list(view.scopes), context=view.context)
        return view

    async def revoke_delegation(self, by: By, delegation_id: str) -> DelegationView:
        view = await delegation_service(self._c).revoke(delegation_id, Actor.administrator(by.actor),
                                                        by.reason or "revoked by an administrator")
        self._audit("admin:delegation:revoked", by, subject=view.principal_id, delegation_id=view.id)
        return view

    # --- keys -------------------------------------------------------------------------------------------------

    async def rotate_keys(self, by: By, activation_delay: int | None = None) -> StoredKey:
        """Publish a new signing key that signs after the delay (MANDAT_KEY_ACTIVATION_DELAY by default)."""
        settings = self._c.settings
        stored = self._c.keystore.rotate(
            activation_delay=settings.key_activation_delay if activation_delay is None else activation_delay)
        self._audit("admin:keys:rotated", by, subject=stored.key.kid, not_before=stored.not_before)
        return stored
