"""The delegation domain on the web and in tokens: wiring only.

- `acting.py`: the "act as" step of an authorization request, the acting-for banner and "back to myself";
- `pages.py`: the self-service pages (grant, invite, accept, revoke, teenager consent, who acted for me, notices);
- `tokens.py`: the protocol engine's `DelegationPort` (ID token `delegation`/`delegations` claims, the checks
  token issuance, token exchange, refresh, userinfo and introspection make).
"""

from __future__ import annotations

from idp.container import Container
from idp.delegation import acting, pages
from idp.delegation.config import DelegationSettings
from idp.delegation.service import DelegationService
from idp.delegation.tokens import CLAIMS, SCOPES, DelegationTokens
from idp.domains import Domain, Job

__all__ = ["domain"]


def domain(container: Container) -> Domain:
    settings = container.settings.domain(DelegationSettings.from_env)
    service = DelegationService(container.db, container.store, container.audit, settings)
    tokens = DelegationTokens(service, container.provider)
    container.provider.delegations = tokens
    return Domain(
        name="delegation",
        routes=[*acting.routes(), *pages.routes()],
        scopes=SCOPES,
        claims=CLAIMS,
        claim_source=tokens.delegations_claim,
        interaction_steps=(acting.act_as_step,),
        account_sections=(pages.SECTION,),
        services=(service, settings, tokens),
        jobs=(Job("delegation", settings.job_seconds, service.run_job),),
    )
