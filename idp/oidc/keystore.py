"""Signing keys on disk, their publication and rotation.

Layout of `MANDAT_KEYS_DIR`:
- `signing/<kid>.json`: `{"jwk": <private JWK>, "created_at": <epoch>, "not_before": <epoch>}`, mode 0600.
- `server.secret`: 32 random bytes (hex) from which the HMAC keys (client secrets, pairwise subjects, CSRF,
  code hashes) are derived, mode 0600.

A key is *published* from creation, *used for signing* from `not_before` (so relying parties that cache
/jwks see it before any token signed with it), and stays published until every token it signed has expired:
`retired_at + max_token_ttl`, where `retired_at` is the moment the next key took over. Processes re-read the
folder every MANDAT_KEYS_RELOAD_SECONDS (5 s by default), so a rotation reaches every worker without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idp.errors import ConfigurationError
from idp.oidc.jose import SigningKey, generate_signing_key

__all__ = ["KeyStore", "StoredKey", "load_server_secret"]

RELOAD_SECONDS = 5.0
# Clock skew margin: a retired key stays published this long after the last token it signed has expired.
PUBLISH_GRACE = 60


@dataclass(frozen=True, slots=True)
class StoredKey:
    key: SigningKey
    created_at: float
    not_before: float
    path: Path


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def load_server_secret(keys_dir: Path) -> bytes:
    """Read (or create once) the server secret used to derive our HMAC keys."""
    path = keys_dir / "server.secret"
    if not path.exists():
        try:
            _write_private(path, secrets.token_hex(32) + "\n")
        except FileExistsError:
            pass  # another process created it first
    raw = path.read_text().strip()
    try:
        secret = bytes.fromhex(raw)
    except ValueError:
        raise ConfigurationError(f"{path} is not hex; delete it to generate a new one (MANDAT_KEYS_DIR)") from None
    if len(secret) < 32:
        raise ConfigurationError(f"{path} must hold at least 32 bytes (MANDAT_KEYS_DIR)")
    return secret


def derive_key(secret: bytes, label: str) -> bytes:
    """Independent HMAC keys per purpose from one server secret."""
    return hmac.new(secret, b"mandat/" + label.encode(), hashlib.sha256).digest()


class KeyStore:
    def __init__(self, keys_dir: Path, *, max_token_ttl: int, clock: Callable[[], float] = time.time,
                 reload_seconds: float = RELOAD_SECONDS) -> None:
        self._dir = keys_dir / "signing"
        self._reload_seconds = reload_seconds  # MANDAT_KEYS_RELOAD_SECONDS
        self._max_token_ttl = max_token_ttl
        self._clock = clock
        self._keys: list[StoredKey] = []
        self._loaded_at = -1e18
        self._signature = ""
        self._jwks: dict[str, Any] = {"keys": []}
        self._active: SigningKey | None = None
        self._active_until = 0.0

    # --- loading ------------------------------------------------------------------------------------------
    def ensure_key(self, alg: str = "ES256") -> None:
        """On first start, create a signing key that is usable at once (nothing to pre-publish yet)."""
        if not self._dir.exists() or not any(self._dir.glob("*.json")):
            self._write(generate_signing_key(alg), not_before=self._clock())
        self.reload(force=True)

    def _write(self, key: SigningKey, *, not_before: float) -> StoredKey:
        created_at = self._clock()
        body = {"jwk": key.private_jwk(), "created_at": created_at, "not_before": not_before}
        path = self._dir / f"{key.kid}.json"
        _write_private(path, json.dumps(body, indent=2))
        return StoredKey(key, created_at, not_before, path)

    def reload(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._loaded_at < self._reload_seconds:
            return
        self._loaded_at = now
        files = sorted(self._dir.glob("*.json")) if self._dir.exists() else []
        signature = ";".join(f"{p.name}:{p.stat().st_mtime_ns}" for p in files)
        if signature == self._signature and not force:
            self._refresh_views()
            return
        keys = []
        for path in files:
            body = json.loads(path.read_text())
            keys.append(StoredKey(SigningKey.from_jwk(body["jwk"]), float(body["created_at"]),
                                  float(body["not_before"]), path))
        keys.sort(key=lambda k: k.not_before)
        if not keys:
            raise ConfigurationError(
                f"no signing key in {self._dir}; run `python -m idp keys rotate` (MANDAT_KEYS_DIR)")
        self._keys = keys
        self._signature = signature
        self._refresh_views()

    def _refresh_views(self) -> None:
        now = self._clock()
        usable = [k for k in self._keys if k.not_before <= now]
        if not usable:
            usable = self._keys[:1]  # every key is still pending: sign with the oldest rather than fail
        active = usable[-1]
        # The views change when a pending key starts signing or a retired key leaves the JWKS; recompute at
        # the first of those moments, so /jwks never lists a key past its retirement (nor misses one).
        later = [k.not_before for k in self._keys if k.not_before > now]
        for stored in self._keys:
            retired = self.retired_at(stored)
            if retired is not None and retired + self._max_token_ttl + PUBLISH_GRACE > now:
                later.append(retired + self._max_token_ttl + PUBLISH_GRACE)
        self._active = active.key
        self._active_until = min(later) if later else float("inf")
        self._jwks = {"keys": [k.key.public_jwk() for k in self.published(now)]}

    # --- queries ------------------------------------------------------------------------------------------
    def retired_at(self, stored: StoredKey) -> float | None:
        """When the next key took over from this one, if it has."""
        now = self._clock()
        successors = [k.not_before for k in self._keys if k.not_before > stored.not_before and k.not_before <= now]
        return min(successors) if successors else None

    def published(self, now: float | None = None) -> list[StoredKey]:
        now = self._clock() if now is None else now
        result = []
        for stored in self._keys:
            retired = self.retired_at(stored)
            if retired is None or retired + self._max_token_ttl + PUBLISH_GRACE > now:
                result.append(stored)
        return result

    def active(self) -> SigningKey:
        """The key to sign with now. Cheap: re-reads the folder at most every few seconds."""
        if self._clock() >= self._active_until or time.monotonic() - self._loaded_at >= self._reload_seconds:
            self.reload()
            if self._clock() >= self._active_until:
                self._refresh_views()
        assert self._active is not None
        return self._active

    def jwks(self) -> dict[str, Any]:
        self.active()
        return self._jwks

    def by_kid(self, kid: str) -> SigningKey | None:
        self.active()
        return next((k.key for k in self._keys if k.key.kid == kid), None)

    def keys(self) -> list[StoredKey]:
        self.reload(force=True)
        return list(self._keys)

    def state(self, stored: StoredKey) -> str:
        """`active` (signs now), `pending` (published, signs later), `published` (retired, still verifies the
        tokens it signed) or `expired` (pruned at the next rotation). The CLI and the admin API show this."""
        now = self._clock()
        if stored.key.kid == self.active().kid:
            return "active"
        if stored.not_before > now:
            return "pending"
        return "published" if stored.key.kid in {k.key.kid for k in self.published(now)} else "expired"

    # --- rotation -----------------------------------------------------------------------------------------
    def rotate(self, *, activation_delay: int, alg: str = "ES256") -> StoredKey:
        """Publish a new key now; it signs from `now + activation_delay`. Prunes keys no longer published."""
        self.reload(force=True)
        stored = self._write(generate_signing_key(alg), not_before=self._clock() + activation_delay)
        self.reload(force=True)
        self.prune()
        return stored

    def prune(self) -> list[str]:
        """Delete keys whose tokens have all expired (never the active one)."""
        now = self._clock()
        keep = {k.key.kid for k in self.published(now)}
        assert self._active is not None
        keep.add(self._active.kid)
        removed = []
        for stored in self._keys:
            if stored.key.kid not in keep:
                stored.path.unlink(missing_ok=True)
                removed.append(stored.key.kid)
        if removed:
            self.reload(force=True)
        return removed
