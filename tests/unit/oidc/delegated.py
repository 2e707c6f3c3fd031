"""What the delegation protocol tests share: a principal, a delegate, a delegation, and the walk through the pages
with the "act as" choice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from idp.delegation.interfaces import Actor, DelegationRequest
from idp.delegation.service import DelegationService
from idp.oidc.minting import subject_for
from idp.oidc.models import TOKEN_EXCHANGE
from tests.conftest import PASSWORD, REDIRECT, Env
from tests.unit.oidc.flows import browse, query_of

SCOPES = "openid profile email offline_access delegations appointments.manage dmp.read mssante.send prescription.sign"


@dataclass
class People:
    alice: str  # the principal (a citizen)
    bob: str  # her proxy
    delegation: str


async def setup(env: Env, *, delegated: tuple[str, ...] = ("profile", "appointments.manage"),
                grant_types: tuple[str, ...] = ("authorization_code", "refresh_token", TOKEN_EXCHANGE)) -> People:
    await env.add_client("rp", scopes=SCOPES, grant_types=grant_types)
    alice = await env.container.accounts.create(username="alice", password=PASSWORD, given_name="Alice",
                                                family_name="Martin", email="alice@example.org")
    bob = await env.container.accounts.create(username="bob", password=PASSWORD, given_name="Bob",
                                              family_name="Durand", email="bob@example.org")
    view = await service(env).create(
        DelegationRequest(kind="proxy", principal_id=alice.id, delegate_id=bob.id, scopes=delegated,
                          reason="signed form"), Actor.administrator("tests"))
    return People(alice.id, bob.id, view.id)


def service(env: Env) -> DelegationService:
    return env.container.service(DelegationService)


async def subject(env: Env, account_id: str, client_id: str = "rp") -> str:
    client = await env.container.clients.get(client_id)
    assert client is not None
    return subject_for(env.container.provider, client, account_id)


async def walk(env: Env, response: httpx.Response, *, username: str = "bob", act_as: str | None = None,
               seen: list[str] | None = None) -> httpx.Response:
    """`flows.browse` as Bob (the delegate), answering the "act as" page with `act_as`."""
    return await browse(env, response, username=username, act_as=act_as, seen=seen)


async def delegated_tokens(env: Env, people: People, *, scope: str = "openid profile appointments.manage",
                           **overrides: Any) -> dict[str, Any]:
    params = env.authorize_params("rp", scope=scope, **overrides)
    verifier = env.last_verifier
    response = await walk(env, await env.http.get("/authorize", params=params), act_as=people.delegation)
    code = query_of(response.headers["location"])["code"]
    token = await env.token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                             "code_verifier": verifier})
    assert token.status_code == 200, token.text
    body: dict[str, Any] = token.json()
    return body


async def own_tokens(env: Env, *, username: str = "bob", scope: str = "openid profile") -> dict[str, Any]:
    """Tokens for the person themself (the "act as" page, if shown, answered "myself")."""
    params = env.authorize_params("rp", scope=scope)
    verifier = env.last_verifier
    response = await walk(env, await env.http.get("/authorize", params=params), username=username, act_as="myself")
    code = query_of(response.headers["location"])["code"]
    token = await env.token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                             "code_verifier": verifier})
    assert token.status_code == 200, token.text
    body: dict[str, Any] = token.json()
    return body


async def exchange(env: Env, subject_token: str, client_id: str = "rp", **params: str) -> httpx.Response:
    data = {"grant_type": TOKEN_EXCHANGE, "subject_token": subject_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", **params}
    return await env.token(data, client_id=client_id)


async def introspect(env: Env, token: str, client_id: str = "rp") -> dict[str, Any]:
    response = await env.http.post("/token/introspect", data={"token": token}, auth=env.auth(client_id))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
