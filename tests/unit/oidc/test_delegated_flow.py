"""The authorization flow acting for someone (DESIGN "act as", RFC 8693 §4.1 `act`), on both backends: the page,
`on_behalf_of`, `prompt=select_account`, the tokens it issues, and revocation reaching every one of them."""

from __future__ import annotations

from datetime import timedelta

from idp.delegation.interfaces import Actor
from tests.conftest import REDIRECT, Env
from tests.unit.oidc.delegated import (
    delegated_tokens,
    introspect,
    own_tokens,
    service,
    setup,
    subject,
    walk,
)
from tests.unit.oidc.flows import (
    assert_invalid_token,
    assert_json_error,
    assert_redirected_error,
    query_of,
    verified_claims,
)


async def test_the_act_as_page_offers_myself_and_each_principal(env: Env) -> None:
    await setup(env)
    response = await env.http.get("/authorize", params=env.authorize_params(
        scope="openid profile appointments.manage"))
    seen: list[str] = []
    response = await walk(env, response, act_as="myself", seen=seen)
    assert seen == ["login", "act_as", "consent"]
    assert "code" in query_of(response.headers["location"])


async def test_no_page_without_a_delegation_that_fits(env: Env) -> None:
    people = await setup(env, delegated=("appointments.manage",))
    seen: list[str] = []
    # Bob asks only for email: no delegation authorises it, so no extra page.
    response = await walk(env, await env.http.get("/authorize", params=env.authorize_params(
        scope="openid email")), seen=seen)
    assert seen == ["login", "consent"]
    assert "code" in query_of(response.headers["location"])
    assert people.delegation


async def test_acting_for_the_principal_issues_her_token_with_act(env: Env) -> None:
    people = await setup(env)
    issued = await delegated_tokens(env, people, scope="openid profile appointments.manage email")
    access = await verified_claims(env, issued["access_token"])
    id_token = await verified_claims(env, issued["id_token"])
    alice_sub, bob_sub = await subject(env, people.alice), await subject(env, people.bob)
    assert access["sub"] == alice_sub
    assert access["act"] == {"sub": bob_sub}
    assert access["delegation_id"] == people.delegation
    # email is Bob's to share, not delegated by Alice: narrowed away.
    assert access["scope"] == "openid profile appointments.manage"
    assert issued["scope"] == "openid profile appointments.manage"
    assert id_token["sub"] == bob_sub
    assert id_token["delegation"] == {
        "id": people.delegation, "kind": "proxy", "scopes": ["appointments.manage", "profile"],
        "principal": {"sub": alice_sub, "given_name": "Alice", "family_name": "Martin"}}


async def test_userinfo_returns_the_principals_claims_and_act(env: Env) -> None:
    people = await setup(env)
    issued = await delegated_tokens(env, people)
    info = await env.http.get("/userinfo", headers={"authorization": f"Bearer {issued['access_token']}"})
    assert info.status_code == 200, info.text
    body = info.json()
    assert body["sub"] == await subject(env, people.alice)
    assert body["given_name"] == "Alice"
    assert body["act"] == {"sub": await subject(env, people.bob)}


async def test_introspection_keeps_act_and_delegation_id(env: Env) -> None:
    people = await setup(env)
    issued = await delegated_tokens(env, people)
    body = await introspect(env, issued["access_token"])
    assert body["active"] is True
    assert body["act"] == {"sub": await subject(env, people.bob)}
    assert body["delegation_id"] == people.delegation


