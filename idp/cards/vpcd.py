"""Connects a virtual card to vsmartcard's vpcd reader driver, so pcscd and pyscard see a real reader + card.

The card side is a TCP client of vpcd (127.0.0.1:35963 for reader "Virtual PCD 00 00", 35964 for "… 00 01").
Each message is length-prefixed (2 bytes, big endian). One-byte messages are control: 00 power off, 01 power
on, 02 reset, 04 get ATR (answered with the ATR); anything longer is a C-APDU, answered with the R-APDU.

Usable in a thread (tests: `with VpcdBridge(card): ...`, `bridge.remove()`, `bridge.insert()`) or as a process:

    python -m idp.cards.vpcd --card-dir var/test-pki/cards/810001045367 --pin 1234
"""

from __future__ import annotations

import argparse
import logging
import select
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from idp.cards.apdu import INS_VERIFY, CommandApdu, MalformedApdu
from idp.cards.emulator import VirtualCpsCard

__all__ = ["DEFAULT_PORT", "VpcdBridge", "main"]

log = logging.getLogger(__name__)

DEFAULT_PORT = 35963
_POWER_OFF, _POWER_ON, _RESET, _GET_ATR = 0x00, 0x01, 0x02, 0x04
_POLL_SECONDS = 0.05


class VpcdBridge:
    """Runs the vpcd card protocol for one card in a background thread. The card starts inserted."""

    def __init__(self, card: VirtualCpsCard, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.card = card
        self._address = (host, port)
        self._stop = threading.Event()
        self._inserted = threading.Event()
        self._inserted.set()
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self._disconnected.set()
        self._trigger: Callable[[CommandApdu], bool] | None = None
        self._thread: threading.Thread | None = None

    # --- control ---------------------------------------------------------------------------------------

    def start(self) -> VpcdBridge:
        self._thread = threading.Thread(target=self.serve_forever, name="vpcd-card", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> VpcdBridge:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def wait_connected(self, timeout: float = 5.0) -> bool:
        """True once vpcd accepted the card (pcscd then reports it present ~0.4 s later)."""
        return self._connected.wait(timeout)

    def remove(self, timeout: float = 5.0) -> None:
        """Pull the card out: close the connection and stay out until `insert`."""
        self._inserted.clear()
        self._disconnected.wait(timeout)

    def insert(self) -> None:
        self._inserted.set()

    def remove_when(self, predicate: Callable[[CommandApdu], bool]) -> None:
        """One shot: the next command matching `predicate` gets no answer; the card is pulled out instead.

        This is how tests model a card removed in the middle of an operation.
        """
        self._trigger = predicate

    # --- protocol loop -----------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        while not self._stop.is_set():
            if not self._inserted.is_set():
                self._stop.wait(_POLL_SECONDS)
                continue
            try:
                sock = socket.create_connection(self._address, timeout=2)
            except OSError:
                self._stop.wait(0.2)  # vpcd not listening yet (pcscd starting): retry
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(2)
            self._disconnected.clear()
            self._connected.set()
            log.info("vpcd: card inserted at %s:%d", *self._address)
            try:
                self._session(sock)
            except OSError as exc:
                log.info("vpcd: connection closed: %s", exc)
            finally:
                sock.close()
                self.card.reset()  # no power without a reader
                self._connected.clear()
                self._disconnected.set()
                log.info("vpcd: card removed")

    def _session(self, sock: socket.socket) -> None:
        while not self._stop.is_set() and self._inserted.is_set():
            readable, _, _ = select.select([sock], [], [], _POLL_SECONDS)
            if not readable:
                continue
            header = _recv_exact(sock, 2)
            if header is None:
                return
            message = _recv_exact(sock, int.from_bytes(header, "big"))
            if message is None:
                return
            answer = self._answer(message)
            if isinstance(answer, _PullOut):
                self._inserted.clear()
                return
            if answer:
                sock.sendall(len(answer).to_bytes(2, "big") + answer)

    def _answer(self, message: bytes) -> bytes | _PullOut | None:
        if len(message) == 1:
            control = message[0]
            if control in (_POWER_OFF, _POWER_ON, _RESET):
                self.card.reset()
                return None
            if control == _GET_ATR:
                return self.card.atr
            log.warning("vpcd: unknown control byte %02X", control)
            return None
        trigger = self._trigger
        if trigger is not None:
            try:
                command = CommandApdu.parse(message)
            except MalformedApdu:
                command = None
            if command is not None and trigger(command):
                self._trigger = None
                return _PULL_OUT
        log.debug("vpcd: C-APDU %s", _redacted(message))
        return self.card.transmit(message)


class _PullOut:
    """Answer meaning: do not answer, pull the card out (see `remove_when`)."""


_PULL_OUT = _PullOut()


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        # vpcd writes the length and the payload in two sends; without QUICKACK each APDU waits for the
        # delayed-ACK timer (~40 ms). The option resets after each ACK, so it is set before every recv.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _redacted(message: bytes) -> str:
    if len(message) > 4 and message[1] == INS_VERIFY:
        return message[:5].hex() + "…(PIN)"
    return message.hex()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Plug a virtual CPS card into vpcd (pcscd's virtual reader).")
    parser.add_argument("--card-dir", type=Path, required=True, help="folder with cert.der and key.pem")
    parser.add_argument("--pin", default="1234", help="the card's PIN (4 to 8 digits)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="35963: reader 00 00; 35964: 00 01")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    bridge = VpcdBridge(VirtualCpsCard.from_dir(args.card_dir, args.pin), args.host, args.port)
    try:
        bridge.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
