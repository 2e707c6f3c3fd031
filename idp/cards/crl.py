"""Certificate revocation lists: loaded from files and URLs, refreshed every N seconds, signatures checked.

A CRL only counts once its signature verifies against the certificate of the CA it names as issuer, and
while it is current (`next_update` in the future). With `require_crl`, a certificate whose issuer has no such
CRL is refused (`revocation_unknown`): an attacker who blocks the CRL download must not get a revoked card in.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509

from idp.cards.errors import CertificateRevoked, RevocationUnknown

__all__ = ["CrlStore", "parse_crl"]

log = logging.getLogger(__name__)


def parse_crl(raw: bytes) -> x509.CertificateRevocationList:
    """PEM or DER; raises ValueError when neither."""
    if raw.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(raw)
    return x509.load_der_x509_crl(raw)


@dataclass(slots=True)
class _Loaded:
    source: str
    crl: x509.CertificateRevocationList
    stamp: float  # file mtime, or download time for URLs


class CrlStore:
    """Holds the latest CRL from each source. `refresh_if_due` reloads; `check` answers for one certificate."""

    def __init__(self, paths: Sequence[Path] = (), urls: Sequence[str] = (), *, refresh_seconds: float = 300,
                 require: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self._paths = tuple(paths)
        self._urls = tuple(urls)
        self._refresh_seconds = refresh_seconds
        self._require = require
        self._clock = clock
        self._loaded: dict[str, _Loaded] = {}
        self._last_refresh: float | None = None
        self.reload_files()

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self._loaded)

    def reload_files(self) -> None:
        """Re-read every CRL file whose modification time changed. A broken file keeps the previous CRL."""
        for path in self._paths:
            key = str(path)
            try:
                mtime = os.stat(path).st_mtime
                previous = self._loaded.get(key)
                if previous is not None and previous.stamp == mtime:
                    continue
                self._loaded[key] = _Loaded(key, parse_crl(path.read_bytes()), mtime)
            except (OSError, ValueError) as exc:
                log.error("cards.crl: cannot load %s: %s", path, exc)

    async def download(self, client: httpx.AsyncClient | None = None) -> None:
        """Fetch every CRL URL; a failed download keeps the previous CRL until it stops being current."""
        if not self._urls:
            return
        owned = client is None
        http = client or httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        try:
            for url in self._urls:
                try:
                    response = await http.get(url)
                    response.raise_for_status()
                    self._loaded[url] = _Loaded(url, parse_crl(response.content), time.time())
                except (httpx.HTTPError, ValueError) as exc:
                    log.error("cards.crl: cannot download %s: %s", url, exc)
        finally:
            if owned:
                await http.aclose()

    async def refresh_if_due(self, client: httpx.AsyncClient | None = None) -> None:
        now = self._clock()
        if self._last_refresh is not None and now - self._last_refresh < self._refresh_seconds:
            return
        self._last_refresh = now
        self.reload_files()
        await self.download(client)

    def check(self, certificate: x509.Certificate, issuer: x509.Certificate, now: dt.datetime) -> None:
        """Raise CertificateRevoked if a valid CRL from `issuer` lists `certificate`; RevocationUnknown if
        no valid, current CRL from `issuer` is known and CRLs are required."""
        covered = False
        for loaded in self._loaded.values():
            crl = loaded.crl
            if crl.issuer != issuer.subject:
                continue
            if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                log.error("cards.crl: %s is not signed by %s; ignored", loaded.source, issuer.subject)
                continue
            next_update = crl.next_update_utc
            if next_update is not None and next_update < now:
                log.warning("cards.crl: %s expired at %s", loaded.source, next_update)
                continue
            covered = True
            entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
            if entry is not None:
                raise CertificateRevoked(
                    f"serial {certificate.serial_number:x} of {certificate.subject.rfc4514_string()} revoked "
                    f"on {entry.revocation_date_utc.isoformat()} (CRL {loaded.source})"
                )
        if not covered and self._require:
            raise RevocationUnknown(f"no current, valid CRL from {issuer.subject.rfc4514_string()}")
