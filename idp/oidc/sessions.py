"""SSO sessions and login/consent interactions, both in the ephemeral store.

The browser holds an opaque session token; the store key is its hash, so a store dump cannot be replayed as a
cookie. The public `sid` (ID token claim, logout) is a separate random value.
Interactions are bound to the browser that started them by a second cookie (`browser_binding`), so a link to
someone else's /interaction/{uid} is useless (login CSRF / session swapping).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from idp.oidc.assurance import Assurance, acr_rank
from idp.oidc.models import Authentication, AuthorizationRequest
from idp.oidc.provider import Provider
from idp.store import get_json, put_json


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    authentication: Authentication
    created: int
    absolute_expiry: int
    # The level at which this sign-in may bind a new authenticator (idp.oidc.assurance), while it is recent.
    binds_at: str = "eidas1"
    # Whom this browser currently acts for (chosen on the "act as" page), or None for oneself: every IdP page
    # shows the banner, and self-service pages refuse to manage the principal's delegations (no re-delegation).
    acting_for: Acting | None = None

    def binding_level(self, now: int, max_age: int) -> str | None:
        """`binds_at` while the sign-in is at most `max_age` seconds old; None after (sign in again to bind)."""
        return self.binds_at if now - self.authentication.auth_time <= max_age else None


@dataclass(frozen=True, slots=True)
class Acting:
    """The delegation a session acts under: its id, the principal's account id and display name (banner)."""

    delegation_id: str
    principal_id: str
    principal_name: str

    def to_json(self) -> dict[str, str]:
        return {"delegation_id": self.delegation_id, "principal_id": self.principal_id,
                "principal_name": self.principal_name}


def _acting(record: dict[str, Any]) -> Acting | None:
    value = record.get("acting_for")
    return Acting(value["delegation_id"], value["principal_id"], value["principal_name"]) if value else None


def _idle_ttl(provider: Provider, acr: str) -> int:
    if acr_rank(acr) >= 3:
        return provider.config.session_idle_ttl_high
    return provider.config.session_idle_ttl


async def create_session(provider: Provider, account_id: str, assurance: Assurance) -> Session:
    """Open an SSO session. Only `idp.signin.finish.finish_sign_in` calls this: it owns sessions and assurance."""
    now = provider.now()
    token = secrets.token_urlsafe(32)
    acr, amr = assurance.acr, assurance.amr
    auth = Authentication(account_id=account_id, auth_time=now, acr=acr, amr=amr, sid=secrets.token_urlsafe(16))
    absolute = now + provider.config.session_absolute_ttl
    record = {"account_id": account_id, "auth_time": now, "acr": acr, "amr": list(amr), "sid": auth.sid,
              "created": now, "created_at": provider.clock(), "absolute": absolute, "binds_at": assurance.binds_at}
    await put_json(provider.store, f"sess:{_h(token)}", record, _idle_ttl(provider, acr))
    await put_json(provider.store, f"sid:{auth.sid}", {"key": _h(token)}, provider.config.session_absolute_ttl)
    return Session(token, auth, now, absolute, assurance.binds_at)


async def load_session(provider: Provider, token: str | None, *, touch: bool = True) -> Session | None:
    if not token or len(token) > 100:
        return None
    key = f"sess:{_h(token)}"
    record: dict[str, Any] | None = await get_json(provider.store, key)
    if record is None:
        return None
    now = provider.now()
    if now >= record["absolute"]:
        await provider.store.delete(key)
        return None
    ended_before = await provider.store.get(f"sess_epoch:{record['account_id']}")
    if ended_before is not None and record.get("created_at", 0.0) <= float(ended_before):
        await provider.store.delete(key)
        return None
    if touch:
        # Sliding idle timeout, never beyond the absolute expiry.
        ttl = min(_idle_ttl(provider, record["acr"]), record["absolute"] - now)
        await put_json(provider.store, key, record, max(1, ttl))
    auth = Authentication(record["account_id"], record["auth_time"], record["acr"], tuple(record["amr"]),
                          record["sid"])
    return Session(token, auth, record["created"], record["absolute"], record.get("binds_at", record["acr"]),
                   _acting(record))


