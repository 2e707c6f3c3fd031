"""The card application profile shared by the virtual card (emulator.py) and the host side (cps.py).

Modelled on the IAS-ECC profile of the CPS3 card, simplified to what authentication needs:

1. `SELECT` the application by AID (`00 A4 04 0C`).
2. `SELECT` the authentication certificate file by its 2-byte id (`00 A4 02 0C`), then `READ BINARY` it in
   chunks (`00 B0 offset Le`), until the card answers `6282` (fewer bytes than asked: end of file).
3. `VERIFY` the PIN (`00 20 00 81`, 8 bytes: ASCII digits padded with FF). Three tries: `63Cx` says how many
   remain, `6983` once blocked. An empty `VERIFY` only reports the tries left.
4. `MSE: SET DST` (`00 22 41 B6`, `80 01 <algorithm>` `84 01 <key>`) chooses the key and algorithm, then
   `PSO: COMPUTE DIGITAL SIGNATURE` (`00 2A 9E 9A`) signs a SHA-256 digest with RSA-2048 PKCS#1 v1.5, as
   the CPS3 authentication key does. Refused with `6982` until the PIN is verified.

The AID, file id and references below are this project's test values, not the CPS3 ones: a real card needs
its own profile, not a change in the protocol steps.
"""

from __future__ import annotations

__all__ = [
    "ALG_RSA_PKCS1_SHA256",
    "ATR",
    "AUTH_KEY_REF",
    "CERT_FILE_ID",
    "CPS_AID",
    "PIN_LENGTH",
    "PIN_PAD",
    "PIN_REF",
    "PIN_TRIES",
    "SIGNATURE_ALG",
    "encode_pin",
]

CPS_AID = bytes.fromhex("D2500000014D414E444154")  # D2 50 = national RID, France (250); "MANDAT"
CERT_FILE_ID = bytes.fromhex("D001")
PIN_REF = 0x81  # local (application) PIN
PIN_TRIES = 3
PIN_LENGTH = 8
PIN_PAD = 0xFF
AUTH_KEY_REF = 0x81
ALG_RSA_PKCS1_SHA256 = 0x42
SIGNATURE_ALG = "RS256"  # JOSE name of RSASSA-PKCS1-v1_5 with SHA-256, as reported to the IdP


def _atr() -> bytes:
    historical = b"MANDAT CPS"
    # T0: TD1 follows, 10 historical bytes; TD1: T=0, TD2 follows; TD2: T=1. TCK makes the XOR from T0 zero.
    body = bytes([0x80 | len(historical), 0x80, 0x01]) + historical
    tck = 0
    for byte in body:
        tck ^= byte
    return bytes([0x3B]) + body + bytes([tck])


ATR = _atr()


def encode_pin(pin: str) -> bytes:
    """ASCII digits padded with FF to 8 bytes; raises ValueError for anything but 4 to 8 digits."""
    if not 4 <= len(pin) <= PIN_LENGTH or not all("0" <= c <= "9" for c in pin):
        raise ValueError("a PIN is 4 to 8 digits")
    return pin.encode("ascii").ljust(PIN_LENGTH, bytes([PIN_PAD]))
