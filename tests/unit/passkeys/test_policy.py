"""Attestation grading and when user verification is required."""

from __future__ import annotations

import dataclasses

import pytest

from idp.passkeys.errors import PasskeyError
from idp.passkeys.policy import AttestationPolicy, uv_required
from idp.passkeys.webauthn import RegisteredCredential
from tests.unit.passkeys.conftest import VIRTUAL_AAGUID, recorded_settings

ATTESTED_KEY = RegisteredCredential(
    credential_id=b"id", public_key=b"pk", sign_count=1, aaguid=VIRTUAL_AAGUID, fmt="packed", user_verified=True,
    backup_eligible=False, backed_up=False, transports=("usb",), attestation_trusted=True,
)
ALLOWING = AttestationPolicy(recorded_settings(aaguid_allow_list=frozenset({VIRTUAL_AAGUID})))
EMPTY = AttestationPolicy(recorded_settings())


def variant(**changes: object) -> RegisteredCredential:
    return dataclasses.replace(ATTESTED_KEY, **changes)  # type: ignore[arg-type]


def test_allow_listed_attested_key_with_uv_earns_eidas3() -> None:
    assert ALLOWING.grade(ATTESTED_KEY, require_allow_listed=False, bound_at="eidas3") == "eidas3"
    assert ALLOWING.grade(ATTESTED_KEY, require_allow_listed=True, bound_at="eidas3") == "eidas3"


@pytest.mark.parametrize(
    ("policy", "key"),
    [
        (EMPTY, ATTESTED_KEY),
        (ALLOWING, variant(attestation_trusted=False)),
        (ALLOWING, variant(user_verified=False)),
        (ALLOWING, variant(backup_eligible=True, backed_up=True)),
    ],
    ids=["not-allow-listed", "aaguid-only-claimed", "no-uv", "synced-passkey"],
)
def test_anything_short_of_eidas3_records_eidas2(policy: AttestationPolicy, key: RegisteredCredential) -> None:
    assert policy.grade(key, require_allow_listed=False, bound_at="eidas3") == "eidas2"


@pytest.mark.parametrize(
    ("policy", "key", "code"),
    [
        (EMPTY, ATTESTED_KEY, "aaguid_not_allowed"),
        (ALLOWING, variant(attestation_trusted=False), "attestation_untrusted"),
        (ALLOWING, variant(user_verified=False), "user_verification_required"),
        (ALLOWING, variant(backup_eligible=True), "aaguid_not_allowed"),
    ],
    ids=["not-allow-listed", "aaguid-only-claimed", "no-uv", "synced-passkey"],
)
def test_required_allow_list_refuses_with_the_reason(policy: AttestationPolicy, key: RegisteredCredential,
                                                     code: str) -> None:
    with pytest.raises(PasskeyError) as excinfo:
        policy.grade(key, require_allow_listed=True, bound_at="eidas3")
    assert excinfo.value.code == code


def test_allow_list_matches_case_insensitively() -> None:
    assert ALLOWING.is_allow_listed(VIRTUAL_AAGUID.upper())


@pytest.mark.parametrize(
    ("kind", "requested", "after_password", "required"),
    [
        ("professional", None, False, True),
        ("professional", "eidas1", True, True),
        ("citizen", None, False, False),
        ("citizen", "eidas1", False, False),
        ("citizen", "eidas2", False, True),
        ("citizen", "eidas2", True, False),
        ("citizen", "eidas3", True, True),
        (None, "eidas3", False, True),
        (None, "bogus", False, False),
    ],
)
def test_uv_required(kind: str | None, requested: str | None, after_password: bool, required: bool) -> None:
    assert uv_required(kind, requested, after_password=after_password) is required


def test_a_key_is_never_graded_above_the_sign_in_that_bound_it() -> None:
    """An attested, allow-listed key bound from a password-only session is worth that session: eidas1."""
    assert ALLOWING.grade(ATTESTED_KEY, require_allow_listed=False, bound_at="eidas3") == "eidas3"
    assert ALLOWING.grade(ATTESTED_KEY, require_allow_listed=False, bound_at="eidas2") == "eidas2"
    assert ALLOWING.grade(ATTESTED_KEY, require_allow_listed=False, bound_at="eidas1") == "eidas1"
    assert EMPTY.grade(ATTESTED_KEY, require_allow_listed=False, bound_at="eidas1") == "eidas1"
