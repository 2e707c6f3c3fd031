"""Passkey ceremonies and key management, on top of the WebAuthn wrapper, the attestation policy and storage.

Challenges live in the ephemeral store under the hash of a random ceremony id, and are taken (read and deleted
atomically) when the ceremony finishes: a response can be checked at most once, whatever the outcome.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from idp.accounts.models import Account
from idp.db import Database, utcnow
from idp.oidc import assurance
from idp.passkeys.config import PasskeySettings
from idp.passkeys.errors import (
    AlreadyRegistered,
    ChallengeUnknown,
    CounterRegression,
    InvalidName,
    LastCredential,
    UnknownCredential,
)
from idp.passkeys.interfaces import AuthResult, Ceremony, ChallengeSource, Clock, CredentialSummary
from idp.passkeys.models import PasskeyUserHandle, WebAuthnCredential
from idp.passkeys.policy import AttestationPolicy, uv_required
from idp.passkeys.webauthn import CredentialDescriptor, RelyingParty, b64url, from_b64url
from idp.store import EphemeralStore, put_json, take_json

__all__ = ["PasskeyService"]

_REGISTRATION, _AUTHENTICATION = "registration", "authentication"


def _random_challenge() -> bytes:
    return secrets.token_bytes(32)


class PasskeyService:
    def __init__(
        self,
        db: Database,
        store: EphemeralStore,
        settings: PasskeySettings,
        clock: Clock = utcnow,
        *,
        challenges: ChallengeSource = _random_challenge,
    ) -> None:
        self._db = db
        self._store = store
        self._settings = settings
        self._clock = clock
        self._challenges = challenges
        self._rp = RelyingParty(settings)
        self._policy = AttestationPolicy(settings)

    @property
    def settings(self) -> PasskeySettings:
        return self._settings

    # --- registration ----------------------------------------------------------------------------------------

    async def begin_registration(
        self, account: Account, *, require_uv: bool, attestation: bool = False, require_allow_listed: bool = False
    ) -> Ceremony:
        """Options for navigator.credentials.create(). `attestation` asks for a direct attestation (needed to
        earn eidas3); `require_allow_listed` refuses any key that does not earn eidas3 (implies both)."""
        if require_allow_listed:
            require_uv = attestation = True
        async with self._db.transaction() as session:
            user_handle = await self._user_handle(session, account.id)
            existing = await self._descriptors(session, account.id)
        challenge = self._challenges()
        options = self._rp.registration_options(
            challenge=challenge,
            user_handle=user_handle,
            user_name=account.username,
            display_name=account.display_name,
            exclude=existing,
            require_uv=require_uv,
            attestation=attestation,
        )
        ceremony_id = await self._open(
            {"kind": _REGISTRATION, "account_id": account.id, "challenge": b64url(challenge),
             "require_uv": require_uv, "require_allow_listed": require_allow_listed}
        )
        return Ceremony(options, ceremony_id)

    async def finish_registration(
        self, account: Account, ceremony_id: str, response_json: str, name: str, *, bound_at: str
    ) -> WebAuthnCredential:
        """Verify and store a new key. `bound_at` is the level of the sign-in that binds it (the session's
        `binds_at`): the key is never recorded above it, whatever its attestation proves."""
        # The name is checked before the challenge is taken, so a bad name can be corrected and resubmitted.
        name = _valid_name(name)
        state = await self._close(ceremony_id, _REGISTRATION, account.id)
        registered = self._rp.verify_registration(
            response_json, challenge=from_b64url(state["challenge"]), require_uv=bool(state["require_uv"])
        )
        acr = self._policy.grade(registered, require_allow_listed=bool(state["require_allow_listed"]),
                                 bound_at=bound_at)
        credential = WebAuthnCredential(
            account_id=account.id,
            credential_id=registered.credential_id,
            public_key=registered.public_key,
            sign_count=registered.sign_count,
            transports=list(registered.transports),
            aaguid=registered.aaguid,
            attestation_fmt=registered.fmt,
            acr=acr,
            name=name,
            backup_eligible=registered.backup_eligible,
            backed_up=registered.backed_up,
            uv_at_registration=registered.user_verified,
            created_at=self._clock(),
        )
        try:
            async with self._db.transaction() as session:
                session.add(credential)
        except IntegrityError as exc:
            raise AlreadyRegistered(f"credential id {b64url(registered.credential_id)} already stored") from exc
        return credential

    # --- authentication --------------------------------------------------------------------------------------

    async def begin_authentication(
        self, account: Account | None, *, require_uv: bool, after_password: bool = False
    ) -> Ceremony:
        """Options for navigator.credentials.get(). With an account (username-first), allowCredentials lists its
        keys and the ceremony only accepts them; without one, the list is empty so the browser offers any
        discoverable passkey (also conditional UI)."""
        allow: Sequence[CredentialDescriptor] = ()
        if account is not None:
            async with self._db.session() as session:
                allow = await self._descriptors(session, account.id)
        challenge = self._challenges()
        options = self._rp.authentication_options(challenge=challenge, allow=allow, require_uv=require_uv)
        ceremony_id = await self._open(
            {"kind": _AUTHENTICATION, "account_id": None if account is None else account.id,
             "challenge": b64url(challenge), "require_uv": require_uv, "after_password": after_password}
        )
        return Ceremony(options, ceremony_id)

    async def finish_authentication(
        self, ceremony_id: str, response_json: str, *, expected_account: Account | None = None
    ) -> AuthResult:
        state = await self._close(ceremony_id, _AUTHENTICATION, None)
        credential_id, user_handle = self._rp.assertion_identity(response_json)
        async with self._db.session() as session:
            credential = await session.scalar(
                select(WebAuthnCredential).where(WebAuthnCredential.credential_id == credential_id)
            )
            if credential is None:
                raise UnknownCredential(f"no credential {b64url(credential_id)}")
            expected = {state["account_id"], None if expected_account is None else expected_account.id} - {None}
            # Same public text as an unknown key: saying "registered to someone else" would disclose an account.
            if expected and expected != {credential.account_id}:
                raise UnknownCredential(f"credential {credential.id} of {credential.account_id}, expected {expected}")
            if user_handle is not None:
                owner_handle = await session.get(PasskeyUserHandle, credential.account_id)
                if owner_handle is None or owner_handle.user_handle != user_handle:
                    raise UnknownCredential(f"user handle does not match the owner of credential {credential.id}")
            owner_kind = await session.scalar(select(Account.kind).where(Account.id == credential.account_id))
        # The options asked for UV as the caller required; a professional's key must verify the user even when
        # the sign-in began without knowing whose key it would be (username-less).
        require_uv = bool(state["require_uv"]) or uv_required(owner_kind, None)
        verified = self._rp.verify_authentication(
            response_json, challenge=from_b64url(state["challenge"]), public_key=credential.public_key,
            require_uv=require_uv,
        )
        await self._advance_counter(credential, verified.sign_count, verified.backed_up)
        level = assurance.passkey(
            credential.acr, user_verified=verified.user_verified, after_password=bool(state["after_password"])
        )
        return AuthResult(account_id=credential.account_id, credential=credential, assurance=level,
                          user_verified=verified.user_verified)

    async def _advance_counter(self, credential: WebAuthnCredential, received: int, backed_up: bool) -> None:
        """Store the new signature counter, refusing one that did not increase (WebAuthn §6.1.1: a possible
        clone). Keys that do not count send 0 each time, which is accepted while the stored count is 0 too.

        The update is conditional on the stored count so two concurrent sign-ins cannot both pass with the same
        counter value."""
        stored = credential.sign_count
        counts = received > 0 or stored > 0
        if counts and received <= stored:
            raise CounterRegression(
                f"credential {credential.id}: signature counter {received} not above stored {stored}",
                credential_id=credential.credential_id, account_id=credential.account_id,
                stored=stored, received=received,
            )
        now = self._clock()
        condition = WebAuthnCredential.sign_count < received if counts else WebAuthnCredential.sign_count == 0
        async with self._db.transaction() as session:
            result = await session.execute(
                update(WebAuthnCredential)
                .where(WebAuthnCredential.id == credential.id, condition)
                .values(sign_count=received, last_used_at=now, backed_up=backed_up)
            )
        if getattr(result, "rowcount", 0) != 1:
            raise CounterRegression(
                f"credential {credential.id}: counter {received} overtaken by a concurrent sign-in",
                credential_id=credential.credential_id, account_id=credential.account_id,
                stored=stored, received=received,
            )
        credential.sign_count, credential.last_used_at, credential.backed_up = received, now, backed_up

    # --- management ------------------------------------------------------------------------------------------

    async def list_credentials(self, account_id: str) -> list[CredentialSummary]:
        async with self._db.session() as session:
            rows = await session.scalars(
                select(WebAuthnCredential)
                .where(WebAuthnCredential.account_id == account_id)
                .order_by(WebAuthnCredential.created_at, WebAuthnCredential.id)
            )
            return [
                CredentialSummary(
                    id=row.id, name=row.name, created_at=row.created_at, last_used_at=row.last_used_at,
                    backed_up=row.backed_up, acr=row.acr, aaguid=row.aaguid,
                )
                for row in rows
            ]

    async def rename(self, account_id: str, credential_id: str, name: str) -> None:
        name = _valid_name(name)
        async with self._db.transaction() as session:
            credential = await self._owned(session, account_id, credential_id)
            credential.name = name

    async def remove(
        self, account_id: str, credential_id: str, *, other_sign_in: bool, confirm_last: bool = False
    ) -> None:
        """Delete a key. `other_sign_in` is the caller's word that the account can still sign in without keys
        (a password, a card); if not, removing the last key needs `confirm_last`, else `LastCredential`."""
        async with self._db.transaction() as session:
            credential = await self._owned(session, account_id, credential_id)
            remaining = await session.scalar(
                select(func.count()).select_from(WebAuthnCredential).where(WebAuthnCredential.account_id == account_id)
            )
            if remaining == 1 and not other_sign_in and not confirm_last:
                raise LastCredential(f"credential {credential_id} is the last means of sign-in of {account_id}")
            await session.delete(credential)

    async def remove_all(self, account_id: str) -> int:
        """Delete every key of an account (recovery: a lost device may be in someone else's hands)."""
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(WebAuthnCredential).where(WebAuthnCredential.account_id == account_id))
        return int(getattr(result, "rowcount", 0) or 0)

    # --- internals -------------------------------------------------------------------------------------------

    async def _open(self, state: dict[str, Any]) -> str:
        ceremony_id = secrets.token_urlsafe(32)
        await put_json(self._store, _ceremony_key(ceremony_id), state, self._settings.challenge_ttl)
        return ceremony_id

    async def _close(self, ceremony_id: str, kind: str, account_id: str | None) -> dict[str, Any]:
        state = await take_json(self._store, _ceremony_key(ceremony_id))
        if not isinstance(state, dict):
            raise ChallengeUnknown("ceremony unknown, expired or already used")
        if state.get("kind") != kind:
            raise ChallengeUnknown(f"ceremony is a {state.get('kind')}, not a {kind}")
        if account_id is not None and state.get("account_id") != account_id:
            raise ChallengeUnknown(f"ceremony was begun for account {state.get('account_id')}, not {account_id}")
        return state

    async def _user_handle(self, session: AsyncSession, account_id: str) -> bytes:
        handle = await session.get(PasskeyUserHandle, account_id)
        if handle is not None:
            return handle.user_handle
        try:
            async with session.begin_nested():
                handle = PasskeyUserHandle(account_id=account_id, user_handle=secrets.token_bytes(32),
                                           created_at=self._clock())
                session.add(handle)
        except IntegrityError:
            # A concurrent registration created it first; theirs is the one.
            handle = await session.get(PasskeyUserHandle, account_id, populate_existing=True)
            if handle is None:
                raise
        return handle.user_handle

    @staticmethod
    async def _descriptors(session: AsyncSession, account_id: str) -> list[CredentialDescriptor]:
        rows = await session.execute(
            select(WebAuthnCredential.credential_id, WebAuthnCredential.transports)
            .where(WebAuthnCredential.account_id == account_id)
            .order_by(WebAuthnCredential.created_at)
        )
        return [CredentialDescriptor(credential_id, tuple(transports or ())) for credential_id, transports in rows]

    @staticmethod
    async def _owned(session: AsyncSession, account_id: str, credential_id: str) -> WebAuthnCredential:
        credential = await session.get(WebAuthnCredential, credential_id)
        if credential is None or credential.account_id != account_id:
            raise UnknownCredential(f"account {account_id} has no credential {credential_id}")
        return credential


def _ceremony_key(ceremony_id: str) -> str:
    # Stored under a hash: a store dump does not hand out live ceremony ids.
    return "passkeys:ceremony:" + hashlib.sha256(ceremony_id.encode()).hexdigest()


def _valid_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name).strip()
    if not 1 <= len(name) <= 64 or any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InvalidName(f"key name of {len(name)} characters or with control characters")
    return name
