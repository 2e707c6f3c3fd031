"""ISO 7816-4 command and response APDUs, and the status words the CPS card application uses.

Short APDUs only (Lc and Le on one byte; Le = 0 means 256): every exchange of the CPS profile fits, including
a 256-byte RSA-2048 signature.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CLA_ISO",
    "INS_MSE",
    "INS_PSO",
    "INS_READ_BINARY",
    "INS_SELECT",
    "INS_VERIFY",
    "SW",
    "CommandApdu",
    "MalformedApdu",
    "ResponseApdu",
]

CLA_ISO = 0x00
INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_VERIFY = 0x20
INS_MSE = 0x22
INS_PSO = 0x2A


class SW:
    """Status words (ISO 7816-4 §5.1.3) as 16-bit integers."""

    OK = 0x9000
    END_OF_FILE = 0x6282  # fewer bytes than Le: end of file reached
    WRONG_LENGTH = 0x6700
    SECURITY_NOT_SATISFIED = 0x6982  # e.g. signing before the PIN was verified
    PIN_BLOCKED = 0x6983  # authentication method blocked
    CONDITIONS_NOT_SATISFIED = 0x6985  # e.g. PSO without a prior MSE
    NO_CURRENT_EF = 0x6986  # READ BINARY with no file selected
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    INCORRECT_P1P2 = 0x6A86
    REFERENCE_NOT_FOUND = 0x6A88
    WRONG_OFFSET = 0x6B00  # P1-P2 offset beyond the end of the file
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00

    @staticmethod
    def pin_tries_left(tries: int) -> int:
        """63Cx: verification failed, x tries left."""
        return 0x63C0 | (tries & 0x0F)


class MalformedApdu(ValueError):
    """Bytes that are not a valid short command APDU."""


@dataclass(frozen=True, slots=True)
class CommandApdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None  # expected response length; 256 is encoded as 00

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise MalformedApdu(f"{name} out of range")
        if len(self.data) > 255:
            raise MalformedApdu("extended Lc is not supported")
        if self.le is not None and not 1 <= self.le <= 256:
            raise MalformedApdu("Le must be between 1 and 256")

    def to_bytes(self) -> bytes:
        out = bytes([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            out += bytes([len(self.data)]) + self.data
        if self.le is not None:
            out += bytes([self.le & 0xFF])
        return out

    @classmethod
    def parse(cls, raw: bytes) -> CommandApdu:
        """Decode the four ISO cases; raises MalformedApdu when the length bytes do not add up."""
        if len(raw) < 4:
            raise MalformedApdu("shorter than a header")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        body = raw[4:]
        if not body:  # case 1
            return cls(cla, ins, p1, p2)
        if len(body) == 1:  # case 2: Le only
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        lc = body[0]
        if lc == 0:
            raise MalformedApdu("extended length is not supported")
        if len(body) == 1 + lc:  # case 3
            return cls(cla, ins, p1, p2, data=body[1:])
        if len(body) == 2 + lc:  # case 4
            return cls(cla, ins, p1, p2, data=body[1:-1], le=body[-1] or 256)
        raise MalformedApdu("Lc does not match the data length")


@dataclass(frozen=True, slots=True)
class ResponseApdu:
    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == SW.OK

    def to_bytes(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    @classmethod
    def parse(cls, raw: bytes) -> ResponseApdu:
        if len(raw) < 2:
            raise MalformedApdu("a response has at least a status word")
        return cls(raw[:-2], int.from_bytes(raw[-2:], "big"))

    @classmethod
    def status(cls, sw: int) -> ResponseApdu:
        return cls(b"", sw)

    def __str__(self) -> str:
        return f"{len(self.data)} bytes, SW={self.sw:04X}"
