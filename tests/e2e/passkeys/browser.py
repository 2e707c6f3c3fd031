"""Reusable Playwright + Chromium rig with a CDP WebAuthn virtual authenticator.

Chromium is the Debian package (/usr/bin/chromium); `playwright install` is never run. WebAuthn needs a secure
context and an RP id that is a domain, so serve on 127.0.0.1 and open http://localhost:PORT (RP id `localhost`).

    async with chromium() as browser:
        page = await open_page(browser, f"http://localhost:{port}/")
        key = await add_virtual_authenticator(page)            # ctap2, resident key, UV
        response = await create_credential(page, options_json)  # options from idp.passkeys
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from playwright.async_api import Browser, CDPSession, Page, async_playwright
from starlette.types import ASGIApp

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "VIRTUAL_AAGUID",
    "BrowserRefused",
    "VirtualAuthenticator",
    "add_virtual_authenticator",
    "chromium",
    "chromium_available",
    "create_credential",
    "get_assertion",
    "open_page",
    "serve_localhost",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Chromium's virtual authenticator reports this AAGUID (and signs packed attestations for it).
VIRTUAL_AAGUID = "01020304-0506-0708-0102-030405060708"

# The browser's own JSON (de)serialisation (WebAuthn L3: parse*FromJSON / toJSON), so the page does no
# hand-written base64url work that could hide a browser bug.
_CREATE_JS = """async (optionsJson) => {
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(JSON.parse(optionsJson));
  try {
    const credential = await navigator.credentials.create({publicKey});
    return {ok: true, response: credential.toJSON()};
  } catch (e) { return {ok: false, name: e.name, message: e.message}; }
}"""
_GET_JS = """async (optionsJson) => {
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(JSON.parse(optionsJson));
  try {
    const credential = await navigator.credentials.get({publicKey});
    return {ok: true, response: credential.toJSON()};
  } catch (e) { return {ok: false, name: e.name, message: e.message}; }
}"""


@asynccontextmanager
async def serve_localhost(app: ASGIApp) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 (random port) in this event loop; yields the origin to open: http://localhost:PORT."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    # uvicorn offers a `started` flag but no event to await.
    while not server.started:
        if serving.done():
            serving.result()  # re-raises why it could not start (e.g. the port was taken meanwhile)
        await asyncio.sleep(0.01)
    try:
        yield f"http://localhost:{port}"
    finally:
        server.should_exit = True
        await serving


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None


class BrowserRefused(Exception):
    """navigator.credentials refused (e.g. NotAllowedError, SecurityError); `name` is the DOMException name."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


@dataclass
class VirtualAuthenticator:
    cdp: CDPSession
    authenticator_id: str

    async def credentials(self) -> list[dict[str, Any]]:
        """CDP credentials, including `privateKey` (base64 PKCS#8) and `signCount`."""
        result = await self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id})
        return list(result["credentials"])

    async def set_user_verified(self, verified: bool) -> None:
        await self.cdp.send(
            "WebAuthn.setUserVerified", {"authenticatorId": self.authenticator_id, "isUserVerified": verified}
        )

    async def remove(self) -> None:
        await self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.authenticator_id})


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def open_page(browser: Browser, url: str) -> Page:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(url)
    return page


async def add_virtual_authenticator(page: Page, **options: Any) -> VirtualAuthenticator:
    """Add a virtual authenticator; `options` override the defaults (ctap2/usb, resident key, UV, auto presence)."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable", {"enableUI": False})
    settings = {
        "protocol": "ctap2",
        "transport": "usb",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
        **options,
    }
    result = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": settings})
    return VirtualAuthenticator(cdp=cdp, authenticator_id=str(result["authenticatorId"]))


async def create_credential(page: Page, options_json: str) -> dict[str, Any]:
    """Run navigator.credentials.create() with server options JSON; the browser's JSON of the new credential."""
    outcome = await page.evaluate(_CREATE_JS, options_json)
    if not outcome["ok"]:
        raise BrowserRefused(outcome["name"], outcome["message"])
    return dict(outcome["response"])


async def get_assertion(page: Page, options_json: str) -> dict[str, Any]:
    """Run navigator.credentials.get() with server options JSON; the browser's JSON of the assertion."""
    outcome = await page.evaluate(_GET_JS, options_json)
    if not outcome["ok"]:
        raise BrowserRefused(outcome["name"], outcome["message"])
    return dict(outcome["response"])
