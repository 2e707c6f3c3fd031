"""The py_webauthn wrapper against responses recorded from Chromium: each refusal has its exact code."""

from __future__ import annotations

import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from idp.passkeys.errors import PasskeyError
from idp.passkeys.webauthn import CredentialDescriptor, RelyingParty, b64url
from tests.fixtures.webauthn import b64url_decode, b64url_encode, load, resign_assertion
from tests.unit.passkeys.conftest import CHROMIUM_ROOT, VIRTUAL_AAGUID, challenge_of, recorded_settings, response_json

REG_NONE, REG_PACKED, REG_NO_UV = load("registration_none"), load("registration_packed"), load("registration_no_uv")
AUTH_UV, AUTH_NO_UV = load("authentication_uv_1"), load("authentication_no_uv")


def rp(**overrides: object) -> RelyingParty:
    return RelyingParty(recorded_settings(**overrides))


def public_key_of(registration: dict[str, object]) -> bytes:
    return rp().verify_registration(
        response_json(registration), challenge=challenge_of(registration), require_uv=False
    ).public_key


def code_of(excinfo: pytest.ExceptionInfo[PasskeyError]) -> str:
    return excinfo.value.code


# --- options -------------------------------------------------------------------------------------------------


def test_registration_options_offer_the_configured_algorithms_and_exclude_existing_keys() -> None:
    existing = CredentialDescriptor(b"\x01\x02\x03", ("usb", "nfc", "carrier-pigeon"))
    options = json.loads(rp(algorithms=(-8, -7)).registration_options(
        challenge=b"c" * 32, user_handle=b"h" * 32, user_name="alice", display_name="Alice Martin",
        exclude=[existing], require_uv=True, attestation=True,
    ))
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-8, -7]
    assert options["excludeCredentials"] == [{"id": "AQID", "type": "public-key", "transports": ["usb", "nfc"]}]
    assert options["authenticatorSelection"] == {
        "residentKey": "preferred", "requireResidentKey": False, "userVerification": "required",
    }
    assert options["attestation"] == "direct"
    assert options["rp"] == {"id": "localhost", "name": "Mandat"}
    assert options["user"] == {"id": b64url(b"h" * 32), "name": "alice", "displayName": "Alice Martin"}
    assert options["challenge"] == b64url(b"c" * 32)
    assert options["timeout"] == 300_000


def test_registration_options_without_uv_prefer_it_and_ask_no_attestation() -> None:
    options = json.loads(rp().registration_options(
        challenge=b"c" * 32, user_handle=b"h" * 32, user_name="a", display_name="a", exclude=[],
        require_uv=False, attestation=False,
    ))
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == []


def test_authentication_options_list_allowed_keys_or_none_for_discoverable() -> None:
    allowed = json.loads(rp().authentication_options(
        challenge=b"c" * 32, allow=[CredentialDescriptor(b"\xff", ("internal",))], require_uv=True
    ))
    assert allowed["allowCredentials"] == [{"id": "_w", "type": "public-key", "transports": ["internal"]}]
    assert allowed["userVerification"] == "required"
    assert allowed["rpId"] == "localhost"
    discoverable = json.loads(rp().authentication_options(challenge=b"c" * 32, allow=[], require_uv=False))
    assert discoverable["allowCredentials"] == []
    assert discoverable["userVerification"] == "preferred"


def test_recorded_options_are_what_the_wrapper_produced() -> None:
    # The recorder used this wrapper; the browser accepted exactly these options.
    assert REG_NONE["options"]["pubKeyCredParams"] == [
        {"alg": -7, "type": "public-key"}, {"alg": -8, "type": "public-key"}, {"alg": -257, "type": "public-key"},
    ]
    assert REG_NONE["options"]["challenge"] == REG_NONE["challenge"]


# --- registration --------------------------------------------------------------------------------------------


def test_registration_without_attestation_verifies_with_a_zeroed_aaguid() -> None:
    registered = rp().verify_registration(response_json(REG_NONE), challenge=challenge_of(REG_NONE), require_uv=True)
    assert registered.fmt == "none"
    # Chromium zeroes the AAGUID when no attestation is conveyed: the model is unknown.
    assert registered.aaguid == "00000000-0000-0000-0000-000000000000"
    assert registered.user_verified is True
    assert registered.sign_count == 1
    assert registered.transports == ("usb",)
    assert registered.attestation_trusted is False
    assert b64url(registered.credential_id) == REG_NONE["response"]["id"]