async def set_acting(provider: Provider, session: Session, acting: Acting | None) -> None:
    """Record whom the session acts for (None: back to oneself). The idle timeout restarts, as on any use."""
    key = f"sess:{_h(session.token)}"
    record: dict[str, Any] | None = await get_json(provider.store, key)
    if record is None:
        return
    record["acting_for"] = acting.to_json() if acting is not None else None
    ttl = min(_idle_ttl(provider, record["acr"]), record["absolute"] - provider.now())
    await put_json(provider.store, key, record, max(1, ttl))


async def end_session(provider: Provider, session: Session) -> None:
    await provider.store.delete(f"sess:{_h(session.token)}")
    await provider.store.delete(f"sid:{session.authentication.sid}")


async def end_account_sessions(provider: Provider, account_id: str) -> None:
    """End every SSO session of an account (recovery, lock) without an index of them: sessions created up to
    now are refused from now on. The marker outlives any session it could concern."""
    await provider.store.put(f"sess_epoch:{account_id}", repr(provider.clock()).encode(),
                             provider.config.session_absolute_ttl + 60)


# --- interactions -------------------------------------------------------------------------------------------

@dataclass(slots=True)
class Interaction:
    uid: str
    request: AuthorizationRequest
    binding_hash: str
    # Filled as the person progresses.
    account_id: str | None = None
    acr: str | None = None
    amr: tuple[str, ...] = ()
    auth_time: int | None = None
    sid: str | None = None
    fresh_login_required: bool = False
    # The "act as" step: the delegation chosen (None = acting as oneself), once `acting_chosen` is set.
    acting_for: str | None = None
    acting_chosen: bool = False
    extra: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"request": self.request.to_json(), "binding": self.binding_hash, "account_id": self.account_id,
                "acr": self.acr, "amr": list(self.amr), "auth_time": self.auth_time, "sid": self.sid,
                "fresh": self.fresh_login_required, "acting_for": self.acting_for,
                "acting_chosen": self.acting_chosen, "extra": self.extra or {}}


async def start_interaction(provider: Provider, request: AuthorizationRequest, *, fresh_login: bool,
                            session: Session | None) -> tuple[Interaction, str]:
    uid = secrets.token_urlsafe(16)
    binding = secrets.token_urlsafe(24)
    interaction = Interaction(uid=uid, request=request, binding_hash=_h(binding), fresh_login_required=fresh_login)
    if session is not None and not fresh_login:
        auth = session.authentication
        interaction.account_id, interaction.acr, interaction.amr = auth.account_id, auth.acr, auth.amr
        interaction.auth_time, interaction.sid = auth.auth_time, auth.sid
    await save_interaction(provider, interaction)
    return interaction, binding


async def save_interaction(provider: Provider, interaction: Interaction) -> None:
    await put_json(provider.store, f"ia:{interaction.uid}", interaction.to_json(), provider.config.interaction_ttl)


async def load_interaction(provider: Provider, uid: str, binding: str | None) -> Interaction | None:
    """The interaction, only for the browser holding its binding cookie."""
    if not binding or len(uid) > 64:
        return None
    record = await get_json(provider.store, f"ia:{uid}")
    if record is None or not hmac.compare_digest(record["binding"], _h(binding)):
        return None
    return Interaction(
        uid=uid, request=AuthorizationRequest.from_json(record["request"]), binding_hash=record["binding"],
        account_id=record["account_id"], acr=record["acr"], amr=tuple(record["amr"]),
        auth_time=record["auth_time"], sid=record["sid"], fresh_login_required=record["fresh"],
        acting_for=record.get("acting_for"), acting_chosen=bool(record.get("acting_chosen")),
        extra=record.get("extra") or {},
    )


async def finish_interaction(provider: Provider, uid: str) -> None:
    await provider.store.delete(f"ia:{uid}")
