"""The authorization-code + PKCE flow driven like a browser, by N concurrent virtual users for a fixed time.

One iteration: GET authorize, follow redirects; on each HTML page submit its form (the login form gets the
username and password, the consent form is posted as rendered, hidden fields such as `csrf_token`
included); stop at the redirect to the client's redirect_uri, check `state` and `iss`, redeem the code at
the token endpoint with the PKCE verifier, and verify the ID token (signature, iss, aud, nonce, at_hash when
present). The clock runs from the authorize request to the token response; verification is not timed.

The page walking is generic on purpose: node-oidc-provider's devInteractions (`POST /interaction/:uid` with
`prompt=login&login=…&password=…`, then `prompt=consent`) and Mandat's contract (`/interaction/{uid}/login`
with `username`/`password`/`csrf_token`, then `/interaction/{uid}/consent`) both come out of their own HTML.
Only the name of the username field differs, and it is a field of `Target`.

Each virtual user owns one httpx client (its cookies: CSRF, interaction, session) with one connection, and
clears its cookies before each iteration so every flow logs in afresh.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import html
import re
import resource
import secrets
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import uvloop
from joserfc.jwk import KeySet, KeySetSerialization

from .servers import REDIRECT_URI, Target
from .verify import check_id_token

__all__ = ["FlowStats", "one_flow", "run_code_flow", "run_code_flow_processes"]

# httpcore tries `import sniffio` on every request; without sniffio installed each failed import walks
# sys.path (~0.3 ms here), which made the driver, not the server, the bottleneck. A None entry makes the
# import fail at once, and httpcore then assumes asyncio, which is what we run.
sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

MAX_HOPS = 20
APPROVE_WORDS = ("allow", "accept", "approve", "consent", "continue", "yes", "authorize", "autoriser")


class FlowError(Exception):
    """One iteration failed; `kind` groups failures for the report, the message says what happened."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass
