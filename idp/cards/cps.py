"""Host side of the CPS card application: the APDU sequence that reads the certificate, checks the PIN and signs.

It only needs a `transmit(bytes) -> bytes` function, so the same code drives a card through pcscd (pcsc.py)
or the emulator in process (tests). Status words become our typed errors here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from idp.cards import profile
from idp.cards.apdu import (
    CLA_ISO,
    INS_MSE,
    INS_PSO,
    INS_READ_BINARY,
    INS_SELECT,
    INS_VERIFY,
    SW,
    CommandApdu,
    MalformedApdu,
    ResponseApdu,
)
from idp.cards.errors import CardBlocked, CardProtocolError, WrongPin

__all__ = ["MAX_CERTIFICATE_SIZE", "CardSignature", "CpsCard"]

MAX_CERTIFICATE_SIZE = 16 * 1024  # a CPS certificate is ~1.5 KB; stop a faulty card from looping forever


@dataclass(frozen=True, slots=True)
class CardSignature:
    certificate: bytes  # DER
    signature: bytes
    alg: str


class CpsCard:
    def __init__(self, transmit: Callable[[bytes], bytes]) -> None:
        self._transmit = transmit

    def _send(self, command: CommandApdu) -> ResponseApdu:
        try:
            return ResponseApdu.parse(self._transmit(command.to_bytes()))
        except MalformedApdu as exc:
            raise CardProtocolError(f"INS {command.ins:02X}: {exc}") from None

    def _expect_ok(self, command: CommandApdu, step: str) -> ResponseApdu:
        response = self._send(command)
        if not response.ok:
            raise CardProtocolError(f"{step}: SW={response.sw:04X}")
        return response

    def select_application(self) -> None:
        self._expect_ok(CommandApdu(CLA_ISO, INS_SELECT, 0x04, 0x0C, profile.CPS_AID), "SELECT application")

    def read_certificate(self) -> bytes:
        self._expect_ok(CommandApdu(CLA_ISO, INS_SELECT, 0x02, 0x0C, profile.CERT_FILE_ID), "SELECT certificate")
        content = bytearray()
        while len(content) < MAX_CERTIFICATE_SIZE:
            offset = len(content)
            response = self._send(CommandApdu(CLA_ISO, INS_READ_BINARY, offset >> 8, offset & 0xFF, le=256))
            if response.sw == SW.OK and response.data:
                content += response.data
                continue
            if response.sw == SW.END_OF_FILE:
                content += response.data
                return bytes(content)
            if response.sw == SW.WRONG_OFFSET and content:  # the file ended exactly on a chunk boundary
                return bytes(content)
            raise CardProtocolError(f"READ BINARY at {offset}: SW={response.sw:04X}")
        raise CardProtocolError("certificate file larger than any CPS certificate")

    def pin_tries_left(self) -> int:
        """Tries left before the PIN blocks (0 when blocked), asked without presenting a PIN."""
        response = self._send(CommandApdu(CLA_ISO, INS_VERIFY, 0x00, profile.PIN_REF))
        if response.sw == SW.OK:
            return profile.PIN_TRIES
        if response.sw == SW.PIN_BLOCKED:
            return 0
        if response.sw & 0xFFF0 == 0x63C0:
            return response.sw & 0x0F
        raise CardProtocolError(f"VERIFY status: SW={response.sw:04X}")

    def verify_pin(self, pin: str) -> None:
        """Present the PIN. Raises WrongPin with the tries left, or CardBlocked."""
        response = self._send(CommandApdu(CLA_ISO, INS_VERIFY, 0x00, profile.PIN_REF, profile.encode_pin(pin)))
        if response.sw == SW.OK:
            return
        if response.sw == SW.PIN_BLOCKED:
            raise CardBlocked("VERIFY: 6983")
        if response.sw & 0xFFF0 == 0x63C0:
            tries = response.sw & 0x0F
            if tries == 0:  # the last try failed: the PIN is blocked from now on
                raise CardBlocked("VERIFY: 63C0")
            raise WrongPin(tries)
        raise CardProtocolError(f"VERIFY: SW={response.sw:04X}")

    def sign_digest(self, digest: bytes) -> bytes:
        tlv = bytes([0x80, 1, profile.ALG_RSA_PKCS1_SHA256, 0x84, 1, profile.AUTH_KEY_REF])
        self._expect_ok(CommandApdu(CLA_ISO, INS_MSE, 0x41, 0xB6, tlv), "MSE SET DST")
        return self._expect_ok(CommandApdu(CLA_ISO, INS_PSO, 0x9E, 0x9A, digest, le=256), "PSO CDS").data

    def authenticate(self, pin: str, message: bytes) -> CardSignature:
        """The whole sign-in exchange: select, read the certificate, verify the PIN, sign SHA-256(message)."""
        self.select_application()
        certificate = self.read_certificate()
        self.verify_pin(pin)
        signature = self.sign_digest(hashlib.sha256(message).digest())
        return CardSignature(certificate, signature, profile.SIGNATURE_ALG)