def test_packed_attestation_is_trusted_only_with_a_root_for_its_format() -> None:
    untrusted = rp().verify_registration(
        response_json(REG_PACKED), challenge=challenge_of(REG_PACKED), require_uv=True
    )
    assert (untrusted.fmt, untrusted.aaguid, untrusted.attestation_trusted) == ("packed", VIRTUAL_AAGUID, False)
    trusted = rp(attestation_roots={"packed": (CHROMIUM_ROOT,)}).verify_registration(
        response_json(REG_PACKED), challenge=challenge_of(REG_PACKED), require_uv=True
    )
    assert trusted.attestation_trusted is True


def test_packed_attestation_from_another_root_is_untrusted() -> None:
    other_root = _self_signed_pem()
    with pytest.raises(PasskeyError) as excinfo:
        rp(attestation_roots={"packed": (other_root,)}).verify_registration(
            response_json(REG_PACKED), challenge=challenge_of(REG_PACKED), require_uv=True
        )
    assert code_of(excinfo) == "attestation_untrusted"


@pytest.mark.parametrize("registration", [REG_NONE, REG_PACKED], ids=["none", "packed"])
def test_registration_from_another_origin_is_refused(registration: dict[str, object]) -> None:
    with pytest.raises(PasskeyError) as excinfo:
        rp(origins=("https://mandat.example",)).verify_registration(
            response_json(registration), challenge=challenge_of(registration), require_uv=True
        )
    assert code_of(excinfo) == "bad_origin"
    assert excinfo.value.public == "This security key response was made for another site."


def test_registration_for_another_rp_id_is_refused() -> None:
    with pytest.raises(PasskeyError) as excinfo:
        rp(rp_id="mandat.example").verify_registration(
            response_json(REG_NONE), challenge=challenge_of(REG_NONE), require_uv=True
        )
    assert code_of(excinfo) == "bad_rp_id"


def test_registration_for_another_challenge_is_refused() -> None:
    with pytest.raises(PasskeyError) as excinfo:
        rp().verify_registration(response_json(REG_NONE), challenge=challenge_of(REG_PACKED), require_uv=True)
    assert code_of(excinfo) == "challenge_mismatch"


def test_registration_without_uv_is_refused_when_uv_is_required() -> None:
    with pytest.raises(PasskeyError) as excinfo:
        rp().verify_registration(response_json(REG_NO_UV), challenge=challenge_of(REG_NO_UV), require_uv=True)
    assert code_of(excinfo) == "user_verification_required"
    registered = rp().verify_registration(
        response_json(REG_NO_UV), challenge=challenge_of(REG_NO_UV), require_uv=False
    )
    assert registered.user_verified is False


def test_registration_with_an_algorithm_not_offered_is_refused() -> None:
    # The virtual authenticator makes ES256 keys; a configuration without ES256 must refuse them.
    with pytest.raises(PasskeyError) as excinfo:
        rp(algorithms=(-8, -257)).verify_registration(
            response_json(REG_NONE), challenge=challenge_of(REG_NONE), require_uv=True
        )
    assert code_of(excinfo) == "algorithm_not_allowed"


@pytest.mark.parametrize(
    "response",
    ["not json", "{}", json.dumps({"id": "x", "rawId": "x", "type": "public-key", "response": {}}),
     json.dumps(AUTH_UV["response"])],
    ids=["garbage", "empty", "no-response-fields", "an-assertion"],
)
def test_malformed_registration_responses_are_refused(response: str) -> None:
    with pytest.raises(PasskeyError) as excinfo:
        rp().verify_registration(response, challenge=challenge_of(REG_NONE), require_uv=False)
    assert code_of(excinfo) == "malformed"


def test_attestation_chain_is_exposed_for_operators() -> None:
    chain = rp().attestation_chain(response_json(REG_PACKED))
    assert len(chain) == 1 and chain[0][:1] == b"\x30"  # one DER certificate
    assert rp().attestation_chain(response_json(REG_NONE)) == ()