class Form:
    action: str
    method: str
    inputs: list[dict[str, str]] = field(default_factory=list)
    buttons: list[dict[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(action=attr.get("action", ""), method=attr.get("method", "get").lower())
            self.forms.append(self._current)
        elif self._current is None:
            return
        elif tag == "input":
            if attr.get("type", "text").lower() == "submit":
                self._current.buttons.append(attr)
            else:
                self._current.inputs.append(attr)
        elif tag == "button" and attr.get("type", "submit").lower() == "submit":
            self._current.buttons.append(attr)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def _form_markup(html: str) -> str:
    """Only the <form> elements: pages may carry kilobytes of CSS and debug text the parser need not walk."""
    lowered = html.lower()
    parts, start = [], lowered.find("<form")
    while start != -1:
        end = lowered.find("</form>", start)
        end = len(html) if end == -1 else end + len("</form>")
        parts.append(html[start:end])
        start = lowered.find("<form", end)
    return "".join(parts)


def _pick_form(html: str) -> Form:
    parser = _FormParser()
    parser.feed(_form_markup(html))
    posts = [f for f in parser.forms if f.method == "post"]
    if not posts:
        raise FlowError("no_form", "page has no POST form")
    with_password = [f for f in posts if any(i.get("type", "").lower() == "password" for i in f.inputs)]
    return (with_password or posts)[0]


def _fill(form: Form, target: Target) -> dict[str, str]:
    data: dict[str, str] = {}
    for field_ in form.inputs:
        name, kind = field_.get("name"), field_.get("type", "text").lower()
        if not name or (kind in {"checkbox", "radio"} and "checked" not in field_):
            continue
        if kind == "password":
            data[name] = target.password
        elif name == target.username_field:
            data[name] = target.username
        else:
            data[name] = field_.get("value", "")
    named = [b for b in form.buttons if b.get("name")]
    if named:
        approve = [b for b in named if any(w in (b.get("value", "") + b["name"]).lower() for w in APPROVE_WORDS)]
        button = (approve or named)[0]
        data[button["name"]] = button.get("value", "")
    return data


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class FlowOutcome:
    seconds: float
    id_token: str
    access_token: str | None
    nonce: str
    body: dict[str, Any] = field(default_factory=dict)


_CSRF_ATTR = re.compile(r'data-csrf="([^"]+)"')


async def _passkey_sign_in(client: httpx.AsyncClient, page: httpx.Response, target: Target) -> httpx.Response:
    """The sign-in page's passkey button, as passkeys.js does it: options, the authenticator, verify."""
    assert target.authenticator is not None
    csrf = _CSRF_ATTR.search(page.text)
    if csrf is None:
        raise FlowError("no_passkey_csrf", f"{page.url.path}: no data-csrf on the sign-in page")
    base = str(page.url).split("?", 1)[0].rstrip("/")
    headers = {"x-csrf-token": html.unescape(csrf.group(1))}
    begun = await client.post(f"{base}/passkeys/options", json={"mode": "sign_in", "username": target.username},
                              headers=headers)
    if begun.status_code != 200:
        raise FlowError(f"passkey_options_{begun.status_code}", begun.text[:200])
    started = begun.json()
    credential = target.authenticator.assert_(started["options"])
    finished = await client.post(f"{base}/passkeys/verify", json={"ceremony": started["ceremony"],
                                                                  "credential": credential}, headers=headers)
    if finished.status_code != 200 or "redirect" not in finished.text:
        raise FlowError(f"passkey_verify_{finished.status_code}", finished.text[:200])
    return await client.get(urljoin(str(page.url), finished.json()["redirect"]))


async def one_flow(client: httpx.AsyncClient, target: Target, discovery: dict[str, Any], *,
                   scope: str | None = None, prompt: str | None = None) -> FlowOutcome:
    """Run one whole flow; raise FlowError with a short kind on the first thing that goes wrong."""
    verifier, challenge = _pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {"response_type": "code", "client_id": target.client_id, "redirect_uri": REDIRECT_URI,
              "scope": scope or target.code_scope, "state": state, "nonce": nonce,
              "code_challenge": challenge, "code_challenge_method": "S256"}
    if prompt:
        params["prompt"] = prompt
    query = urlencode(params)
    started = time.perf_counter()
    response = await client.get(f"{discovery['authorization_endpoint']}?{query}")
    for _hop in range(MAX_HOPS):
        if response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if location.startswith(REDIRECT_URI):
                break
            response = await client.get(location)
        elif (response.status_code == 200 and target.authenticator is not None
              and 'data-passkeys="sign_in"' in response.text):
            response = await _passkey_sign_in(client, response, target)
        elif response.status_code == 200 and "html" in response.headers.get("content-type", ""):
            form = _pick_form(response.text)
            action = urljoin(str(response.url), form.action or str(response.url))
            response = await client.post(action, data=_fill(form, target))
        else:
            raise FlowError(f"http_{response.status_code}", f"{response.request.method} {response.url.path}: "
                                                              f"{response.text[:200]!r}")
    else:
        raise FlowError("too_many_hops", f"no redirect to the client after {MAX_HOPS} steps")

    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if "error" in params:
        raise FlowError(f"authz_{params['error']}", params.get("error_description", ""))
    if params.get("state") != state:
        raise FlowError("state_mismatch", f"{params.get('state')!r}")
    if "iss" in params and params["iss"] != target.issuer:
        raise FlowError("iss_mismatch", f"{params['iss']!r}")
    if "code" not in params:
        raise FlowError("no_code", location)

    token = await client.post(discovery["token_endpoint"], auth=(target.client_id, target.client_secret), data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier})
    seconds = time.perf_counter() - started
    if token.status_code != 200:
        raise FlowError(f"token_http_{token.status_code}", token.text[:200])
    body = token.json()
    if "id_token" not in body:
        raise FlowError("no_id_token", str(sorted(body)))
    return FlowOutcome(seconds=seconds, id_token=body["id_token"], access_token=body.get("access_token"),
                       nonce=nonce, body=body)


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


@dataclass
class FlowStats:
    users: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    with_at_hash: int = 0
    driver_cpu_seconds: float = 0.0

    def fail(self, kind: str, message: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {"users": self.users, "seconds": round(self.seconds, 3), "flows": len(ordered),
                "flows_per_s": round(len(ordered) / self.seconds, 2) if self.seconds else 0.0,
                "p50_ms": round(percentile(ordered, 50) * 1000, 2), "p99_ms": round(percentile(ordered, 99) * 1000, 2),
                "errors": sum(self.errors.values()), "errors_by_kind": self.errors,
                "error_samples": self.error_samples, "id_tokens_with_at_hash": self.with_at_hash,
                "driver_cpu_seconds": round(self.driver_cpu_seconds, 2)}


async def _user(target: Target, discovery: dict[str, Any], jwks: KeySet, deadline: float, stats: FlowStats) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    # verify=False: plain http on loopback only, and it spares loading the CA bundle once per virtual user.
    async with httpx.AsyncClient(follow_redirects=False, timeout=15, limits=limits, verify=False) as client:
        while time.monotonic() < deadline:
            client.cookies.clear()
            try:
                outcome = await one_flow(client, target, discovery)
            except FlowError as exc:
                stats.fail(exc.kind, str(exc))
                continue
            except httpx.HTTPError as exc:
                stats.fail("transport", f"{type(exc).__name__}: {exc}")
                continue
            problems, has_at_hash = check_id_token(outcome.id_token, jwks, target.issuer, target.client_id,
                                                   outcome.nonce, outcome.access_token)
            if problems:
                stats.fail("id_token", "; ".join(problems))
                continue
            stats.with_at_hash += has_at_hash
            stats.latencies.append(outcome.seconds)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_code_flow(target: Target, discovery: dict[str, Any], jwks: KeySet, users: int,
                        duration: float) -> FlowStats:
    """Drive `users` virtual users for `duration` seconds; a flow in flight at the deadline still counts."""
    stats = FlowStats(users=users, seconds=0.0)
    cpu0, started = _cpu(), time.monotonic()
    deadline = started + duration
    await asyncio.gather(*(_user(target, discovery, jwks, deadline, stats) for _ in range(users)))
    stats.seconds = time.monotonic() - started
    stats.driver_cpu_seconds = _cpu() - cpu0
    return stats


def _keys(jwks: dict[str, Any]) -> KeySet:
    return KeySet.import_key_set(cast(KeySetSerialization, jwks))


def _process_main(target: Target, discovery: dict[str, Any], jwks: dict[str, Any], users: int, duration: float,
                  start_at: float) -> FlowStats:
    time.sleep(max(0.0, start_at - time.time()))
    return uvloop.run(run_code_flow(target, discovery, _keys(jwks), users, duration))


def run_code_flow_processes(target: Target, discovery: dict[str, Any], jwks: dict[str, Any], users: int,
                            duration: float, processes: int) -> FlowStats:
    """Split `users` over `processes` driver processes (one event loop each) and merge their figures.

    One Python process tops out at one core of httpx work; a second lets the driver keep up with a server
    that would otherwise be waiting for it. All of them share the machine's cores with the server.
    """
    if processes <= 1:
        return uvloop.run(run_code_flow(target, discovery, _keys(jwks), users, duration))
    shares = [users // processes + (i < users % processes) for i in range(processes)]
    portable = dataclasses.replace(target, process=None)
    start_at = time.time() + 0.5  # all processes start together, after they have imported everything
    with ProcessPoolExecutor(max_workers=processes) as pool:
        futures = [pool.submit(_process_main, portable, discovery, jwks, share, duration, start_at)
                   for share in shares if share]
        parts = [f.result() for f in futures]
    merged = FlowStats(users=users, seconds=max(p.seconds for p in parts))
    for part in parts:
        merged.latencies += part.latencies
        merged.with_at_hash += part.with_at_hash
        merged.driver_cpu_seconds += part.driver_cpu_seconds
        for kind, count in part.errors.items():
            merged.errors[kind] = merged.errors.get(kind, 0) + count
        merged.error_samples += part.error_samples[: 5 - len(merged.error_samples)]
    return merged


async def _seed(target: Target, discovery: dict[str, Any], count: int, scope: str | None, prompt: str | None,
                users: int) -> list[FlowOutcome]:
    outcomes: list[FlowOutcome] = []
    failures: list[str] = []
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def user() -> None:
        async with httpx.AsyncClient(follow_redirects=False, timeout=30, limits=limits, verify=False) as client:
            while len(outcomes) < count and len(failures) < 3:
                client.cookies.clear()
                try:
                    outcomes.append(await one_flow(client, target, discovery, scope=scope, prompt=prompt))
                except (FlowError, httpx.HTTPError) as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(user() for _ in range(min(users, count))))
    if len(outcomes) < count:
        raise RuntimeError(f"{target.name}: only {len(outcomes)} of {count} seed flows succeeded: {failures}")
    return outcomes[:count]


def seed_flows(target: Target, discovery: dict[str, Any], count: int, *, scope: str | None = None,
               prompt: str | None = None, users: int = 8) -> list[FlowOutcome]:
    """`count` completed code flows (fresh sign-in each): their token responses seed the refresh, userinfo,
    introspection and token-exchange loads. Not timed."""
    return uvloop.run(_seed(target, discovery, count, scope, prompt, users))
