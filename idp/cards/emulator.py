"""A virtual CPS card at APDU level, for tests and the demo (see profile.py for the command set).

The card holds one certificate file and its RSA-2048 private key, both produced by `make_test_pki`. It is
reached in process (`transmit`) or over real PC/SC through vpcd (vpcd.py). Signing uses `cryptography`, like
the card's own crypto engine would; nothing here is hand-rolled crypto.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

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
from idp.cards.errors import NoCard

__all__ = ["CERT_FILE_NAME", "KEY_FILE_NAME", "InProcessReader", "VirtualCpsCard"]

CERT_FILE_NAME = "cert.der"
KEY_FILE_NAME = "key.pem"

_Handler = Callable[[CommandApdu], ResponseApdu]


class VirtualCpsCard:
    """State of one card: selected application and file, PIN tries, security status, chosen key."""

    def __init__(self, certificate_der: bytes, private_key: rsa.RSAPrivateKey, pin: str) -> None:
        self._certificate = certificate_der
        self._key = private_key
        self._pin = profile.encode_pin(pin)
        self._tries = profile.PIN_TRIES
        self._lock = threading.Lock()
        self._handlers: dict[int, _Handler] = {
            INS_SELECT: self._select,
            INS_READ_BINARY: self._read_binary,
            INS_VERIFY: self._verify,
            INS_MSE: self._mse,
            INS_PSO: self._pso,
        }
        self.reset()

    @classmethod
    def from_dir(cls, card_dir: Path, pin: str) -> VirtualCpsCard:
        """Load `cert.der` and `key.pem` as written by `make_test_pki` for one card."""
        key = serialization.load_pem_private_key((card_dir / KEY_FILE_NAME).read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{card_dir / KEY_FILE_NAME}: the virtual CPS card holds an RSA key")
        return cls((card_dir / CERT_FILE_NAME).read_bytes(), key, pin)

    @property
    def atr(self) -> bytes:
        return profile.ATR

    @property
    def pin_tries_left(self) -> int:
        return self._tries

    def reset(self) -> None:
        """Power cycle or warm reset: volatile state is lost, the PIN try counter (in EEPROM) is not."""
        self._app_selected = False
        self._current_ef: bytes | None = None
        self._pin_verified = False
        self._security_env: tuple[int, int] | None = None

    def transmit(self, raw: bytes) -> bytes:
        """Process one C-APDU and return the R-APDU bytes."""
        with self._lock:
            return self._process(raw).to_bytes()

    def _process(self, raw: bytes) -> ResponseApdu:
        try:
            command = CommandApdu.parse(raw)
        except MalformedApdu:
            return ResponseApdu.status(SW.WRONG_LENGTH)
        if command.cla != CLA_ISO:
            return ResponseApdu.status(SW.CLA_NOT_SUPPORTED)
        handler = self._handlers.get(command.ins)
        if handler is None:
            return ResponseApdu.status(SW.INS_NOT_SUPPORTED)
        return handler(command)

    # --- commands -------------------------------------------------------------------------------------

    def _select(self, command: CommandApdu) -> ResponseApdu:
        if command.p1 == 0x04:  # by DF name (AID)
            if command.p2 not in (0x00, 0x0C):
                return ResponseApdu.status(SW.INCORRECT_P1P2)
            if command.data != profile.CPS_AID:
                return ResponseApdu.status(SW.FILE_NOT_FOUND)
            self.reset()  # selecting the application starts a fresh session, as on IAS-ECC
            self._app_selected = True
            return ResponseApdu.status(SW.OK)
        if command.p1 == 0x02:  # EF under the current DF
            if command.p2 != 0x0C:
                return ResponseApdu.status(SW.INCORRECT_P1P2)
            if len(command.data) != 2:
                return ResponseApdu.status(SW.WRONG_LENGTH)
            if not self._app_selected or command.data != profile.CERT_FILE_ID:
                return ResponseApdu.status(SW.FILE_NOT_FOUND)
            self._current_ef = command.data
            return ResponseApdu.status(SW.OK)
        return ResponseApdu.status(SW.INCORRECT_P1P2)

    def _read_binary(self, command: CommandApdu) -> ResponseApdu:
        if command.p1 & 0x80:  # short-EF addressing is not offered by this profile
            return ResponseApdu.status(SW.FUNCTION_NOT_SUPPORTED)
        if command.data or command.le is None:
            return ResponseApdu.status(SW.WRONG_LENGTH)
        if self._current_ef is None:
            return ResponseApdu.status(SW.NO_CURRENT_EF)
        offset = (command.p1 << 8) | command.p2
        content = self._certificate
        if offset >= len(content):
            return ResponseApdu.status(SW.WRONG_OFFSET)
        chunk = content[offset:offset + command.le]
        return ResponseApdu(chunk, SW.OK if len(chunk) == command.le else SW.END_OF_FILE)

    def _verify(self, command: CommandApdu) -> ResponseApdu:
        if command.p1 != 0x00:
            return ResponseApdu.status(SW.INCORRECT_P1P2)
        if command.p2 != profile.PIN_REF or not self._app_selected:
            return ResponseApdu.status(SW.REFERENCE_NOT_FOUND)
        if self._tries == 0:
            return ResponseApdu.status(SW.PIN_BLOCKED)
        if not command.data:  # ISO 7816-4: an empty VERIFY asks for the status
            return ResponseApdu.status(SW.OK if self._pin_verified else SW.pin_tries_left(self._tries))
        if len(command.data) != profile.PIN_LENGTH:
            return ResponseApdu.status(SW.WRONG_LENGTH)
        if command.data != self._pin:
            self._tries -= 1
            self._pin_verified = False
            return ResponseApdu.status(SW.pin_tries_left(self._tries))
        self._tries = profile.PIN_TRIES
        self._pin_verified = True
        return ResponseApdu.status(SW.OK)

    def _mse(self, command: CommandApdu) -> ResponseApdu:
        if (command.p1, command.p2) != (0x41, 0xB6):  # SET, digital signature template
            return ResponseApdu.status(SW.INCORRECT_P1P2)
        if not self._app_selected:
            return ResponseApdu.status(SW.CONDITIONS_NOT_SATISFIED)
        fields = _parse_simple_tlv(command.data)
        if fields is None:
            return ResponseApdu.status(SW.WRONG_DATA)
        if fields.get(0x80) != bytes([profile.ALG_RSA_PKCS1_SHA256]) \
                or fields.get(0x84) != bytes([profile.AUTH_KEY_REF]):
            return ResponseApdu.status(SW.REFERENCE_NOT_FOUND)
        self._security_env = (profile.ALG_RSA_PKCS1_SHA256, profile.AUTH_KEY_REF)
        return ResponseApdu.status(SW.OK)

    def _pso(self, command: CommandApdu) -> ResponseApdu:
        if (command.p1, command.p2) != (0x9E, 0x9A):  # COMPUTE DIGITAL SIGNATURE only
            return ResponseApdu.status(SW.INCORRECT_P1P2)
        if not self._pin_verified:
            return ResponseApdu.status(SW.SECURITY_NOT_SATISFIED)
        if self._security_env is None:
            return ResponseApdu.status(SW.CONDITIONS_NOT_SATISFIED)
        if len(command.data) != 32:
            return ResponseApdu.status(SW.WRONG_LENGTH)
        signature = self._key.sign(command.data, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        return ResponseApdu(signature, SW.OK)


def _parse_simple_tlv(data: bytes) -> dict[int, bytes] | None:
    fields: dict[int, bytes] = {}
    index = 0
    while index < len(data):
        if index + 2 > len(data):
            return None
        tag, length = data[index], data[index + 1]
        value = data[index + 2:index + 2 + length]
        if len(value) != length:
            return None
        fields[tag] = value
        index += 2 + length
    return fields


class InProcessReader:
    """A reader holding a virtual card in this process: the agent's `CardReader` without pcscd.

    Used by unit tests and the demo when no PC/SC stack is installed; end-to-end tests use pcscd + vpcd.
    """

    name = "Mandat in-process reader"

    def __init__(self, card: VirtualCpsCard | None) -> None:
        self.card = card

    def statuses(self) -> list[tuple[str, bool]]:
        return [(self.name, self.card is not None)]

    @contextmanager
    def connect(self) -> Iterator[Callable[[bytes], bytes]]:
        if self.card is None:
            raise NoCard(f"no card in {self.name}")
        self.card.reset()
        yield self.card.transmit
