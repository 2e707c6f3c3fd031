"""Signing keys on disk: creation, publication before use, retirement after the longest token lifetime."""

from __future__ import annotations

import stat
from pathlib import Path

from idp.oidc.keystore import KeyStore, load_server_secret

TTL = 600
GRACE = 60  # published this long beyond the longest token lifetime


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def kids(store: KeyStore) -> set[str]:
    return {k["kid"] for k in store.jwks()["keys"]}


def test_first_start_creates_an_es256_key_and_server_secret(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, max_token_ttl=TTL)
    store.ensure_key()
    files = list((tmp_path / "signing").glob("*.json"))
    assert len(files) == 1
    assert mode(files[0]) == 0o600
    assert mode(tmp_path / "signing") == 0o700
    assert store.active().alg == "ES256"
    assert files[0].stem == store.active().kid

    secret = load_server_secret(tmp_path)
    assert len(secret) == 32
    assert mode(tmp_path / "server.secret") == 0o600
    assert load_server_secret(tmp_path) == secret  # created once, then reused


def test_second_start_reuses_the_key(tmp_path: Path) -> None:
    first = KeyStore(tmp_path, max_token_ttl=TTL)
    first.ensure_key()
    second = KeyStore(tmp_path, max_token_ttl=TTL)
    second.ensure_key()
    assert second.active().kid == first.active().kid
    assert len(list((tmp_path / "signing").glob("*.json"))) == 1


def test_rotation_publishes_at_once_and_signs_after_the_delay(tmp_path: Path) -> None:
    clock = FakeClock()
    store = KeyStore(tmp_path, max_token_ttl=TTL, clock=clock)
    store.ensure_key()
    old = store.active().kid
    new = store.rotate(activation_delay=3600).key.kid
    assert mode(tmp_path / "signing" / f"{new}.json") == 0o600
    assert kids(store) == {old, new}
    assert store.active().kid == old

    clock.now += 3599
    assert store.active().kid == old
    clock.now += 1
    assert store.active().kid == new
    assert kids(store) == {old, new}


def test_old_key_stays_published_until_its_tokens_expire_then_is_pruned(tmp_path: Path) -> None:
    clock = FakeClock()
    store = KeyStore(tmp_path, max_token_ttl=TTL, clock=clock)
    store.ensure_key()
    old = store.active().kid
    new = store.rotate(activation_delay=3600).key.kid
    retired_at = clock.now + 3600

    clock.now = retired_at + TTL + GRACE - 1
    assert kids(store) == {old, new}
    assert store.by_kid(old) is not None
    assert store.prune() == []

    clock.now = retired_at + TTL + GRACE + 1
    assert kids(store) == {new}
    assert store.prune() == [old]
    assert not (tmp_path / "signing" / f"{old}.json").exists()
    assert store.by_kid(old) is None


def test_rotation_prunes_expired_keys(tmp_path: Path) -> None:
    clock = FakeClock()
    store = KeyStore(tmp_path, max_token_ttl=TTL, clock=clock)
    store.ensure_key()
    first = store.active().kid
    clock.now += 1
    second = store.rotate(activation_delay=0).key.kid
    clock.now += TTL + GRACE + 1
    third = store.rotate(activation_delay=3600).key.kid
    assert {p.stem for p in (tmp_path / "signing").glob("*.json")} == {second, third}
    assert first not in kids(store)


def test_other_process_sees_a_rotation(tmp_path: Path) -> None:
    clock = FakeClock()
    worker = KeyStore(tmp_path, max_token_ttl=TTL, clock=clock)
    worker.ensure_key()
    admin = KeyStore(tmp_path, max_token_ttl=TTL, clock=clock)
    clock.now += 1
    new = admin.rotate(activation_delay=0).key.kid
    worker.reload(force=True)
    assert worker.active().kid == new
