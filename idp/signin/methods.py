"""What a sign-in method declares, and which methods the sign-in page offers for one authorization request.

The page follows the client and the request:
- a client declares its audiences (`citizen`, `professional`, or both); a method serves some audiences;
- a method that cannot reach the requested `acr` is not offered, unless a second factor the person may hold can
  raise it (`step_up_to`: password, then a security key), and then the page says so before anything is typed;
- of what remains, the first method that is primary for the client's first audience is the one way in; the others
  sit under one "Other ways to sign in" disclosure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from idp.oidc.assurance import acr_rank
from idp.oidc.authorize import required_acr_rank
from idp.oidc.models import AUDIENCES, CITIZEN, PROFESSIONAL, AuthorizationRequest, Client

__all__ = ["AUDIENCES", "CITIZEN", "PROFESSIONAL", "Offer", "SignInHelp", "SignInMethod", "SignInPlan",
           "SignInRequest", "plan_sign_in"]


@dataclass(frozen=True, slots=True)
class SignInRequest:
    """What a method may look at to decide whether it fits: the client and the authorization request."""

    client: Client
    request: AuthorizationRequest

    @property
    def audience(self) -> str:
        """The client's first audience decides the primary way in."""
        return self.client.audiences[0] if self.client.audiences else CITIZEN

    @property
    def required_rank(self) -> int:
        return required_acr_rank(self.request)


@dataclass(frozen=True, slots=True)
class SignInMethod:
    """One way to sign in, contributed by a domain.

    `template` is included in the sign-in page with `uid`, `username`, `method` and `offer` in its context.
    `max_acr` is the highest level the method reaches alone; `step_up_to` the highest it reaches when followed by
    a security key the person holds. `fits` may refuse a request for reasons of its own (e.g. a `login_hint`).
    """

    name: str
    template: str
    max_acr: str
    audiences: frozenset[str]
    primary_for: frozenset[str] = frozenset()
    step_up_to: str | None = None
    order: int = 50
    context: Mapping[str, Any] = field(default_factory=dict)
    fits: Callable[[SignInRequest], bool] | None = None

    def offer(self, request: SignInRequest) -> Offer | None:
        if not self.audiences & set(request.client.audiences or (CITIZEN,)):
            return None
        if self.fits is not None and not self.fits(request):
            return None
        required = request.required_rank
        if acr_rank(self.max_acr) >= required:
            return Offer(self, then_security_key=False)
        if self.step_up_to is not None and acr_rank(self.step_up_to) >= required:
            return Offer(self, then_security_key=True)
        return None

    def __getattr__(self, name: str) -> Any:
        # Templates read their method's extra values as `method.<name>` (e.g. `method.card_agent_url`).
        try:
            return self.context[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True, slots=True)
class Offer:
    method: SignInMethod
    # The method alone falls short of the requested level: the page says a security key will be asked next.
    then_security_key: bool


@dataclass(frozen=True, slots=True)
class SignInHelp:
    """Links under the methods (enrol, recover, card problems), for some audiences."""

    template: str
    audiences: frozenset[str]
    order: int = 50


@dataclass(frozen=True, slots=True)
class SignInPlan:
    primary: Offer | None
    others: tuple[Offer, ...]
    help: tuple[SignInHelp, ...]


def plan_sign_in(methods: Sequence[SignInMethod], helps: Sequence[SignInHelp], request: SignInRequest) -> SignInPlan:
    offers = [offer for method in sorted(methods, key=lambda m: m.order) if (offer := method.offer(request))]
    audience = request.audience
    primary = next((o for o in offers if audience in o.method.primary_for and not o.then_security_key), None)
    if primary is None:
        primary = next((o for o in offers if audience in o.method.primary_for), offers[0] if offers else None)
    audiences = set(request.client.audiences or (CITIZEN,))
    return SignInPlan(
        primary=primary, others=tuple(o for o in offers if o is not primary),
        help=tuple(h for h in sorted(helps, key=lambda h: h.order) if h.audiences & audiences))
