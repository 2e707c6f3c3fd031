"""The virtual card answers every command of the profile with the status word a real IAS-ECC card would."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from idp.cards import profile
from idp.cards.apdu import SW, CommandApdu, MalformedApdu, ResponseApdu
from idp.cards.emulator import VirtualCpsCard

from .conftest import PIN

SELECT_APP = CommandApdu(0x00, 0xA4, 0x04, 0x0C, profile.CPS_AID)
SELECT_CERT = CommandApdu(0x00, 0xA4, 0x02, 0x0C, profile.CERT_FILE_ID)
MSE = CommandApdu(0x00, 0x22, 0x41, 0xB6, bytes([0x80, 1, profile.ALG_RSA_PKCS1_SHA256, 0x84, 1,
                                                   profile.AUTH_KEY_REF]))
DIGEST = hashlib.sha256(b"challenge").digest()
PSO = CommandApdu(0x00, 0x2A, 0x9E, 0x9A, DIGEST, le=256)


def verify(pin: str) -> CommandApdu:
    return CommandApdu(0x00, 0x20, 0x00, profile.PIN_REF, profile.encode_pin(pin))


def send(card: VirtualCpsCard, command: CommandApdu | bytes) -> ResponseApdu:
    raw = command if isinstance(command, bytes) else command.to_bytes()
    return ResponseApdu.parse(card.transmit(raw))


def sw(card: VirtualCpsCard, command: CommandApdu | bytes) -> int:
    return send(card, command).sw


# --- APDU encoding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    CommandApdu(0x00, 0xA4, 0x04, 0x0C),
    CommandApdu(0x00, 0xB0, 0x00, 0x10, le=256),
    CommandApdu(0x00, 0x20, 0x00, 0x81, b"12345678"),
    CommandApdu(0x00, 0x2A, 0x9E, 0x9A, bytes(32), le=256),
])
def test_command_apdus_round_trip_for_the_four_iso_cases(command: CommandApdu) -> None:
    assert CommandApdu.parse(command.to_bytes()) == command


@pytest.mark.parametrize("raw", [b"\x00\xa4\x04", b"\x00\xa4\x04\x0c\x05\x01\x02", b"\x00\xa4\x04\x0c\x00\x01\x02"])
def test_malformed_command_apdus_are_refused(raw: bytes) -> None:
    with pytest.raises(MalformedApdu):
        CommandApdu.parse(raw)


# --- SELECT ----------------------------------------------------------------------------------------------


def test_select_application_and_certificate_file(card: VirtualCpsCard) -> None:
    assert sw(card, SELECT_APP) == SW.OK
    assert sw(card, SELECT_CERT) == SW.OK


def test_select_unknown_aid_is_file_not_found(card: VirtualCpsCard) -> None:
    assert sw(card, CommandApdu(0x00, 0xA4, 0x04, 0x0C, b"\xa0\x00\x00\x00\x03")) == SW.FILE_NOT_FOUND == 0x6A82


def test_select_file_before_application_is_file_not_found(card: VirtualCpsCard) -> None:
    assert sw(card, SELECT_CERT) == 0x6A82


def test_select_unknown_file_is_file_not_found(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    assert sw(card, CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x2f\x00")) == 0x6A82


def test_select_with_unsupported_p1_p2_is_incorrect_parameters(card: VirtualCpsCard) -> None:
    assert sw(card, CommandApdu(0x00, 0xA4, 0x08, 0x0C, b"\x3f\x00")) == SW.INCORRECT_P1P2 == 0x6A86
    assert sw(card, CommandApdu(0x00, 0xA4, 0x04, 0x01, profile.CPS_AID)) == 0x6A86


def test_select_file_with_wrong_id_length_is_wrong_length(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    assert sw(card, CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\xd0\x01\x00")) == SW.WRONG_LENGTH == 0x6700


# --- class, instruction, length --------------------------------------------------------------------------


def test_unknown_class_is_class_not_supported(card: VirtualCpsCard) -> None:
    assert sw(card, CommandApdu(0x80, 0xA4, 0x04, 0x0C, profile.CPS_AID)) == SW.CLA_NOT_SUPPORTED == 0x6E00


def test_unknown_instruction_is_instruction_not_supported(card: VirtualCpsCard) -> None:
    assert sw(card, CommandApdu(0x00, 0x84, 0x00, 0x00, le=8)) == SW.INS_NOT_SUPPORTED == 0x6D00


@pytest.mark.parametrize("raw", [b"\x00\xa4", b"\x00\xa4\x04\x0c\x09\x01"])
def test_inconsistent_lengths_are_wrong_length(card: VirtualCpsCard, raw: bytes) -> None:
    assert sw(card, raw) == 0x6700


# --- READ BINARY -----------------------------------------------------------------------------------------


def test_read_binary_without_a_current_file_is_refused(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    assert sw(card, CommandApdu(0x00, 0xB0, 0x00, 0x00, le=16)) == SW.NO_CURRENT_EF == 0x6986


def test_certificate_reads_in_chunks_and_signals_the_end(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    send(card, SELECT_CERT)
    content = b""
    responses = []
    while True:
        offset = len(content)
        response = send(card, CommandApdu(0x00, 0xB0, offset >> 8, offset & 0xFF, le=200))
        responses.append(response.sw)
        content += response.data
        if response.sw != SW.OK:
            break
    assert responses[-1] == SW.END_OF_FILE == 0x6282
    assert set(responses[:-1]) == {SW.OK}
    certificate = x509.load_der_x509_certificate(content)
    assert certificate.subject.rfc4514_string().startswith("CN=8")


def test_read_binary_beyond_the_end_is_wrong_offset(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    send(card, SELECT_CERT)
    assert sw(card, CommandApdu(0x00, 0xB0, 0x7F, 0x00, le=16)) == SW.WRONG_OFFSET == 0x6B00


def test_read_binary_short_ef_addressing_is_not_supported(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    send(card, SELECT_CERT)
    assert sw(card, CommandApdu(0x00, 0xB0, 0x81, 0x00, le=16)) == SW.FUNCTION_NOT_SUPPORTED == 0x6A81


def test_read_binary_without_le_is_wrong_length(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    send(card, SELECT_CERT)
    assert sw(card, CommandApdu(0x00, 0xB0, 0x00, 0x00)) == 0x6700


# --- VERIFY ----------------------------------------------------------------------------------------------


def test_pin_tries_count_down_then_the_pin_blocks(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    assert sw(card, CommandApdu(0x00, 0x20, 0x00, profile.PIN_REF)) == 0x63C3
    assert [sw(card, verify("0000")) for _ in range(3)] == [0x63C2, 0x63C1, 0x63C0]
    assert sw(card, verify(PIN)) == SW.PIN_BLOCKED == 0x6983
    assert card.pin_tries_left == 0


def test_correct_pin_resets_the_try_counter(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    assert sw(card, verify("0000")) == 0x63C2
    assert sw(card, verify(PIN)) == SW.OK
    assert card.pin_tries_left == 3
    assert sw(card, CommandApdu(0x00, 0x20, 0x00, profile.PIN_REF)) == SW.OK


def test_verify_with_unknown_pin_reference_is_reference_not_found(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    assert sw(card, CommandApdu(0x00, 0x20, 0x00, 0x02, profile.encode_pin(PIN))) == 0x6A88


def test_verify_with_a_short_pin_block_is_wrong_length(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    assert sw(card, CommandApdu(0x00, 0x20, 0x00, profile.PIN_REF, b"1234")) == 0x6700
    assert card.pin_tries_left == 3


def test_try_counter_survives_a_reset_but_verification_does_not(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    send(card, verify("0000"))
    send(card, verify(PIN))
    send(card, verify("0000"))
    card.reset()
    send(card, SELECT_APP)
    assert card.pin_tries_left == 2
    send(card, MSE)
    assert sw(card, PSO) == 0x6982


# --- MSE + PSO: COMPUTE DIGITAL SIGNATURE ------------------------------------------------------------------


def test_signing_before_pin_verification_is_security_status_not_satisfied(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    assert sw(card, MSE) == SW.OK
    assert sw(card, PSO) == SW.SECURITY_NOT_SATISFIED == 0x6982


def test_signing_without_security_environment_is_conditions_not_satisfied(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    send(card, verify(PIN))
    assert sw(card, PSO) == SW.CONDITIONS_NOT_SATISFIED == 0x6985


def test_unknown_algorithm_or_key_is_reference_not_found(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    assert sw(card, CommandApdu(0x00, 0x22, 0x41, 0xB6, bytes([0x80, 1, 0x02, 0x84, 1, 0x81]))) == 0x6A88
    assert sw(card, CommandApdu(0x00, 0x22, 0x41, 0xB6, bytes([0x80, 5, 0x42]))) == SW.WRONG_DATA == 0x6A80


def test_digest_of_wrong_length_is_wrong_length(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    send(card, verify(PIN))
    send(card, MSE)
    assert sw(card, CommandApdu(0x00, 0x2A, 0x9E, 0x9A, bytes(20), le=256)) == 0x6700


def test_signature_verifies_with_the_certificate_key(card: VirtualCpsCard) -> None:
    send(card, SELECT_APP)
    send(card, SELECT_CERT)
    der = b""
    while True:
        response = send(card, CommandApdu(0x00, 0xB0, len(der) >> 8, len(der) & 0xFF, le=256))
        der += response.data
        if response.sw != SW.OK:
            break
    send(card, verify(PIN))
    send(card, MSE)
    response = send(card, PSO)
    assert response.sw == SW.OK and len(response.data) == 256
    key = x509.load_der_x509_certificate(der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(response.data, b"challenge", padding.PKCS1v15(), hashes.SHA256())


def test_atr_has_a_valid_check_byte(card: VirtualCpsCard) -> None:
    checksum = 0
    for byte in card.atr[1:]:
        checksum ^= byte
    assert card.atr[0] == 0x3B and checksum == 0
