"""Live ceremonies: PasskeyService options -> real Chromium + CDP virtual authenticator -> PasskeyService verify.

No recorded data here: fresh challenges, the real browser, the real store and a real SQLite database.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from idp.accounts.models import Account
from idp.db import Base, Database
from idp.passkeys.config import PasskeySettings
from idp.passkeys.errors import PasskeyError
from idp.passkeys.models import PasskeyUserHandle, WebAuthnCredential
from idp.passkeys.service import PasskeyService
from idp.store import MemoryStore
from tests.conftest import unavailable
from tests.e2e.passkeys.browser import (
    VIRTUAL_AAGUID,
    BrowserRefused,
    add_virtual_authenticator,
    chromium,
    chromium_available,
    create_credential,
    get_assertion,
    open_page,
    serve_localhost,
)
from tests.fixtures.webauthn import HERE

pytestmark = [pytest.mark.browser]

# The level of the sign-in that binds each key: eidas3, so that only the key and its attestation grade it here
# (the cap by the binding sign-in is checked in tests/unit/passkeys/test_policy.py and on the account pages).
BOUND_AT = "eidas3"


@pytest.fixture(autouse=True)
def _needs_chromium() -> None:
    if not chromium_available():
        unavailable("needs /usr/bin/chromium (apt-get install chromium)")


async def _blank(_: Request) -> HTMLResponse:
    return HTMLResponse("<!doctype html><html lang='en'><title>Mandat</title><body></body></html>")


# Only what passkeys touch: other domains' tables (and their foreign keys) are not needed here.
PASSKEY_TABLES = (Account.__tablename__, PasskeyUserHandle.__tablename__, WebAuthnCredential.__tablename__)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(
            Base.metadata.create_all,
            tables=[Base.metadata.tables[name] for name in PASSKEY_TABLES],
        )
    yield database
    await database.dispose()


@pytest.fixture
async def account(db: Database) -> Account:
    account = Account(username="alice", given_name="Alice", family_name="Martin")
    async with db.transaction() as session:
        session.add(account)
    return account


@pytest.fixture
async def origin() -> AsyncIterator[str]:
    async with serve_localhost(Starlette(routes=[Route("/", _blank)])) as served:
        yield served


def service_for(origin: str, db: Database, **settings: Any) -> PasskeyService:
    return PasskeyService(db, MemoryStore(), PasskeySettings(rp_id="localhost", origins=(origin,), **settings))


async def test_register_then_sign_in_username_first_and_discoverable(
    origin: str, db: Database, account: Account
) -> None:
    service = service_for(origin, db)
    async with chromium() as browser:
        page = await open_page(browser, origin + "/")
        key = await add_virtual_authenticator(page)
        options, ceremony = await service.begin_registration(account, require_uv=True)
        credential = await service.finish_registration(account, ceremony, _json(await create_credential(page, options)),
                                                       "Clé de test", bound_at=BOUND_AT)
        assert credential.acr == "eidas2"

        options, ceremony = await service.begin_authentication(account, require_uv=True)
        first = await service.finish_authentication(ceremony, _json(await get_assertion(page, options)))
        options, ceremony = await service.begin_authentication(None, require_uv=True)
        second = await service.finish_authentication(ceremony, _json(await get_assertion(page, options)))
        assert first.account_id == second.account_id == account.id
        assert second.credential.sign_count > first.credential.sign_count > 0
        assert second.amr == ("hwk", "user", "mfa")
        # The authenticator was told our random user handle, never the account id.
        stored = (await key.credentials())[0]
        assert stored["userHandle"] and account.id not in stored["userHandle"]


async def test_excluded_key_cannot_register_twice(origin: str, db: Database, account: Account) -> None:
    service = service_for(origin, db)
    async with chromium() as browser:
        page = await open_page(browser, origin + "/")
        await add_virtual_authenticator(page)
        options, ceremony = await service.begin_registration(account, require_uv=True)
        await service.finish_registration(account, ceremony, _json(await create_credential(page, options)), "A",
                                          bound_at=BOUND_AT)
        options, _ = await service.begin_registration(account, require_uv=True)
        with pytest.raises(BrowserRefused) as excinfo:
            await create_credential(page, options)
        assert excinfo.value.name == "InvalidStateError"


async def test_unverified_user_cannot_complete_a_uv_sign_in(origin: str, db: Database, account: Account) -> None:
    service = service_for(origin, db)
    async with chromium() as browser:
        page = await open_page(browser, origin + "/")
        key = await add_virtual_authenticator(page)
        options, ceremony = await service.begin_registration(account, require_uv=True)
        await service.finish_registration(account, ceremony, _json(await create_credential(page, options)), "A",
                                          bound_at=BOUND_AT)
        await key.set_user_verified(False)
        options, ceremony = await service.begin_authentication(account, require_uv=True)
        with pytest.raises(BrowserRefused) as excinfo:
            await get_assertion(page, options)
        assert excinfo.value.name == "NotAllowedError"
        # The abandoned ceremony cannot be finished later with anything.
        with pytest.raises(PasskeyError) as refused:
            await service.finish_authentication(ceremony, "{}")
        assert refused.value.code == "malformed"


async def test_attested_key_without_configured_roots_stays_eidas2(
    origin: str, db: Database, account: Account
) -> None:
    # Allow-listed model, packed attestation, UV, but no root to prove the AAGUID: a claim only, so eidas2.
    # (The eidas3 path runs on the recorded packed ceremony in tests/unit/passkeys: Chromium re-issues its
    # self-signed CA:FALSE batch certificate at every create() with a new notAfter, so no root can be
    # configured ahead of a live registration.)
    service = service_for(origin, db, aaguid_allow_list=frozenset({VIRTUAL_AAGUID}))
    async with chromium() as browser:
        page = await open_page(browser, origin + "/")
        await add_virtual_authenticator(page)
        options, ceremony = await service.begin_registration(account, require_uv=True, attestation=True)
        credential = await service.finish_registration(
            account, ceremony, _json(await create_credential(page, options)), "Clé", bound_at=BOUND_AT
        )
        assert (credential.acr, credential.aaguid, credential.attestation_fmt) == ("eidas2", VIRTUAL_AAGUID, "packed")
        options, ceremony = await service.begin_authentication(account, require_uv=True)
        result = await service.finish_authentication(ceremony, _json(await get_assertion(page, options)))
        assert (result.amr, result.acr) == (("hwk", "user", "mfa"), "eidas2")


async def test_attestation_not_chaining_to_the_configured_root_is_refused(
    origin: str, db: Database, account: Account
) -> None:
    # The recorded batch certificate is another (earlier) certificate: a live key must not chain to it.
    service = service_for(
        origin, db, aaguid_allow_list=frozenset({VIRTUAL_AAGUID}),
        attestation_roots={"packed": ((HERE / "chromium_attestation_root.pem").read_bytes(),)},
    )
    async with chromium() as browser:
        page = await open_page(browser, origin + "/")
        await add_virtual_authenticator(page)
        options, ceremony = await service.begin_registration(account, require_uv=True, require_allow_listed=True)
        response = _json(await create_credential(page, options))
        with pytest.raises(PasskeyError) as excinfo:
            await service.finish_registration(account, ceremony, response, "Clé", bound_at=BOUND_AT)
        assert excinfo.value.code == "attestation_untrusted"


def _json(response: dict[str, object]) -> str:
    return json.dumps(response)
