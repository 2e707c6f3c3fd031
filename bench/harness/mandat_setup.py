"""Token-exchange fixtures in a bench Mandat's database, run with the server's environment (`MANDAT_*`).

    python -m bench.harness.mandat_setup DELEGATIONS ACTOR_USERNAME ACTOR_PASSWORD CLIENT_ID SCOPES

A principal (`clinic`, a professional account) holds DELEGATIONS assistant delegations: one to the actor (a
citizen account made here, who signs in and whose access token is exchanged), created through
`DelegationService.create` as an administrator, like an operator would; the others to staff accounts, inserted
in bulk (so the delegation check runs against a principal with that many rows, as in a clinic). Prints one JSON
line: the principal's `sub` as CLIENT_ID sees it (the `requested_subject`), and the delegation id.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta

from sqlalchemy import insert

from idp.accounts.models import Account
from idp.cards.models import Professional, ProfessionalActivity, ProfessionalExercise
from idp.container import build_container
from idp.db import utcnow
from idp.delegation.config import DelegationSettings
from idp.delegation.interfaces import Actor, DelegationRequest
from idp.delegation.models import Delegation
from idp.delegation.service import DelegationService
from idp.oidc.minting import subject_for
from idp.settings import Settings

CLINIC_NATIONAL_ID = "810000000001"
EXERCISE_ID = "e" * 32
STRUCTURE = "BENCH-STRUCTURE"


async def main(count: int, actor_username: str, actor_password: str, client_id: str, scopes: list[str]) -> None:
    settings = Settings.from_env(os.environ)
    container = build_container(settings)
    db = container.db
    clinic = "c" * 32
    now = utcnow()
    async with db.transaction() as session:
        # The clinic's doctor is in the professional directory, exercising at one structure (the context every
        # assistant delegation names): the policy only lets a listed professional delegate to an assistant.
        session.add(Professional(national_id=CLINIC_NATIONAL_ID, id_type="8", rpps=CLINIC_NATIONAL_ID[1:],
                                 family_name="BENCH", given_name="CLINIQUE"))
        session.add(ProfessionalExercise(id=EXERCISE_ID, national_id=CLINIC_NATIONAL_ID))
        await session.flush()
        session.add(ProfessionalActivity(exercise_id=EXERCISE_ID, identifiant_technique_structure=STRUCTURE))
        await session.execute(insert(Account), [{"id": clinic, "username": "bench-clinic", "kind": "professional",
                                                 "national_id": CLINIC_NATIONAL_ID, "given_name": "Clinique",
                                                 "family_name": "Bench"}]
                              + [{"id": f"s{i:031d}", "username": f"bench-staff{i}", "kind": "staff"}
                                 for i in range(count - 1)])
        if count > 1:
            await session.execute(insert(Delegation), [
                {"id": f"d{i:031d}", "principal_id": clinic, "delegate_id": f"s{i:031d}", "kind": "assistant",
                 "scopes": scopes, "context": STRUCTURE, "valid_from": now - timedelta(days=1),
                 "valid_until": now + timedelta(days=300), "status": "active" if i % 10 else "revoked",
                 "source": "admin", "created_by": "admin:bench", "created_at": now, "updated_at": now}
                for i in range(count - 1)])
    actor = await container.accounts.create(username=actor_username, password=actor_password, kind="citizen",
                                            given_name="Carole", family_name="Bench")
    service = DelegationService(db, container.store, container.audit, settings.domain(DelegationSettings.from_env),
                                utcnow)
    view = await service.create(DelegationRequest(kind="assistant", principal_id=clinic, delegate_id=actor.id,
                                                  scopes=tuple(scopes), context=STRUCTURE),
                                Actor.administrator("bench"))
    client = await container.clients.get(client_id)
    if client is None:
        raise SystemExit(f"client {client_id} is not registered")
    print(json.dumps({"requested_subject": subject_for(container.provider, client, clinic),
                      "delegation_id": view.id, "status": view.status}))
    await container.audit.flush()
    await container.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split()))
