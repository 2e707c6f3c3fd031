"""Password login alone: GET /account/login, then POST the username, password and CSRF token, by N virtual users.

Each iteration clears its cookies, so every login is a fresh sign-in that checks the password (argon2id). A
login counts when the answer is the 303 to /account with a session cookie; anything else is an error. The clock
runs over both requests.
"""

from __future__ import annotations

import asyncio
import html
import re
import resource
import time

import httpx
import uvloop

from .code_flow import FlowStats
from .servers import Target

__all__ = ["run_password_logins"]

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _user(target: Target, deadline: float, stats: FlowStats) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=target.issuer, follow_redirects=False, timeout=15, limits=limits,
                                 verify=False) as client:
        while time.monotonic() < deadline:
            client.cookies.clear()
            started = time.perf_counter()
            try:
                page = await client.get("/account/login")
                csrf = _CSRF.search(page.text)
                if page.status_code != 200 or csrf is None:
                    stats.fail(f"form_http_{page.status_code}", page.text[:200])
                    continue
                answer = await client.post("/account/login", data={
                    "csrf_token": html.unescape(csrf.group(1)), "username": target.username,
                    "password": target.password})
            except httpx.HTTPError as exc:
                stats.fail("transport", f"{type(exc).__name__}: {exc}")
                continue
            if answer.status_code != 303 or not answer.headers.get("location", "").startswith("/account"):
                stats.fail(f"login_http_{answer.status_code}", answer.text[:200])
                continue
            if "set-cookie" not in answer.headers:
                stats.fail("no_session_cookie", str(answer.headers))
                continue
            stats.latencies.append(time.perf_counter() - started)


async def _run(target: Target, users: int, duration: float) -> FlowStats:
    stats = FlowStats(users=users, seconds=0.0)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    await asyncio.gather(*(_user(target, started + duration, stats) for _ in range(users)))
    stats.seconds = time.monotonic() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    stats.driver_cpu_seconds = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return stats


def run_password_logins(target: Target, users: int, duration: float) -> FlowStats:
    return uvloop.run(_run(target, users, duration))
