"""The only module that imports pyscard. It talks to pcscd and turns PC/SC return codes into our errors.

It uses pyscard's thin `smartcard.scard` layer, whose calls return the PC/SC code itself, so each code maps
to exactly one of our errors (the high-level pyscard classes fold several codes into one exception).
Calls block: the agent runs them in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

from smartcard import scard

from idp.cards.errors import CardError, CardProtocolError, CardRemoved, NoCard, NoReader

__all__ = ["PcscCard", "PcscContext", "ReaderStatus"]

_NO_SERVICE = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED}
_NO_READER = {scard.SCARD_E_NO_READERS_AVAILABLE, scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE}
_NO_CARD = {scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_UNPOWERED_CARD, scard.SCARD_W_UNRESPONSIVE_CARD}
# During an exchange these all mean the card went away; NOT_TRANSACTED is what pcscd reports when the reader
# loses the card mid-APDU, before its presence poll (~0.4 s) notices the removal.
_REMOVED = {scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_UNPOWERED_CARD,
            scard.SCARD_W_RESET_CARD, scard.SCARD_E_NOT_TRANSACTED, scard.SCARD_E_COMM_DATA_LOST}


def _describe(code: int) -> str:
    return f"0x{code & 0xFFFFFFFF:08X} {scard.SCardGetErrorMessage(code)}"


def _connect_error(code: int, reader: str) -> CardError:
    if code in _NO_SERVICE:
        return NoReader(f"PC/SC service unavailable: {_describe(code)}")
    if code in _NO_READER:
        return NoReader(f"{reader}: {_describe(code)}")
    if code in _NO_CARD or code == scard.SCARD_W_REMOVED_CARD:
        return NoCard(f"{reader}: {_describe(code)}")
    return CardProtocolError(f"{reader}: connect failed: {_describe(code)}")


@dataclass(frozen=True, slots=True)
class ReaderStatus:
    name: str
    card_present: bool


class PcscCard:
    """A connection to the card in one reader (shared mode, T=0 or T=1)."""

    def __init__(self, handle: Any, protocol: int, reader: str) -> None:
        self._handle = handle
        self._pci = scard.SCARD_PCI_T1 if protocol == scard.SCARD_PROTOCOL_T1 else scard.SCARD_PCI_T0
        self.reader = reader

    def transmit(self, command: bytes) -> bytes:
        code, response = scard.SCardTransmit(self._handle, self._pci, list(command))
        if code in _REMOVED:
            raise CardRemoved(f"{self.reader}: {_describe(code)}")
        if code != scard.SCARD_S_SUCCESS:
            raise CardProtocolError(f"{self.reader}: transmit failed: {_describe(code)}")
        if len(response) < 2:
            # A card always answers with a status word. vpcd (and some readers) report a card that vanished
            # mid-APDU as a successful exchange with no bytes at all.
            raise CardRemoved(f"{self.reader}: empty response")
        return bytes(response)

    def close(self) -> None:
        scard.SCardDisconnect(self._handle, scard.SCARD_LEAVE_CARD)


class PcscContext:
    """One PC/SC context: list readers, see which hold a card, connect."""

    def __init__(self) -> None:
        code, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if code != scard.SCARD_S_SUCCESS:
            raise NoReader(f"PC/SC service unavailable: {_describe(code)}")
        self._context = context

    def __enter__(self) -> PcscContext:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        scard.SCardReleaseContext(self._context)

    def readers(self) -> list[str]:
        code, readers = scard.SCardListReaders(self._context, [])
        if code == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if code in _NO_SERVICE:
            raise NoReader(f"PC/SC service unavailable: {_describe(code)}")
        if code != scard.SCARD_S_SUCCESS:
            raise CardProtocolError(f"cannot list readers: {_describe(code)}")
        return [str(r) for r in readers]

    def statuses(self) -> list[ReaderStatus]:
        readers = self.readers()
        if not readers:
            return []
        code, states = scard.SCardGetStatusChange(self._context, 0,
                                                  [(r, scard.SCARD_STATE_UNAWARE) for r in readers])
        if code not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
            raise CardProtocolError(f"cannot read reader states: {_describe(code)}")
        return [ReaderStatus(str(name), bool(event & scard.SCARD_STATE_PRESENT)) for name, event, _atr in states]

    def choose_reader(self, name_contains: str | None = None) -> str:
        """The first reader holding a card (among those whose name contains `name_contains`)."""
        statuses = [s for s in self.statuses() if name_contains is None or name_contains in s.name]
        if not statuses:
            raise NoReader("no reader" + (f" matching {name_contains!r}" if name_contains else ""))
        for status in statuses:
            if status.card_present:
                return status.name
        raise NoCard(f"no card in {', '.join(s.name for s in statuses)}")

    def connect(self, reader: str) -> PcscCard:
        code, handle, protocol = scard.SCardConnect(self._context, reader, scard.SCARD_SHARE_SHARED,
                                                    scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        if code != scard.SCARD_S_SUCCESS:
            raise _connect_error(code, reader)
        return PcscCard(handle, protocol, reader)
