"""An OpenID Connect code flow driven step by step through nginx, each step pinned to a chosen IdP process."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import PASSWORD, REDIRECT, form_field, pkce_pair


def jwt_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


@dataclass
class Step:
    name: str
    pin: int | None
    status: int
    upstream: str


@dataclass
class Flow:
    """One browser (a cookie jar) and one client, each request optionally pinned with X-Mandat-Pin."""

    http: httpx.AsyncClient
    client_secret: str
    steps: list[Step] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)

    async def request(self, name: str, method: str, url: str, pin: int | None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if pin is not None:
            headers["x-mandat-pin"] = str(pin)
        response = await self.http.request(method, url, headers=headers, **kwargs)
        self.steps.append(Step(name, pin, response.status_code, response.headers.get("x-mandat-upstream", "")))
        return response

    async def code(self, pins: list[int | None], username: str = "alice") -> tuple[str, str]:
        """authorize → login page → login → consent page → consent: returns (code, verifier)."""
        verifier, challenge = pkce_pair()
        self.secrets.add(verifier)
        params = {"response_type": "code", "client_id": "rp", "redirect_uri": REDIRECT,
                  "scope": "openid profile email offline_access", "state": "s", "nonce": "n",
                  "code_challenge": challenge, "code_challenge_method": "S256", "prompt": "login consent"}
        response = await self.request("authorize", "GET", "/authorize", pins[0], params=params)
        assert response.status_code == 303, response.text[:500]
        page = await self.request("login page", "GET", response.headers["location"], pins[1])
        assert page.status_code == 200, page.text[:500]
        action = re.search(r'action="(/interaction/[^"]+/login)"', page.text)
        assert action, page.text[:2000]
        response = await self.request("login", "POST", action.group(1), pins[2], data={
            "csrf_token": form_field(page.text, "csrf_token"), "username": username, "password": PASSWORD})
        assert response.status_code == 303, response.text[:500]
        page = await self.request("consent page", "GET", response.headers["location"], pins[3])
        if page.status_code in (302, 303):
            response = page
        else:
            assert page.status_code == 200, page.text[:500]
            action = re.search(r'action="(/interaction/[^"]+/consent)"', page.text)
            assert action, page.text[:2000]
            response = await self.request("consent", "POST", action.group(1), pins[4], data={
                "csrf_token": form_field(page.text, "csrf_token"), "decision": "allow"})
        location = response.headers.get("location", "")
        query = parse_qs(urlsplit(location).query)
        assert "code" in query, (response.status_code, location, response.text[:500])
        self.secrets.add(query["code"][0])
        return query["code"][0], verifier

    async def token(self, data: dict[str, str], pin: int | None, name: str = "token") -> httpx.Response:
        response = await self.request(name, "POST", "/token", pin, data=data, auth=("rp", self.client_secret))
        if response.status_code == 200:
            body = response.json()
            self.secrets |= {v for k, v in body.items() if k.endswith("token") and isinstance(v, str)}
        return response
