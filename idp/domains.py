"""The seam every domain plugs into: one typed `Domain` object per package, built by its `domain(container)`.

A domain contributes its routes, the scopes and claims it serves (discovery), its claim source (ID token and
userinfo), its sign-in methods and the help shown under them, its step-up offers, the steps it adds between
sign-in and consent (delegation's "act as"), the sections it adds to the
/account page, and its services. Services are looked up by their type (`container.service(PasskeyService)`),
never by a string. A domain that is switched off returns None and leaves no route and no metadata behind.

The list of domains is `DOMAINS`; each entry is `module:function`. A broken package is never silently dropped.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from idp.accounts.service import ClaimSource
from idp.signin.methods import SignInHelp, SignInMethod

if TYPE_CHECKING:
    from idp.accounts.models import Account
    from idp.container import Container
    from idp.oidc.models import Authentication, Client
    from idp.oidc.sessions import Interaction

__all__ = ["DEMO_SEEDERS", "DOMAINS", "AccountSection", "Domain", "DomainFactory", "InteractionStep", "Job",
           "StepUp", "load"]

StepUp = Callable[["Request", "Interaction", "Client", "Authentication", str], Awaitable[Response | None]]
"""Offered when the person's sign-in falls short of the requested acr: a page that raises it, or None."""

InteractionStep = Callable[["Request", "Interaction", "Client", "Authentication", str], Awaitable[Response | None]]
"""A step after sign-in (and step-up), before consent, such as "act as": a page or redirect, or None to go on."""


@dataclass(frozen=True, slots=True)
class AccountSection:
    """A part of the /account page: a template and what it needs, loaded for the signed-in person."""

    template: str
    load: Callable[[Request, Account], Awaitable[Mapping[str, Any]]]
    order: int = 50


@dataclass(frozen=True, slots=True)
class Job:
    """A domain's periodic background work, run in every server process every `every` seconds (the first time
    after one interval). It must be idempotent: several processes run it."""

    name: str
    every: float
    run: Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    routes: Sequence[BaseRoute] = ()
    scopes: tuple[str, ...] = ()
    claims: tuple[str, ...] = ()
    claim_source: ClaimSource | None = None
    sign_in_methods: tuple[SignInMethod, ...] = ()
    sign_in_help: tuple[SignInHelp, ...] = ()
    step_ups: tuple[StepUp, ...] = ()
    interaction_steps: tuple[InteractionStep, ...] = ()
    account_sections: tuple[AccountSection, ...] = ()
    services: tuple[object, ...] = ()
    jobs: tuple[Job, ...] = ()


DomainFactory = Callable[["Container"], "Domain | None"]

# In order: what comes first also comes first on the pages (and its routes match first).
DOMAINS = (
    "idp.accounts.views:domain",
    "idp.passkeys.views:domain",
    "idp.cards.views:domain",
    "idp.enrollment.views:domain",
    "idp.delegation.views:domain",
    "idp.admin.views:domain",
)

DEMO_SEEDERS = (
    "idp.enrollment.demo:seed_demo",
    "idp.cards.demo:seed_demo",
    "idp.delegation.demo:seed_demo",  # after the two above: it uses their accounts, registry and directory
)


def load(entries: tuple[str, ...]) -> list[Any]:
    found = []
    for entry in entries:
        module_name, _, attribute = entry.partition(":")
        found.append(getattr(importlib.import_module(module_name), attribute))
    return found
