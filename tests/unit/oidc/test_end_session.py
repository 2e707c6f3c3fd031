"""RP-initiated logout (/session/end): exact post_logout_redirect_uri, confirmation with CSRF otherwise."""

from __future__ import annotations

from urllib.parse import urlencode

from tests.conftest import Env, form_field
from tests.unit.oidc.flows import assert_error_page, assert_json_error, query_of, refresh, tokens

BYE = "https://rp.example/bye"


async def signed_in(env: Env) -> dict[str, str]:
    await env.add_client(post_logout_redirect_uris=[BYE])
    await env.add_account()
    issued = await tokens(env)
    assert "mandat_session" in env.http.cookies
    return issued


async def session_is_gone(env: Env) -> bool:
    response = await env.http.get("/authorize", params=env.authorize_params(prompt="none"))
    return query_of(response.headers["location"]).get("error") == "login_required"


async def test_hint_and_registered_uri_redirect_with_state(env: Env) -> None:
    issued = await signed_in(env)
    response = await env.http.get("/session/end?" + urlencode({
        "id_token_hint": issued["id_token"], "post_logout_redirect_uri": BYE, "state": "bye-1"}))
    assert response.status_code == 303
    assert response.headers["location"] == f"{BYE}?state=bye-1"
    assert 'mandat_session=""' in response.headers["set-cookie"]
    assert await session_is_gone(env)
    # Grants bound to the session go with it.
    assert_json_error(await refresh(env, issued["refresh_token"]), "invalid_grant", "the grant was revoked")


async def test_unregistered_post_logout_redirect_uri_is_an_error_page(env: Env) -> None:
    issued = await signed_in(env)
    for uri in ("https://attacker.test/bye", f"{BYE}/", f"{BYE}?x=1"):
        response = await env.http.get("/session/end?" + urlencode({
            "id_token_hint": issued["id_token"], "post_logout_redirect_uri": uri}))
        assert_error_page(response, "post_logout_redirect_uri is not registered for this client")
    assert not await session_is_gone(env)


async def test_post_logout_redirect_uri_needs_a_client(env: Env) -> None:
    await signed_in(env)
    response = await env.http.get("/session/end", params={"post_logout_redirect_uri": BYE})
    assert_error_page(response, "post_logout_redirect_uri needs id_token_hint or client_id")


async def test_forged_id_token_hint_is_an_error_page(env: Env) -> None:
    issued = await signed_in(env)
    header, payload, signature = issued["id_token"].split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    response = await env.http.get("/session/end", params={"id_token_hint": forged})
    assert_error_page(response, "id_token_hint is not an ID token we issued")
    assert not await session_is_gone(env)


async def test_client_id_contradicting_the_hint(env: Env) -> None:
    issued = await signed_in(env)
    await env.add_client("rp2")
    response = await env.http.get("/session/end", params={"id_token_hint": issued["id_token"], "client_id": "rp2"})
    assert_error_page(response, "client_id does not match id_token_hint")


async def test_without_hint_asks_for_confirmation_with_csrf(env: Env) -> None:
    await signed_in(env)
    page = await env.http.get("/session/end", params={"client_id": "rp", "post_logout_redirect_uri": BYE,
                                                      "state": "s"})
    assert page.status_code == 200
    assert not await session_is_gone(env)
    csrf = form_field(page.text, "csrf_token")
    assert form_field(page.text, "post_logout_redirect_uri") == BYE
    response = await env.http.post("/session/end", data={
        "csrf_token": csrf, "confirm": "yes", "client_id": "rp", "post_logout_redirect_uri": BYE, "state": "s"})
    assert response.status_code == 303
    assert response.headers["location"] == f"{BYE}?state=s"
    assert await session_is_gone(env)


async def test_confirmation_without_csrf_is_refused(env: Env) -> None:
    await signed_in(env)
    response = await env.http.post("/session/end", data={"confirm": "yes"})
    assert response.status_code == 403
    assert not await session_is_gone(env)


async def test_confirmation_with_wrong_csrf_is_refused(env: Env) -> None:
    await signed_in(env)
    response = await env.http.post("/session/end", data={"confirm": "yes", "csrf_token": "0" * 64})
    assert response.status_code == 403
    assert not await session_is_gone(env)


async def test_hint_for_another_session_still_asks(env: Env) -> None:
    issued = await signed_in(env)
    env.http.cookies.delete("mandat_session")
    await tokens(env)  # a new session in this browser
    response = await env.http.get("/session/end", params={"id_token_hint": issued["id_token"]})
    assert response.status_code == 200
    assert 'name="confirm"' in response.text
    assert not await session_is_gone(env)


async def test_ending_an_account_s_sessions_refuses_every_earlier_session_but_not_later_ones(env: Env) -> None:
    from idp.oidc import assurance
    from idp.oidc.sessions import create_session, end_account_sessions, load_session

    provider = env.container.provider
    first = await create_session(provider, "acct-1", assurance.password())
    second = await create_session(provider, "acct-1", assurance.password())
    other = await create_session(provider, "acct-2", assurance.password())
    await end_account_sessions(provider, "acct-1")
    later = await create_session(provider, "acct-1", assurance.password())
    assert await load_session(provider, first.token) is None
    assert await load_session(provider, second.token) is None
    assert await load_session(provider, other.token) is not None
    assert await load_session(provider, later.token) is not None
