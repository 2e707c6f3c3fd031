"""PasskeyService on a temp SQLite database and the in-memory store, replaying recorded Chromium ceremonies.

Recorded responses sign their own challenge, so each test scripts the service's challenge source with the
recorded challenges, in the order it begins ceremonies.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from idp.accounts.models import Account
from idp.db import Database
from idp.passkeys.config import PasskeySettings
from idp.passkeys.errors import CounterRegression, PasskeyError
from idp.passkeys.models import PasskeyUserHandle, WebAuthnCredential
from idp.passkeys.service import PasskeyService
from idp.passkeys.webauthn import b64url, from_b64url
from idp.store import MemoryStore
from tests.fixtures.webauthn import load, resign_assertion
from tests.unit.passkeys.conftest import (
    CHROMIUM_ROOT,
    VIRTUAL_AAGUID,
    FakeMonotonic,
    ScriptedChallenges,
    challenge_of,
    make_account,
    recorded_settings,
    response_json,
)

REG_NONE, REG_PACKED, REG_NO_UV = load("registration_none"), load("registration_packed"), load("registration_no_uv")
AUTH_UV_1, AUTH_UV_2 = load("authentication_uv_1"), load("authentication_uv_2")
AUTH_DISCOVERABLE, AUTH_PACKED, AUTH_NO_UV = (
    load("authentication_discoverable"), load("authentication_packed"), load("authentication_no_uv")
)
T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Rig:
    def __init__(self, db: Database, store: MemoryStore, settings: PasskeySettings | None = None) -> None:
        self.db = db
        self.challenges = ScriptedChallenges()
        self.clock = Clock()
        self.service = PasskeyService(
            db, store, settings or recorded_settings(), self.clock, challenges=self.challenges
        )

    async def register(self, account: Account, record: dict[str, Any], name: str = "YubiKey bleue", *,
                       recorded_handle: bool = True, **begin: Any) -> WebAuthnCredential:
        if recorded_handle:
            await self.give_recorded_handle(account)
        self.challenges.push(challenge_of(record))
        begin.setdefault("require_uv", bool(record["require_uv"]))
        _, ceremony_id = await self.service.begin_registration(account, **begin)
        return await self.service.finish_registration(account, ceremony_id, response_json(record), name,
                                                     bound_at="eidas3")

    async def sign_in(self, account: Account | None, record: dict[str, Any], *, response: str | None = None,
                      **begin: Any) -> Any:
        self.challenges.push(challenge_of(record))
        begin.setdefault("require_uv", bool(record["require_uv"]))
        _, ceremony_id = await self.service.begin_authentication(account, **begin)
        return await self.service.finish_authentication(ceremony_id, response or response_json(record))

    async def give_recorded_handle(self, account: Account) -> None:
        """Give the account the user handle the recording used; Chromium returns it in every assertion of a
        resident credential, and the service checks it against the key's owner."""
        async with self.db.transaction() as session:
            if await session.get(PasskeyUserHandle, account.id) is None:
                session.add(PasskeyUserHandle(account_id=account.id, user_handle=from_b64url(REG_NONE["user_handle"])))

    async def stored(self, credential_id: str) -> WebAuthnCredential:
        async with self.db.session() as session:
            credential = await session.get(WebAuthnCredential, credential_id)
            assert credential is not None
            return credential


@pytest.fixture
def rig(db: Database, store: MemoryStore) -> Rig:
    return Rig(db, store)


@pytest.fixture
async def alice(db: Database) -> Account:
    return await make_account(db, "alice")


async def expect(code: str, awaitable: Any) -> PasskeyError:
    with pytest.raises(PasskeyError) as excinfo:
        await awaitable
    assert excinfo.value.code == code, excinfo.value.detail
    return excinfo.value


# --- registration ----------------------------------------------------------------------------------------------


async def test_registration_stores_the_credential_with_policy_and_flags(rig: Rig, alice: Account) -> None:
    credential = await rig.register(alice, REG_NONE, name="  YubiKey bleue ")
    stored = await rig.stored(credential.id)
    assert stored.account_id == alice.id
    assert b64url(stored.credential_id) == REG_NONE["response"]["id"]
    assert stored.name == "YubiKey bleue"
    assert (stored.sign_count, stored.attestation_fmt, stored.acr) == (1, "none", "eidas2")
    assert stored.transports == ["usb"]
    assert (stored.uv_at_registration, stored.backup_eligible, stored.backed_up) == (True, False, False)
    assert stored.created_at == T0 and stored.last_used_at is None


