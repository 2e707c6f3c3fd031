"""Token exchange (RFC 8693) under a delegation, on both backends: every check names its exact error."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from idp.delegation.interfaces import Actor
from idp.delegation.models import Delegation
from idp.oidc.models import TOKEN_EXCHANGE
from tests.conftest import PASSWORD, Env
from tests.unit.oidc.delegated import (
    SCOPES,
    delegated_tokens,
    exchange,
    introspect,
    own_tokens,
    service,
    setup,
    subject,
)
from tests.unit.oidc.flows import assert_json_error, verified_claims

ACCESS = "urn:ietf:params:oauth:token-type:access_token"


async def test_discovery_lists_the_grant(env: Env) -> None:
    document = (await env.http.get("/.well-known/openid-configuration")).json()
    assert TOKEN_EXCHANGE in document["grant_types_supported"]


async def test_the_actors_token_becomes_the_principals(env: Env) -> None:
    people = await setup(env)
    own = await own_tokens(env)
    response = await exchange(env, own["access_token"], requested_subject=await subject(env, people.alice),
                              scope="appointments.manage")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == ACCESS
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "appointments.manage"
    assert "refresh_token" not in body
    claims = await verified_claims(env, body["access_token"])
    assert claims["sub"] == await subject(env, people.alice)
    assert claims["act"] == {"sub": await subject(env, people.bob)}
    assert claims["delegation_id"] == people.delegation
    assert claims["scope"] == "appointments.manage"
    assert (await introspect(env, body["access_token"]))["act"] == claims["act"]


async def test_without_scope_the_delegation_decides(env: Env) -> None:
    people = await setup(env)
    own = await own_tokens(env)
    response = await exchange(env, own["access_token"], requested_subject=await subject(env, people.alice))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "appointments.manage profile"


async def test_no_delegation_is_invalid_grant(env: Env) -> None:
    people = await setup(env)
    await env.container.accounts.create(username="carol", password=PASSWORD, given_name="Carol", family_name="Roy")
    own = await own_tokens(env, username="carol")
    response = await exchange(env, own["access_token"], requested_subject=await subject(env, people.alice),
                              scope="appointments.manage")
    assert_json_error(response, "invalid_grant", "no active delegation lets this person act for the requested_subject")


async def test_a_scope_never_delegable_is_invalid_scope(env: Env) -> None:
    people = await setup(env)
    own = await own_tokens(env)
    response = await exchange(env, own["access_token"], requested_subject=await subject(env, people.alice),
                              scope="prescription.sign")
    assert_json_error(response, "invalid_scope", "scope not delegated: This delegation does not give the rights "
                      "asked for. (no_scope_granted)")


async def test_a_scope_outside_the_delegation_is_invalid_scope(env: Env) -> None:
    people = await setup(env)
    own = await own_tokens(env)
    response = await exchange(env, own["access_token"], requested_subject=await subject(env, people.alice),
                              scope="appointments.manage dmp.read")
    assert_json_error(response, "invalid_scope", "scope outside the delegation or not delegable: dmp.read")


async def test_an_expired_delegation_is_invalid_grant(env: Env) -> None:
    people = await setup(env)
    own = await own_tokens(env)
    alice_sub = await subject(env, people.alice)
    async with env.container.db.transaction() as session:
        await session.execute(update(Delegation).where(Delegation.id == people.delegation).values(
            valid_until=service(env).clock() - timedelta(seconds=1)))
    response = await exchange(env, own["access_token"], requested_subject=alice_sub, scope="appointments.manage")
    assert_json_error(response, "invalid_grant", "no active delegation lets this person act for the requested_subject")


async def test_a_revoked_delegation_ends_exchanged_tokens(env: Env) -> None:
    people = await setup(env)
    own = await own_tokens(env)
    body = (await exchange(env, own["access_token"], requested_subject=await subject(env, people.alice),
                           scope="appointments.manage")).json()
    await service(env).revoke(people.delegation, Actor.person(people.alice), "ended")
    assert await introspect(env, body["access_token"]) == {"active": False}
    again = await exchange(env, body["access_token"], scope="appointments.manage")
    assert_json_error(again, "invalid_grant", "subject_token is invalid, expired or revoked")


async def test_a_delegated_token_re_exchanged_keeps_sub_act_and_delegation(env: Env) -> None:
    people = await setup(env)
    await env.add_client("api", scopes="appointments.manage", grant_types=("client_credentials",))
    delegated = await delegated_tokens(env, people)
    response = await exchange(env, delegated["access_token"], audience="api", scope="appointments.manage")
    assert response.status_code == 200, response.text
    before = await verified_claims(env, delegated["access_token"])
    after = await verified_claims(env, response.json()["access_token"])
    assert (after["sub"], after["act"], after["delegation_id"]) == (before["sub"], before["act"],
                                                                   before["delegation_id"])
    assert after["aud"] == "api"


async def test_switching_principal_on_re_exchange_is_refused(env: Env) -> None:
    """The laundering attempt: a token for Alice exchanged for someone else."""
    people = await setup(env)
    delegated = await delegated_tokens(env, people)
    response = await exchange(env, delegated["access_token"], requested_subject=await subject(env, people.bob),
                              scope="appointments.manage")
    assert_json_error(response, "invalid_grant", "a delegated subject_token cannot be exchanged for another principal")


async def test_a_re_exchange_cannot_widen_the_scopes(env: Env) -> None:
    people = await setup(env)
    delegated = await delegated_tokens(env, people, scope="openid appointments.manage")
    response = await exchange(env, delegated["access_token"], scope="appointments.manage profile")
    assert_json_error(response, "invalid_scope", "scope exceeds the subject_token's: profile")


async def test_a_downstream_service_joins_the_chain_once(env: Env) -> None:
    people = await setup(env)
    await env.add_client("api", scopes="appointments.manage", grant_types=(TOKEN_EXCHANGE,), redirect_uris=[])
    await env.add_client("api2", scopes="appointments.manage", grant_types=(TOKEN_EXCHANGE,), redirect_uris=[])
    delegated = await delegated_tokens(env, people)
    to_api = (await exchange(env, delegated["access_token"], audience="api", scope="appointments.manage")).json()
    by_api = await exchange(env, to_api["access_token"], client_id="api", audience="api2",
                            scope="appointments.manage")
    assert by_api.status_code == 200, by_api.text
    claims = await verified_claims(env, by_api.json()["access_token"])
    assert claims["act"] == {"sub": "api", "act": {"sub": await subject(env, people.bob)}}
    third = await exchange(env, by_api.json()["access_token"], client_id="api2", scope="appointments.manage")
    assert_json_error(third, "invalid_grant", "the delegation does not authorise this: Too many people are acting "
                      "for one another in this request. (act_chain_too_deep)")


async def test_a_client_without_the_grant_is_refused(env: Env) -> None:
    people = await setup(env, grant_types=("authorization_code", "refresh_token"))
    own = await own_tokens(env)
    response = await exchange(env, own["access_token"], requested_subject=await subject(env, people.alice))
    assert_json_error(response, "unauthorized_client", f"this client may not use the {TOKEN_EXCHANGE} grant")


async def test_a_clients_own_token_has_no_one_to_act_for(env: Env) -> None:
    people = await setup(env)
    await env.add_client("svc", scopes="appointments.manage", grant_types=("client_credentials", TOKEN_EXCHANGE),
                         redirect_uris=[])
    machine = (await env.token({"grant_type": "client_credentials"}, client_id="svc")).json()
    response = await exchange(env, machine["access_token"], client_id="svc",
                              requested_subject=await subject(env, people.alice))
    assert_json_error(response, "invalid_grant", "subject_token does not represent a person")


async def test_another_clients_token_cannot_be_exchanged(env: Env) -> None:
    people = await setup(env)
    await env.add_client("other", scopes=SCOPES, grant_types=(TOKEN_EXCHANGE,), redirect_uris=[])
    own = await own_tokens(env)
    response = await exchange(env, own["access_token"], client_id="other",
                              requested_subject=await subject(env, people.alice))
    assert_json_error(response, "invalid_grant", "subject_token was not issued to this client")


async def test_parameters_are_checked(env: Env) -> None:
    people = await setup(env)
    own = await own_tokens(env)
    token = own["access_token"]
    missing = await env.token({"grant_type": TOKEN_EXCHANGE, "subject_token_type": ACCESS})
    assert_json_error(missing, "invalid_request", "subject_token is missing")
    no_type = await env.token({"grant_type": TOKEN_EXCHANGE, "subject_token": token})
    assert_json_error(no_type, "invalid_request", "subject_token_type is missing")
    wrong_type = await env.token({"grant_type": TOKEN_EXCHANGE, "subject_token": token,
                                  "subject_token_type": "urn:ietf:params:oauth:token-type:id_token"})
    assert_json_error(wrong_type, "invalid_request", f"subject_token_type must be {ACCESS}")
    actor = await exchange(env, token, actor_token=token, actor_token_type=ACCESS)
    assert_json_error(actor, "invalid_request",
                      "actor_token is not supported: the actor is the person of the subject_token")
    nobody = await exchange(env, token)
    assert_json_error(nobody, "invalid_request",
                      "requested_subject is missing: name the person to act for (their sub)")
    alice = await subject(env, people.alice)
    offline = await exchange(env, token, requested_subject=alice, scope="offline_access appointments.manage")
    assert_json_error(offline, "invalid_scope",
                      "offline_access cannot be exchanged: token exchange issues no refresh token")
    unknown = await exchange(env, token, requested_subject=alice, audience="nobody")
    assert_json_error(unknown, "invalid_target", "audience is not a known client")
    resource = await exchange(env, token, requested_subject=alice, resource="not a uri")
    assert_json_error(resource, "invalid_target", "resource must be an absolute URI without a fragment")
    forged = await exchange(env, token[:-4] + "AAAA", requested_subject=alice)
    assert_json_error(forged, "invalid_grant", "subject_token is invalid, expired or revoked")


async def test_public_clients_cannot_register_the_grant(env: Env) -> None:
    import pytest

    from idp.clients.service import ClientRegistrationError
    with pytest.raises(ClientRegistrationError, match="public clients cannot use token exchange"):
        await env.add_client("spa", auth_method="none", grant_types=("authorization_code", TOKEN_EXCHANGE))