async def test_revoking_the_delegation_stops_every_token_at_once(env: Env) -> None:
    people = await setup(env)
    issued = await delegated_tokens(env, people, scope="openid profile appointments.manage offline_access")
    assert (await introspect(env, issued["access_token"]))["active"] is True
    await service(env).revoke(people.delegation, Actor.person(people.alice), "no longer needed")
    assert await introspect(env, issued["access_token"]) == {"active": False}
    info = await env.http.get("/userinfo", headers={"authorization": f"Bearer {issued['access_token']}"})
    assert_invalid_token(info)
    refreshed = await env.token({"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert_json_error(refreshed, "invalid_grant", "the delegation no longer authorises this: "
                      "This delegation has been revoked. (delegation_revoked)")


async def test_refresh_keeps_acting_while_the_delegation_holds(env: Env) -> None:
    people = await setup(env)
    issued = await delegated_tokens(env, people, scope="openid profile appointments.manage offline_access")
    refreshed = await env.token({"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    access = await verified_claims(env, refreshed.json()["access_token"])
    assert access["sub"] == await subject(env, people.alice)
    assert access["delegation_id"] == people.delegation


async def test_a_token_never_outlives_its_delegation(env: Env) -> None:
    people = await setup(env)
    delegations = service(env)
    view = await delegations.get(people.delegation)
    # Move the delegation's end to 2 minutes from now: the token's lifetime follows it.
    from sqlalchemy import update

    from idp.delegation.models import Delegation
    async with env.container.db.transaction() as session:
        await session.execute(update(Delegation).where(Delegation.id == view.id).values(
            valid_until=delegations.clock() + timedelta(seconds=120)))
    issued = await delegated_tokens(env, people)
    assert 100 <= issued["expires_in"] <= 120


async def test_on_behalf_of_chooses_without_a_page(env: Env) -> None:
    people = await setup(env)
    seen: list[str] = []
    params = env.authorize_params(scope="openid profile appointments.manage",
                                  on_behalf_of=await subject(env, people.alice))
    response = await walk(env, await env.http.get("/authorize", params=params), seen=seen)
    assert seen == ["login", "consent"]
    code = query_of(response.headers["location"])["code"]
    token = await env.token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                             "code_verifier": env.last_verifier})
    access = await verified_claims(env, token.json()["access_token"])
    assert access["delegation_id"] == people.delegation


async def test_on_behalf_of_someone_without_a_delegation_is_access_denied(env: Env) -> None:
    people = await setup(env)
    # Bob names himself: he holds no delegation from himself.
    params = env.authorize_params(scope="openid profile appointments.manage",
                                  on_behalf_of=await subject(env, people.bob))
    response = await walk(env, await env.http.get("/authorize", params=params))
    assert_redirected_error(response, "access_denied", "on_behalf_of: no active delegation lets this person act for "
                            "that principal with the requested scopes", status=303)


async def test_on_behalf_of_with_a_live_session_and_a_revoked_delegation(env: Env) -> None:
    people = await setup(env)
    await own_tokens(env)  # Bob has an SSO session now
    await service(env).revoke(people.delegation, Actor.person(people.alice), "ended")
    params = env.authorize_params(scope="openid profile appointments.manage",
                                  on_behalf_of=await subject(env, people.alice))
    response = await env.http.get("/authorize", params=params)
    assert_redirected_error(response, "access_denied", "on_behalf_of: no active delegation lets this person act for "
                            "that principal with the requested scopes")


async def test_select_account_forces_the_page_even_with_a_session(env: Env) -> None:
    await setup(env)
    await own_tokens(env, scope="openid email")  # a session and a remembered consent for email
    seen: list[str] = []
    response = await walk(env, await env.http.get("/authorize", params=env.authorize_params(
        scope="openid email", prompt="select_account")), act_as="myself", seen=seen)
    assert seen == ["act_as"]
    assert "code" in query_of(response.headers["location"])


async def test_select_account_with_prompt_none_needs_a_page(env: Env) -> None:
    await setup(env)
    await own_tokens(env, scope="openid email")
    response = await env.http.get("/authorize", params=env.authorize_params(
        scope="openid email", prompt="none select_account"))
    assert_redirected_error(response, "invalid_request", "prompt=none cannot be combined with other values")


async def test_a_choice_not_offered_is_refused_and_nothing_is_chosen(env: Env) -> None:
    await setup(env)
    response = await env.http.get("/authorize", params=env.authorize_params(
        scope="openid profile appointments.manage"))
    response = await env.login(response, username="bob")
    page = await env.http.get(response.headers["location"])
    from tests.conftest import form_field
    action = page.text.split('action="')[1].split('"')[0]
    assert action.endswith("/act")
    refused = await env.http.post(action, data={"csrf_token": form_field(page.text, "csrf_token"),
                                                "acting_for": "not-a-delegation"})
    assert refused.status_code == 400
    assert "Ce choix n’est plus possible. Choisissez à nouveau." in refused.text


async def test_the_act_as_form_needs_its_csrf_token(env: Env) -> None:
    people = await setup(env)
    response = await env.http.get("/authorize", params=env.authorize_params(
        scope="openid profile appointments.manage"))
    response = await env.login(response, username="bob")
    page = await env.http.get(response.headers["location"])
    action = page.text.split('action="')[1].split('"')[0]
    refused = await env.http.post(action, data={"csrf_token": "forged", "acting_for": people.delegation})
    assert refused.status_code == 403


async def test_delegations_scope_lists_what_the_person_holds(env: Env) -> None:
    people = await setup(env)
    issued = await own_tokens(env, scope="openid delegations")
    id_token = await verified_claims(env, issued["id_token"])
    listed = id_token["delegations"]
    assert [d["id"] for d in listed] == [people.delegation]
    assert listed[0]["principal"] == {"sub": await subject(env, people.alice), "given_name": "Alice",
                                      "family_name": "Martin"}
    assert listed[0]["kind"] == "proxy" and listed[0]["scopes"] == ["appointments.manage", "profile"]
    assert isinstance(listed[0]["valid_until"], int)
    info = (await env.http.get("/userinfo", headers={"authorization": f"Bearer {issued['access_token']}"})).json()
    assert info["delegations"] == listed


async def test_acting_shows_the_banner_and_back_to_myself_clears_it(env: Env) -> None:
    people = await setup(env)
    await delegated_tokens(env, people)
    page = await env.http.get("/account")
    assert "Vous agissez pour Alice Martin." in page.text
    from tests.conftest import form_field
    stop = await env.http.post("/account/acting/stop", data={"csrf_token": form_field(page.text, "csrf_token"),
                                                             "next": "/account"})
    assert stop.status_code == 303 and stop.headers["location"] == "/account"
    assert "Vous agissez pour" not in (await env.http.get("/account")).text


async def test_back_to_myself_never_leaves_for_another_site(env: Env) -> None:
    people = await setup(env)
    await delegated_tokens(env, people)
    page = await env.http.get("/account")
    from tests.conftest import form_field
    stop = await env.http.post("/account/acting/stop", data={"csrf_token": form_field(page.text, "csrf_token"),
                                                             "next": "//evil.example/"})
    assert stop.headers["location"] == "/account"


async def test_every_delegated_token_is_audited(env: Env) -> None:
    people = await setup(env)
    await delegated_tokens(env, people)
    await env.container.audit.flush()
    from sqlalchemy import select

    from idp.audit import AuditEvent
    async with env.container.db.session() as session:
        rows = list(await session.scalars(select(AuditEvent).where(AuditEvent.tag == "delegation:token:issued")))
    assert len(rows) == 1
    assert rows[0].actor == people.bob and rows[0].subject == people.alice
    assert rows[0].detail["delegation_id"] == people.delegation
    assert rows[0].detail["scopes"] == ["openid", "profile", "appointments.manage"]


async def test_the_act_as_page_says_whom_and_what_in_plain_words(env: Env) -> None:
    await setup(env)
    response = await env.http.get("/authorize", params=env.authorize_params(
        scope="openid profile appointments.manage"))
    response = await env.login(response, username="bob")
    page = (await env.http.get(response.headers["location"])).text
    assert "Pour qui agissez-vous ?" in page
    assert "Moi-même" in page and "Alice Martin" in page
    assert "Mandataire · autorisé : gérer ses rendez-vous, voir son nom et ses coordonnées · jusqu’au" in page


async def test_the_banner_is_on_every_page_while_acting(env: Env) -> None:
    people = await setup(env)
    await delegated_tokens(env, people)
    for path in ("/enroll", "/account", "/nowhere"):
        page = await env.http.get(path)
        assert "Vous agissez pour Alice Martin." in page.text, path
        assert 'action="/account/acting/stop"' in page.text


async def test_locking_the_principal_ends_tokens_acting_for_her_at_once(env: Env) -> None:
    from idp.admin.operations import AdminOperations, By

    people = await setup(env)
    issued = await delegated_tokens(env, people)
    assert (await introspect(env, issued["access_token"]))["active"] is True  # the check now keeps her row
    await AdminOperations(env.container).lock_account(By("ops", "reported stolen"), people.alice)
    assert await introspect(env, issued["access_token"]) == {"active": False}