async def test_registration_options_use_a_random_user_handle_and_exclude_existing_keys(
    rig: Rig, alice: Account
) -> None:
    await rig.register(alice, REG_NONE, recorded_handle=False)
    rig.challenges.push(b"x" * 32)
    options_json, _ = await rig.service.begin_registration(alice, require_uv=True)
    options = json.loads(options_json)
    async with rig.db.session() as session:
        handle = await session.get(PasskeyUserHandle, alice.id)
    assert handle is not None and len(handle.user_handle) == 32
    assert options["user"]["id"] == b64url(handle.user_handle) != b64url(alice.id.encode())
    assert options["user"]["name"] == "alice" and options["user"]["displayName"] == "Alice Martin"
    assert [c["id"] for c in options["excludeCredentials"]] == [REG_NONE["response"]["id"]]
    assert options["authenticatorSelection"]["residentKey"] == "preferred"


async def test_registration_challenge_is_single_use(rig: Rig, alice: Account) -> None:
    rig.challenges.push(challenge_of(REG_NONE))
    _, ceremony_id = await rig.service.begin_registration(alice, require_uv=True)
    await rig.service.finish_registration(alice, ceremony_id, response_json(REG_NONE), "Key", bound_at="eidas3")
    await expect("challenge_unknown",
                 rig.service.finish_registration(alice, ceremony_id, response_json(REG_NONE), "Key", bound_at="eidas3"))


async def test_registration_challenge_expires_after_the_ttl(
    rig: Rig, alice: Account, monotonic: FakeMonotonic
) -> None:
    rig.challenges.push(challenge_of(REG_NONE))
    _, ceremony_id = await rig.service.begin_registration(alice, require_uv=True)
    monotonic.now += 300.5
    await expect("challenge_unknown",
                 rig.service.finish_registration(alice, ceremony_id, response_json(REG_NONE), "Key", bound_at="eidas3"))


async def test_registration_ceremony_is_bound_to_its_account(rig: Rig, alice: Account, db: Database) -> None:
    mallory = await make_account(db, "mallory")
    rig.challenges.push(challenge_of(REG_NONE))
    _, ceremony_id = await rig.service.begin_registration(alice, require_uv=True)
    await expect("challenge_unknown",
                 rig.service.finish_registration(mallory, ceremony_id, response_json(REG_NONE), "Key",
                     bound_at="eidas3"))


async def test_failed_verification_still_consumes_the_challenge(rig: Rig, alice: Account) -> None:
    rig.challenges.push(challenge_of(REG_NO_UV))
    _, ceremony_id = await rig.service.begin_registration(alice, require_uv=True)
    await expect("user_verification_required",
                 rig.service.finish_registration(alice, ceremony_id, response_json(REG_NO_UV), "Key",
                     bound_at="eidas3"))
    await expect("challenge_unknown",
                 rig.service.finish_registration(alice, ceremony_id, response_json(REG_NO_UV), "Key",
                     bound_at="eidas3"))


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "bad\x00name"], ids=["empty", "blank", "too-long", "control"])
async def test_invalid_name_is_refused_and_leaves_the_ceremony_open(rig: Rig, alice: Account, name: str) -> None:
    rig.challenges.push(challenge_of(REG_NONE))
    _, ceremony_id = await rig.service.begin_registration(alice, require_uv=True)
    error = await expect("invalid_name",
                         rig.service.finish_registration(alice, ceremony_id, response_json(REG_NONE), name,
                             bound_at="eidas3"))
    assert error.public == "Give the key a name of 1 to 64 characters."
    credential = await rig.service.finish_registration(alice, ceremony_id, response_json(REG_NONE), "x" * 64,
        bound_at="eidas3")
    assert credential.name == "x" * 64


async def test_same_key_cannot_be_registered_twice(rig: Rig, alice: Account) -> None:
    await rig.register(alice, REG_NONE)
    await expect("already_registered", rig.register(alice, REG_NONE))