# --- authentication ------------------------------------------------------------------------------------------


def test_recorded_assertion_verifies_and_reports_its_counter() -> None:
    verified = rp().verify_authentication(
        response_json(AUTH_UV), challenge=challenge_of(AUTH_UV), public_key=public_key_of(REG_NONE), require_uv=True
    )
    assert verified.user_verified is True
    assert verified.sign_count == AUTH_UV["sign_count_after"]
    assert b64url(verified.credential_id) == REG_NONE["response"]["id"]


def test_assertion_identity_reads_id_and_user_handle() -> None:
    credential_id, user_handle = rp().assertion_identity(response_json(load("authentication_discoverable")))
    assert b64url(credential_id) == REG_NONE["response"]["id"]
    assert user_handle is not None and b64url(user_handle) == REG_NONE["user_handle"]


def test_assertion_from_another_origin_is_refused() -> None:
    with pytest.raises(PasskeyError) as excinfo:
        rp(origins=("http://localhost:1",)).verify_authentication(
            response_json(AUTH_UV), challenge=challenge_of(AUTH_UV), public_key=public_key_of(REG_NONE),
            require_uv=True,
        )
    assert code_of(excinfo) == "bad_origin"


def test_assertion_for_another_rp_id_is_refused() -> None:
    with pytest.raises(PasskeyError) as excinfo:
        rp(rp_id="mandat.example").verify_authentication(
            response_json(AUTH_UV), challenge=challenge_of(AUTH_UV), public_key=public_key_of(REG_NONE),
            require_uv=True,
        )
    assert code_of(excinfo) == "bad_rp_id"


def test_assertion_for_another_challenge_is_refused() -> None:
    with pytest.raises(PasskeyError) as excinfo:
        rp().verify_authentication(
            response_json(AUTH_UV), challenge=b"\x00" * 32, public_key=public_key_of(REG_NONE), require_uv=True
        )
    assert code_of(excinfo) == "challenge_mismatch"


def test_assertion_without_uv_is_refused_when_uv_is_required() -> None:
    with pytest.raises(PasskeyError) as excinfo:
        rp().verify_authentication(
            response_json(AUTH_NO_UV), challenge=challenge_of(AUTH_NO_UV), public_key=public_key_of(REG_NO_UV),
            require_uv=True,
        )
    assert code_of(excinfo) == "user_verification_required"
    verified = rp().verify_authentication(
        response_json(AUTH_NO_UV), challenge=challenge_of(AUTH_NO_UV), public_key=public_key_of(REG_NO_UV),
        require_uv=False,
    )
    assert verified.user_verified is False


def test_assertion_checked_against_another_key_has_an_invalid_signature() -> None:
    with pytest.raises(PasskeyError) as excinfo:
        rp().verify_authentication(
            response_json(AUTH_UV), challenge=challenge_of(AUTH_UV), public_key=public_key_of(REG_PACKED),
            require_uv=True,
        )
    assert code_of(excinfo) == "signature_invalid"


def test_resigned_assertion_with_the_recorded_key_verifies() -> None:
    # Guards the crafting helper the counter tests rely on: a variant signed with the real key must pass.
    variant = resign_assertion(AUTH_UV, REG_NONE, challenge=b"n" * 32, sign_count=41)
    verified = rp().verify_authentication(
        json.dumps(variant), challenge=b"n" * 32, public_key=public_key_of(REG_NONE), require_uv=True
    )
    assert verified.sign_count == 41


def test_tampered_authenticator_data_breaks_the_signature() -> None:
    variant = resign_assertion(AUTH_UV, REG_NONE, challenge=b"n" * 32, sign_count=41)
    raw = bytearray(b64url_decode(variant["response"]["authenticatorData"]))
    raw[36] ^= 0x01  # counter 41 -> 40, without re-signing
    variant["response"]["authenticatorData"] = b64url_encode(bytes(raw))
    with pytest.raises(PasskeyError) as excinfo:
        rp().verify_authentication(
            json.dumps(variant), challenge=b"n" * 32, public_key=public_key_of(REG_NONE), require_uv=True
        )
    assert code_of(excinfo) == "signature_invalid"


def _self_signed_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some Other Attestation Root")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.PEM)
