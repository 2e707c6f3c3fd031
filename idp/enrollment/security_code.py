"""Mailed security codes: 60 random bits, Crockford base32, a mod-37 check symbol, stored as a keyed hash.

Printed form: ``7K3M-Q9TB-X2HE-W`` — 12 data symbols in groups of 4, then Crockford's check symbol (the 60-bit
value mod 37, written with the 32 data symbols plus ``*~$=U``). The check symbol catches a mistyped or swapped
character before the code is checked, so a typo never counts towards the guess backoff. Parsing forgives case,
spaces and hyphens, and reads I and L as 1 and O as 0, as Crockford specifies.

**Why HMAC with a server secret, and not argon2 or a plain hash.** Online guessing is already hopeless: the
per-source backoff (guessing.py) allows one check per few minutes, and even the ceiling of a million wrong tries
per code leaves 1e6 / 2^60 ≈ 9e-13. The remaining threat is a copy of the database. A plain SHA-256 of a 60-bit
value can be searched offline (2^60 hashes is a few GPU-years, well within reach for one chosen target), and
argon2 would only multiply that cost by a constant while slowing every activation. HMAC-SHA256 keyed with a secret
that lives outside the database makes a stolen table useless on its own: without the key no guess can be checked.
The number and the purpose are bound into the MAC, so a code only works for the record and purpose it was mailed
for.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from idp.enrollment.errors import CodeError

__all__ = ["CODE_BITS", "check_symbol", "format_code", "generate_code", "hash_code", "parse_code"]

CODE_BITS = 60
_DATA_SYMBOLS = 12  # 60 bits / 5 bits per symbol
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CHECK_ALPHABET = _ALPHABET + "*~$=U"
_DECODE = {ch: i for i, ch in enumerate(_ALPHABET)} | {"I": 1, "L": 1, "O": 0}
_CHECK_DECODE = _DECODE | {ch: 32 + i for i, ch in enumerate("*~$=U")}


def check_symbol(value: int) -> str:
    return _CHECK_ALPHABET[value % 37]


def format_code(value: int) -> str:
    """The printed form of a 60-bit value: four groups of data and check symbols, separated by hyphens."""
    if not 0 <= value < 1 << CODE_BITS:
        raise ValueError("a security code is a 60-bit value")
    symbols = "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(_DATA_SYMBOLS)))
    groups = [symbols[i : i + 4] for i in range(0, _DATA_SYMBOLS, 4)]
    return "-".join([*groups, check_symbol(value)])


def generate_code() -> str:
    return format_code(secrets.randbits(CODE_BITS))


def _malformed(detail: str) -> CodeError:
    return CodeError(
        "code_invalid",
        "This code is not valid. Please check it against your letter: it has 13 characters.",
        detail=detail,
    )


def parse_code(typed: str) -> str:
    """The canonical form (upper case, hyphenated) of what a citizen typed, or `code_invalid`.

    A typo caught here by the check symbol never reaches the database, so it does not use up a try.
    """
    compact = "".join(ch for ch in typed.upper() if ch not in " \t-")
    if len(compact) != _DATA_SYMBOLS + 1:
        raise _malformed(f"length {len(compact)}")
    value = 0
    for ch in compact[:-1]:
        digit = _DECODE.get(ch)
        if digit is None:
            raise _malformed(f"symbol {ch!r}")
        value = value << 5 | digit
    check = _CHECK_DECODE.get(compact[-1])
    if check is None or check != value % 37:
        raise _malformed("check symbol")
    return format_code(value)


def hash_code(secret_key: bytes, *, number: str, purpose: str, code: str) -> str:
    """HMAC-SHA256 over the canonical code bound to its number and purpose (hex, 64 characters)."""
    if len(secret_key) < 32:
        raise ValueError("the server secret must be at least 32 bytes")
    message = f"mandat.enrollment.security-code\x00{purpose}\x00{number}\x00{parse_code(code)}".encode()
    return hmac.new(secret_key, message, hashlib.sha256).hexdigest()