async def test_allow_listed_attested_key_is_recorded_as_eidas3(db: Database, store: MemoryStore,
                                                              alice: Account) -> None:
    settings = recorded_settings(aaguid_allow_list=frozenset({VIRTUAL_AAGUID}),
                                 attestation_roots={"packed": (CHROMIUM_ROOT,)})
    rig = Rig(db, store, settings)
    credential = await rig.register(alice, REG_PACKED, require_allow_listed=True)
    assert (credential.acr, credential.aaguid, credential.attestation_fmt) == ("eidas3", VIRTUAL_AAGUID, "packed")


async def test_key_off_the_allow_list_is_refused_when_required(db: Database, store: MemoryStore,
                                                               alice: Account) -> None:
    settings = recorded_settings(attestation_roots={"packed": (CHROMIUM_ROOT,)})
    rig = Rig(db, store, settings)
    await expect("aaguid_not_allowed", rig.register(alice, REG_PACKED, require_allow_listed=True))
    # Not required: the same key registers, at eidas2.
    assert (await rig.register(alice, REG_PACKED)).acr == "eidas2"


async def test_allow_listed_aaguid_without_trusted_attestation_is_refused_when_required(
    db: Database, store: MemoryStore, alice: Account
) -> None:
    rig = Rig(db, store, recorded_settings(aaguid_allow_list=frozenset({VIRTUAL_AAGUID})))
    await expect("attestation_untrusted", rig.register(alice, REG_PACKED, require_allow_listed=True))


async def test_required_allow_list_asks_the_browser_for_uv_and_attestation(rig: Rig, alice: Account) -> None:
    rig.challenges.push(b"x" * 32)
    options_json, _ = await rig.service.begin_registration(alice, require_uv=False, require_allow_listed=True)
    options = json.loads(options_json)
    assert (options["attestation"], options["authenticatorSelection"]["userVerification"]) == ("direct", "required")


# --- authentication ------------------------------------------------------------------------------------------


async def test_sign_in_with_uv_gives_eidas2_and_stores_the_counter(rig: Rig, alice: Account) -> None:
    credential = await rig.register(alice, REG_NONE)
    rig.clock.now = T0 + timedelta(minutes=5)
    result = await rig.sign_in(alice, AUTH_UV_1)
    assert (result.account_id, result.amr, result.acr, result.user_verified) == (
        alice.id, ("hwk", "user", "mfa"), "eidas2", True
    )
    stored = await rig.stored(credential.id)
    assert stored.sign_count == AUTH_UV_1["sign_count_after"] == 2
    assert stored.last_used_at == T0 + timedelta(minutes=5)


async def test_username_first_options_allow_only_the_accounts_keys(rig: Rig, alice: Account) -> None:
    await rig.register(alice, REG_NONE)
    rig.challenges.push(b"x" * 32, b"y" * 32)
    options = json.loads((await rig.service.begin_authentication(alice, require_uv=True)).options_json)
    assert [c["id"] for c in options["allowCredentials"]] == [REG_NONE["response"]["id"]]
    assert options["userVerification"] == "required"
    discoverable = json.loads((await rig.service.begin_authentication(None, require_uv=False)).options_json)
    assert discoverable["allowCredentials"] == []


async def test_authentication_challenge_is_single_use(rig: Rig, alice: Account) -> None:
    await rig.register(alice, REG_NONE)
    rig.challenges.push(challenge_of(AUTH_UV_1))
    _, ceremony_id = await rig.service.begin_authentication(alice, require_uv=True)
    await rig.service.finish_authentication(ceremony_id, response_json(AUTH_UV_1))
    await expect("challenge_unknown", rig.service.finish_authentication(ceremony_id, response_json(AUTH_UV_1)))


async def test_registration_ceremony_cannot_finish_a_sign_in(rig: Rig, alice: Account) -> None:
    await rig.register(alice, REG_NONE)
    rig.challenges.push(challenge_of(AUTH_UV_1))
    _, ceremony_id = await rig.service.begin_registration(alice, require_uv=True)
    await expect("challenge_unknown", rig.service.finish_authentication(ceremony_id, response_json(AUTH_UV_1)))


