"""Helpers for the enrollment page tests: an app with enrollment settings of our choosing, on either backend,
and the form posts a citizen makes."""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from idp.app import create_app
from idp.enrollment.demo import DEMO_CHILD, DEMO_CITIZEN, DEMO_PARENT
from idp.enrollment.models import OutboxLetter, RegistryRecord, SecurityCode
from idp.enrollment.registry_rows import build_row
from idp.store import EphemeralStore, MemoryStore, RedisStore
from tests.conftest import ISSUER, REDIS_URL, Env, form_field, make_settings, port_open, truncate_postgres, unavailable

NEW_PASSWORD = "purple tractor singing loudly"
# Fast pages: the timing floor is asserted where it matters, with its own value.
FAST = {"MANDAT_ENROLLMENT_REQUEST_MIN_DURATION_MS": "0", "MANDAT_DEMO": "true"}

WebFactory = Callable[..., Any]


def typed_request(record: dict[str, str], **overrides: str) -> dict[str, str]:
    """What a citizen types for `record`, spelled differently from the registry (case, accents, spaces)."""
    year, month, day = record["birth_date"].split("-")
    expiry = record["card_expiry"].split("-")
    fields = {
        "number": " ".join(re.findall(".{1,4}", record["number"])).lower(),
        "family_name": record["family_name"].upper().replace("-", " ").replace("È", "E").replace("É", "E"),
        "given_name": record["given_names"].split()[0].lower(),
        "birth_day": day, "birth_month": month.lstrip("0"), "birth_year": year,
        "card_sequence": record["card_sequence"], "expiry_month": expiry[1], "expiry_year": expiry[0],
    }
    fields.update(overrides)
    return fields


@asynccontextmanager
async def web_app(backend: str, request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path,
                  **extra: str) -> AsyncIterator[Env]:
    store: EphemeralStore
    env = {**FAST, **extra}
    if backend == "sqlite+memory":
        db_path = tmp_path / f"web-{secrets.token_hex(4)}.db"
        shutil.copy(sqlite_template, db_path)
        settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{db_path}", **env)
        store = MemoryStore()
    else:
        url = request.getfixturevalue("postgres_url")
        parts = urlsplit(REDIS_URL)
        if not port_open(parts.hostname or "127.0.0.1", parts.port or 6379):
            unavailable(f"Redis is not reachable at {parts.hostname}:{parts.port}")
        await truncate_postgres(url)
        settings = make_settings(tmp_path, url, REDIS_URL, **env)
        store = RedisStore(REDIS_URL, prefix=f"test:{secrets.token_hex(6)}:")
    app = create_app(settings, store=store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER, follow_redirects=False,
                                     headers={"accept-language": "en"}) as http:
            web = Env(backend, settings, app, http, store)
            for record in (DEMO_CITIZEN, DEMO_PARENT, DEMO_CHILD):
                await add_record(web, record)
            yield web


async def add_record(web: Env, record: dict[str, str]) -> None:
    row = build_row(record)
    async with web.container.db.transaction() as session:
        session.add(RegistryRecord(**row.values()))


async def csrf(web: Env, path: str = "/enroll", *, http: httpx.AsyncClient | None = None) -> str:
    page = await (http or web.http).get(path)
    assert page.status_code == 200, page.text
    return form_field(page.text, "csrf_token")


async def request_code(web: Env, fields: dict[str, str], path: str = "/enroll") -> httpx.Response:
    return await web.http.post(path, data={"csrf_token": await csrf(web, path), **fields})


async def activate(web: Env, number: str, code: str, password: str = NEW_PASSWORD, *,
                   http: httpx.AsyncClient | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    """Post the activation form from `http` (another browser, at another address) or the test's own client."""
    client = http or web.http
    token = await csrf(web, "/activate", http=client)
    return await client.post("/activate", headers=headers, data={"csrf_token": token, "number": number,
                                                                 "code": code, "password": password})


@asynccontextmanager
async def browser_at(web: Env, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """Another person's browser: its own cookies, connecting from `ip` (the test's own client is 203.0.113.7)."""
    transport = httpx.ASGITransport(app=web.app, client=(ip, 50000))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER, follow_redirects=False,
                                 headers={"accept-language": "en"}) as http:
        yield http


async def outbox_codes(web: Env) -> list[tuple[str, str]]:
    """(number, code) of the pending letters as the demo outbox page shows them, newest first."""
    page = await web.http.get("/demo/outbox")
    assert page.status_code == 200, page.text
    return re.findall(r"<td class=\"mono\" data-number>([^<]+)</td>.*?data-code>([^<]*)<", page.text, re.S)


async def latest_code(web: Env, number: str) -> str:
    codes = [code for n, code in await outbox_codes(web) if n == number]
    assert codes, f"no letter for {number}"
    return codes[0]


async def letters(web: Env) -> list[OutboxLetter]:
    async with web.container.db.session() as session:
        return list(await session.scalars(select(OutboxLetter).order_by(OutboxLetter.id)))


async def expire_codes(web: Env, number: str) -> None:
    from datetime import timedelta

    from idp.db import utcnow

    async with web.container.db.transaction() as session:
        await session.execute(update(SecurityCode).where(SecurityCode.registry_number == number)
                              .values(expires_at=utcnow() - timedelta(seconds=1)))


def errors_of(html: str) -> list[str]:
    """The messages of the error summary (role=alert), in order."""
    summary = re.search(r'<div class="notice notice-error" role="alert" id="error-summary".*?</ul>', html, re.S)
    assert summary, html
    items = re.findall(r"<li>(.*?)</li>", summary.group(0), re.S)
    return [unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip()) for item in items]
