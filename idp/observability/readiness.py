"""/readyz: may this process take traffic? PostgreSQL and Redis each answer within MANDAT_READY_TIMEOUT.

200 `{"status": "ready", "checks": {...}}`, or 503 naming what is down, e.g.
`{"status": "unavailable", "checks": {"database": "ok", "redis": "down (TimeoutError)"}}`. Only exception class
names are reported, never a URL (it may carry a password). /healthz, by contrast, only says the process
answers: a Kubernetes liveness probe must not restart every pod because Redis is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.container import Container
from idp.store import RedisStore

__all__ = ["checks", "readyz"]


async def _database(container: Container) -> None:
    async with container.db.session() as session:
        await session.execute(text("SELECT 1"))


async def _redis(container: Container) -> None:
    assert isinstance(container.store, RedisStore)
    await container.store.ping()


async def _run(check: Callable[[Container], Awaitable[None]], container: Container, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            await check(container)
    except Exception as exc:  # any failure is "down"; the class says which
        return f"down ({type(exc).__name__})"
    return "ok"


async def checks(container: Container) -> dict[str, str]:
    timeout = container.settings.ready_timeout
    names: list[str] = ["database"]
    probes = [_run(_database, container, timeout)]
    if isinstance(container.store, RedisStore):
        names.append("redis")
        probes.append(_run(_redis, container, timeout))
    return dict(zip(names, await asyncio.gather(*probes), strict=True))


async def readyz(request: Request) -> Response:
    container: Container = request.app.state.container
    results = await checks(container)
    ready = all(value == "ok" for value in results.values())
    headers = {"cache-control": "no-store"}
    if not ready:
        headers["retry-after"] = str(container.settings.retry_after_seconds)
    return JSONResponse({"status": "ready" if ready else "unavailable", "checks": results},
                        status_code=200 if ready else 503, headers=headers)