async def test_counter_going_backwards_is_refused_and_reported(rig: Rig, alice: Account) -> None:
    credential = await rig.register(alice, REG_NONE)
    await rig.sign_in(alice, AUTH_UV_2)  # counter 3
    with pytest.raises(CounterRegression) as excinfo:
        await rig.sign_in(alice, AUTH_UV_1)  # an older, genuine assertion: counter 2
    error = excinfo.value
    assert error.code == "counter_regression"
    assert (error.credential_id, error.account_id, error.stored, error.received) == (
        credential.credential_id, alice.id, 3, 2
    )
    assert (await rig.stored(credential.id)).sign_count == 3


async def test_counter_repeating_is_refused(rig: Rig, alice: Account) -> None:
    # A clone would answer with the same counter as the original's last use; signed with the real key.
    await rig.register(alice, REG_NONE)
    await rig.sign_in(alice, AUTH_UV_1)  # counter 2
    clone = resign_assertion(AUTH_UV_1, REG_NONE, challenge=b"c" * 32, sign_count=2)
    rig.challenges.push(b"c" * 32)
    _, ceremony_id = await rig.service.begin_authentication(alice, require_uv=True)
    await expect("counter_regression", rig.service.finish_authentication(ceremony_id, json.dumps(clone)))
    # The same key moving forward is fine.
    forward = resign_assertion(AUTH_UV_1, REG_NONE, challenge=b"d" * 32, sign_count=10)
    rig.challenges.push(b"d" * 32)
    _, ceremony_id = await rig.service.begin_authentication(alice, require_uv=True)
    assert (await rig.service.finish_authentication(ceremony_id, json.dumps(forward))).acr == "eidas2"


async def test_keys_that_do_not_count_may_keep_sending_zero(rig: Rig, alice: Account) -> None:
    credential = await rig.register(alice, REG_NONE)
    async with rig.db.transaction() as session:
        stored = await session.get(WebAuthnCredential, credential.id)
        assert stored is not None
        stored.sign_count = 0
    for challenge in (b"e" * 32, b"f" * 32):
        zero = resign_assertion(AUTH_UV_1, REG_NONE, challenge=challenge, sign_count=0)
        rig.challenges.push(challenge)
        _, ceremony_id = await rig.service.begin_authentication(alice, require_uv=True)
        await rig.service.finish_authentication(ceremony_id, json.dumps(zero))
    assert (await rig.stored(credential.id)).sign_count == 0


async def test_unregistered_key_is_unknown(rig: Rig) -> None:
    error = await expect("unknown_credential", rig.sign_in(None, AUTH_UV_1))
    assert error.public == "This key is not registered to any account."


async def test_key_of_another_account_is_unknown_to_a_username_first_sign_in(
    rig: Rig, alice: Account, db: Database
) -> None:
    bob = await make_account(db, "bob")
    await rig.register(alice, REG_NONE)
    error = await expect("unknown_credential", rig.sign_in(bob, AUTH_UV_1))
    assert error.public == "This key is not registered to any account."


async def test_expected_account_is_enforced_on_finish(rig: Rig, alice: Account, db: Database) -> None:
    bob = await make_account(db, "bob")
    await rig.register(alice, REG_NONE)
    rig.challenges.push(challenge_of(AUTH_UV_1))
    _, ceremony_id = await rig.service.begin_authentication(None, require_uv=True)
    await expect("unknown_credential",
                 rig.service.finish_authentication(ceremony_id, response_json(AUTH_UV_1), expected_account=bob))


async def test_discoverable_sign_in_maps_the_user_handle_back(rig: Rig, alice: Account) -> None:
    await rig.register(alice, REG_NONE)
    result = await rig.sign_in(None, AUTH_DISCOVERABLE)
    assert result.account_id == alice.id and result.acr == "eidas2"


async def test_discoverable_sign_in_with_a_foreign_user_handle_is_refused(rig: Rig, alice: Account) -> None:
    await rig.register(alice, REG_NONE, recorded_handle=False)  # a fresh random handle, not the recorded one
    await expect("unknown_credential", rig.sign_in(None, AUTH_DISCOVERABLE))
    await expect("unknown_credential", rig.sign_in(alice, AUTH_UV_2))


