"""Live servers for end-to-end tests: real uvicorn on 127.0.0.1, opened as http://localhost:PORT."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.types import ASGIApp

from idp.app import create_app
from idp.container import Container
from idp.settings import Settings
from tests.conftest import free_port, make_settings, unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


@asynccontextmanager
async def serve(app: ASGIApp, port: int, *, lifespan: str = "on") -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@dataclass
class LiveIdP:
    issuer: str
    port: int
    settings: Settings
    container: Container


@pytest.fixture
def live_idp_factory(tmp_path: Path, sqlite_template: Path) -> Callable[..., Any]:
    @asynccontextmanager
    async def start(**extra_env: str) -> AsyncIterator[LiveIdP]:
        port = free_port()
        db_path = tmp_path / f"live-{port}.db"
        shutil.copy(sqlite_template, db_path)
        settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{db_path}", MANDAT_ISSUER=f"http://localhost:{port}",
                                 **extra_env)
        app = create_app(settings)
        async with serve(app, port):
            yield LiveIdP(f"http://localhost:{port}", port, settings, app.state.container)

    return start


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists():
        unavailable("Chromium is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


async def check_accessibility(page: Any) -> None:
    """axe-core, WCAG 2.1 A + AA rules: no violations allowed."""
    if not AXE.exists():
        unavailable("axe-core is not installed (npm ci --prefix tests/e2e)")
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', "
        "'wcag21aa']}})")
    violations = [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in result["violations"]]
    assert not violations, f"axe violations on {page.url}: {violations}"


async def open_other_ways(page: Any) -> None:
    """Open the sign-in page's "Other ways to sign in" disclosure (closed by default) as a person would: a click
    on its summary. Methods inside it are hidden until then."""
    others = page.locator("details.signin-others")
    if not await others.evaluate("details => details.open"):
        await others.locator("summary").click()
    assert await others.evaluate("details => details.open")
