"""The uvicorn options shared by `mandat serve` and `mandat demo run`: no `server` header, header limits."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from idp.demo.run import demo_servers
from idp.http.server import server_options
from tests.conftest import Env, free_port


def test_server_options_send_no_server_header(sqlite_env: Env) -> None:
    options = server_options(sqlite_env.settings)
    assert options["server_header"] is False
    assert options["proxy_headers"] is False
    assert options["h11_max_incomplete_event_size"] > sqlite_env.settings.max_headers_total_bytes


async def test_demo_servers_send_no_server_header(sqlite_env: Env) -> None:
    """Start the IdP and portal servers exactly as `demo run` builds them and look at a real response."""

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    def tiny() -> Starlette:
        return Starlette(routes=[Route("/", hello)])

    port, portal_port = free_port(), free_port()
    servers = demo_servers(sqlite_env.settings, tiny(), tiny(), host="127.0.0.1", port=port,
                           portal_port=portal_port)
    for server in servers:
        server.config.log_level = "warning"
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    try:
        for _ in range(200):
            if all(server.started for server in servers):
                break
            await asyncio.sleep(0.02)
        assert all(server.started for server in servers)
        async with httpx.AsyncClient() as http:
            for p in (port, portal_port):
                response = await http.get(f"http://127.0.0.1:{p}/")
                assert response.status_code == 200 and response.text == "ok"
                assert "server" not in response.headers
    finally:
        for server in servers:
            server.should_exit = True
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