async def test_missing_uv_is_refused_when_required(rig: Rig, alice: Account) -> None:
    await rig.register(alice, REG_NO_UV)
    await expect("user_verification_required", rig.sign_in(alice, AUTH_NO_UV, require_uv=True))


async def test_key_without_uv_is_a_second_factor_only(rig: Rig, alice: Account) -> None:
    await rig.register(alice, REG_NO_UV)
    result = await rig.sign_in(alice, AUTH_NO_UV, after_password=True)
    assert (result.amr, result.acr, result.user_verified) == (("pwd", "hwk", "mfa"), "eidas2", False)


async def test_professionals_key_must_verify_even_if_the_sign_in_did_not_ask(rig: Rig, db: Database) -> None:
    doctor = await make_account(db, "dr.house", kind="professional")
    await rig.register(doctor, REG_NO_UV)
    await expect("user_verification_required", rig.sign_in(None, AUTH_NO_UV, require_uv=False))


async def test_eidas3_key_with_uv_gives_eidas3(db: Database, store: MemoryStore, alice: Account) -> None:
    settings = recorded_settings(aaguid_allow_list=frozenset({VIRTUAL_AAGUID}),
                                 attestation_roots={"packed": (CHROMIUM_ROOT,)})
    rig = Rig(db, store, settings)
    await rig.register(alice, REG_PACKED, require_allow_listed=True)
    result = await rig.sign_in(alice, AUTH_PACKED)
    assert (result.amr, result.acr) == (("hwk", "pin", "mfa"), "eidas3")


# --- management ----------------------------------------------------------------------------------------------


async def test_list_rename_and_remove(rig: Rig, alice: Account) -> None:
    first = await rig.register(alice, REG_NONE, name="Clé USB")
    rig.clock.now = T0 + timedelta(days=1)
    second = await rig.register(alice, REG_PACKED, name="Clé NFC")
    await rig.sign_in(alice, AUTH_UV_1)
    listed = await rig.service.list_credentials(alice.id)
    assert [(c.id, c.name, c.created_at, c.backed_up) for c in listed] == [
        (first.id, "Clé USB", T0, False), (second.id, "Clé NFC", T0 + timedelta(days=1), False),
    ]
    assert listed[0].last_used_at == T0 + timedelta(days=1) and listed[1].last_used_at is None

    await rig.service.rename(alice.id, first.id, "Clé du bureau")
    await expect("invalid_name", rig.service.rename(alice.id, first.id, ""))
    assert (await rig.stored(first.id)).name == "Clé du bureau"

    await rig.service.remove(alice.id, second.id, other_sign_in=False)
    assert [c.id for c in await rig.service.list_credentials(alice.id)] == [first.id]


async def test_last_key_is_kept_unless_confirmed_or_another_sign_in_exists(rig: Rig, alice: Account) -> None:
    only = await rig.register(alice, REG_NONE)
    error = await expect("last_credential", rig.service.remove(alice.id, only.id, other_sign_in=False))
    assert error.public == "This is your only way to sign in. Confirm to remove it anyway."
    assert len(await rig.service.list_credentials(alice.id)) == 1
    await rig.service.remove(alice.id, only.id, other_sign_in=False, confirm_last=True)
    assert await rig.service.list_credentials(alice.id) == []


async def test_last_key_goes_without_confirmation_when_a_password_remains(rig: Rig, alice: Account) -> None:
    only = await rig.register(alice, REG_NONE)
    await rig.service.remove(alice.id, only.id, other_sign_in=True)
    async with rig.db.session() as session:
        assert (await session.scalars(select(WebAuthnCredential))).all() == []


async def test_keys_of_other_accounts_cannot_be_managed(rig: Rig, alice: Account, db: Database) -> None:
    bob = await make_account(db, "bob")
    key = await rig.register(alice, REG_NONE)
    await expect("unknown_credential", rig.service.rename(bob.id, key.id, "mine now"))
    await expect("unknown_credential", rig.service.remove(bob.id, key.id, other_sign_in=True))
    assert (await rig.stored(key.id)).name == "YubiKey bleue"
