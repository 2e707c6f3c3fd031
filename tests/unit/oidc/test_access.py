"""Access-token validation (idp/oidc/access.py) with the verified-token memo (`Provider.verified`): a token is
verified once per process, but its expiry, its revocation, its grant and its signing key still count at every
use."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp.oidc.access import AccessToken, TokenRejected, validate_access_token
from idp.oidc.provider import Provider, VerifiedTokens
from tests.conftest import Env
from tests.unit.oidc.flows import tokens


async def validated_once(env: Env) -> tuple[Provider, str, AccessToken]:
    """An access token issued, then validated once (so now remembered), with its provider and validation."""
    await env.add_client()
    await env.add_account()
    token: str = (await tokens(env))["access_token"]
    provider = env.container.provider
    return provider, token, await validate_access_token(provider, token)


async def test_a_verified_token_is_remembered_and_still_expires(env: Env) -> None:
    provider, token, access = await validated_once(env)
    remembered = provider.verified.get(token)
    assert remembered is not None and remembered[1] is access.claims
    start = provider.clock()
    provider.clock = lambda: start + 3600
    with pytest.raises(TokenRejected, match="expired"):
        await validate_access_token(provider, token)


async def test_a_remembered_token_whose_grant_is_revoked_is_refused(env: Env) -> None:
    provider, token, access = await validated_once(env)
    assert access.grant is not None
    await provider.grants.revoke(access.grant.id, "test")
    with pytest.raises(TokenRejected, match="grant revoked"):
        await validate_access_token(provider, token)


async def test_a_remembered_token_whose_key_is_withdrawn_is_refused(env: Env) -> None:
    """A key removed from the key folder (say, compromised) takes its remembered tokens with it."""
    provider, token, _access = await validated_once(env)
    kid = provider.verified.get(token)[0]  # type: ignore[index]
    provider.keystore.rotate(activation_delay=0)
    (Path(env.settings.keys_dir) / "signing" / f"{kid}.json").unlink()
    provider.keystore.reload(force=True)
    with pytest.raises(TokenRejected, match="unknown kid"):
        await validate_access_token(provider, token)


async def test_a_changed_token_is_not_found_and_fails_its_signature(env: Env) -> None:
    provider, token, _access = await validated_once(env)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with pytest.raises(TokenRejected):
        await validate_access_token(provider, forged)
    assert provider.verified.get(forged) is None


def test_the_memo_keeps_at_most_its_size_first_in_first_out() -> None:
    memo = VerifiedTokens(size=2)
    memo.put("a", "k", {"n": 1})
    memo.put("b", "k", {"n": 2})
    memo.put("c", "k", {"n": 3})
    assert memo.get("a") is None
    assert memo.get("b") == ("k", {"n": 2}) and memo.get("c") == ("k", {"n": 3})
    off = VerifiedTokens(size=0)
    off.put("a", "k", {})
    assert off.get("a") is None
