"""The admin API domain: `/admin/api/v1/…` routes (the `OPERATIONS` table) and the OpenAPI document built from
the same table. Handlers only translate: models in, service calls (reads) or `AdminOperations` (writes, which
audit), models out. Errors become problems in idp/admin/api.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from idp.accounts.models import Account
from idp.accounts.service import UnknownAccount
from idp.admin import queries, schemas
from idp.admin.api import PREFIX, Admin, Call, Operation, Reply, build_routes
from idp.admin.config import AdminSettings
from idp.admin.cursor import Cursors
from idp.admin.idempotency import Idempotency
from idp.admin.openapi import build_document
from idp.admin.operations import AdminOperations, By, delegation_service
from idp.admin.problems import Problem, field_problem
from idp.audit import AuditEvent, AuditFilter, read_events
from idp.clients.service import ClientDetails, UnknownClient
from idp.container import Container
from idp.delegation import errors as delegation_errors
from idp.delegation.interfaces import DelegationRequest, DelegationView
from idp.domains import Domain
from idp.oidc.keystore import StoredKey

__all__ = ["OPERATIONS", "domain"]

EXPORT_BATCH = 500


# --- conversions ------------------------------------------------------------------------------------------------

def client_out(details: ClientDetails) -> dict[str, Any]:
    c = details.client
    return {"client_id": c.client_id, "name": c.name, "auth_method": c.auth_method,
            "redirect_uris": list(c.redirect_uris), "post_logout_redirect_uris": list(c.post_logout_redirect_uris),
            "scopes": sorted(c.scopes), "grant_types": sorted(c.grant_types),
            "jwks": dict(c.jwks) if c.jwks is not None else None, "jwks_uri": c.jwks_uri,
            "subject_type": c.subject_type, "sector_identifier": c.sector_identifier, "first_party": c.first_party,
            "audiences": list(c.audiences), "enabled": details.enabled, "admin_structure": details.admin_structure,
            "created_at": details.created_at, "updated_at": details.updated_at}


def account_out(account: Account) -> schemas.AccountOut:
    identity = account.identity or {}
    return schemas.AccountOut(
        id=account.id, username=account.username, kind=account.kind, status=account.status,
        given_name=account.given_name, family_name=account.family_name, email=account.email,
        birthdate=account.birthdate, national_id=account.national_id,
        identity_status=identity.get("identity_status"), managed=identity.get("managed") is not None,
        created_at=account.created_at, updated_at=account.updated_at)


def delegation_out(view: DelegationView) -> schemas.DelegationOut:
    return schemas.DelegationOut.model_validate(view.as_json())


def event_out(row: AuditEvent) -> schemas.AuditEventOut:
    return schemas.AuditEventOut(id=row.id, at=row.at, tag=row.tag, actor=row.actor, subject=row.subject,
                                 client_id=row.client_id, ip=row.ip, detail=row.detail or {},
                                 prev_hash=row.prev_hash, hash=row.hash)


def key_out(admin: Admin, stored: StoredKey) -> schemas.KeyOut:
    keystore = admin.container.keystore
    return schemas.KeyOut(kid=stored.key.kid, alg=stored.key.alg, state=keystore.state(stored),
                          created_at=datetime.fromtimestamp(stored.created_at, UTC),
                          not_before=datetime.fromtimestamp(stored.not_before, UTC),
                          public_jwk=stored.key.public_jwk())


def by(call: Call, reason: str | None) -> By:
    return By(call.caller.client_id, reason)


def _at(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(value)
    return datetime.fromisoformat(value)


def position(call: Call, listing: str) -> tuple[datetime, str] | None:
    """The (created_at, id) a page starts after, from the `cursor` parameter."""
    cursor = call.query.cursor
    if cursor is None:
        return None
    found = call.admin.cursors.decode(listing, cursor)
    try:
        return _at(found[0]), str(found[1])
    except (ValueError, IndexError):
        raise field_problem("cursor", "is not a cursor this API returned") from None


def next_cursor(call: Call, listing: str, items: list[Any], last: list[Any]) -> str | None:
    return call.admin.cursors.encode(listing, last) if len(items) == call.query.limit else None


# --- clients ----------------------------------------------------------------------------------------------------

async def list_clients(call: Call) -> Reply:
    after = None
    if call.query.cursor is not None:
        found = call.admin.cursors.decode("clients", call.query.cursor)
        after = str(found[0]) if found else None
    page = await call.container.clients.page(after=after, limit=call.query.limit)
    cursor = next_cursor(call, "clients", page, [page[-1].client.client_id] if page else [])
    return Reply(200, schemas.ClientList(items=[schemas.ClientOut(**client_out(d)) for d in page],
                                         next_cursor=cursor))


async def create_client(call: Call) -> Reply:
    body: schemas.ClientCreate = call.body
    grant_types = body.grant_types or (["authorization_code", "refresh_token"] if body.redirect_uris
                                       else ["client_credentials"])
    created = await call.admin.operations.create_client(
        by(call, body.reason), client_id=body.client_id, redirect_uris=body.redirect_uris, scopes=body.scopes,
        name=body.name, auth_method=body.auth_method, grant_types=grant_types,
        post_logout_redirect_uris=body.post_logout_redirect_uris, jwks=body.jwks, jwks_uri=body.jwks_uri,
        subject_type=body.subject_type, sector_identifier=body.sector_identifier, first_party=body.first_party,
        audiences=body.audiences, admin_structure=body.admin_structure)
    details = await call.container.clients.details(body.client_id)
    assert details is not None
    return Reply(201, schemas.ClientWithSecret(**client_out(details), client_secret=created.secret),
                 {"location": f"{PREFIX}/clients/{body.client_id}"})


async def get_client(call: Call) -> Reply:
    details = await call.container.clients.details(call.path["client_id"])
    if details is None:
        raise UnknownClient(call.path["client_id"])
    return Reply(200, schemas.ClientOut(**client_out(details)))


def _not_itself(call: Call) -> None:
    """An admin client cannot change or disable its own registration: one call could lock every administrator
    out. Another admin client, or the CLI on the server, can."""
    if call.path["client_id"] == call.caller.client_id:
        raise Problem("conflict", "an admin client cannot change or disable itself; use another admin client or "
                                  "the CLI")


async def update_client(call: Call) -> Reply:
    body: schemas.ClientUpdate = call.body
    _not_itself(call)
    # Only the fields sent; the strict model already refused null for the fields that cannot be cleared.
    changes = {name: getattr(body, name) for name in body.model_fields_set if name != "reason"}
    updated = await call.admin.operations.update_client(by(call, body.reason), call.path["client_id"], changes)
    return Reply(200, schemas.ClientWithSecret(**client_out(updated.details), client_secret=updated.secret))


async def rotate_client_secret(call: Call) -> Reply:
    body: schemas.OptionalReason = call.body
    secret = await call.admin.operations.rotate_client_secret(by(call, body.reason), call.path["client_id"])
    return Reply(200, schemas.SecretOut(client_id=call.path["client_id"], client_secret=secret))


async def disable_client(call: Call) -> Reply:
    body: schemas.OptionalReason = call.body
    _not_itself(call)
    details = await call.admin.operations.disable_client(by(call, body.reason), call.path["client_id"])
    return Reply(200, schemas.ClientOut(**client_out(details)))


# --- accounts ---------------------------------------------------------------------------------------------------

async def search_accounts(call: Call) -> Reply:
    found = await call.container.accounts.search(call.query.q, after=position(call, "accounts"),
                                                 limit=call.query.limit)
    last = [found[-1].created_at.isoformat(), found[-1].id] if found else []
    return Reply(200, schemas.AccountList(items=[account_out(a) for a in found],
                                          next_cursor=next_cursor(call, "accounts", found, last)))


async def _account(call: Call) -> Account:
    account = await call.container.accounts.get(call.path["account_id"])
    if account is None:
        raise UnknownAccount(call.path["account_id"])
    return account


async def get_account(call: Call) -> Reply:
    return Reply(200, account_out(await _account(call)))


async def lock_account(call: Call) -> Reply:
    body: schemas.Reason = call.body
    account = await call.admin.operations.lock_account(by(call, body.reason), call.path["account_id"])
    return Reply(200, account_out(account))


async def unlock_account(call: Call) -> Reply:
    body: schemas.Reason = call.body
    account = await call.admin.operations.unlock_account(by(call, body.reason), call.path["account_id"])
    return Reply(200, account_out(account))


async def list_credentials(call: Call) -> Reply:
    found = await queries.credentials(call.container.db, await _account(call))
    return Reply(200, schemas.CredentialList(items=[schemas.CredentialOut(**c) for c in found], next_cursor=None))


async def revoke_sessions(call: Call) -> Reply:
    body: schemas.OptionalReason = call.body
    count = await call.admin.operations.revoke_sessions(by(call, body.reason), call.path["account_id"])
    return Reply(200, schemas.SessionsRevoked(account_id=call.path["account_id"], grants_revoked=count))


# --- delegations --------------------------------------------------------------------------------------------------

def _within_structure(call: Call, view: DelegationView) -> DelegationView:
    """A structure-scoped administrator sees and manages only its structure's assistant delegations; any other
    is, for it, not found."""
    structure = call.caller.admin_structure
    if structure is not None and (view.kind != "assistant" or view.context != structure):
        raise delegation_errors.DelegationNotFound(view.id)
    return view


async def create_delegation(call: Call) -> Reply:
    body: schemas.DelegationCreate = call.body
    structure = call.caller.admin_structure
    if structure is not None and (body.kind != "assistant" or body.context != structure):
        raise Problem("forbidden", f"this client manages only the assistant delegations of structure {structure}",
                      scope="admin:delegations")
    request = DelegationRequest(kind=body.kind, principal_id=body.principal_id, delegate_id=body.delegate_id,
                                scopes=tuple(body.scopes), context=body.context,
                                valid_from=body.valid_from.astimezone(UTC) if body.valid_from else None,
                                valid_until=body.valid_until.astimezone(UTC) if body.valid_until else None,
                                reason=body.reason)
    try:
        view = await call.admin.operations.create_delegation(by(call, body.reason), request)
    except delegation_errors.UnknownAccount as exc:
        field = "principal_id" if exc.detail == body.principal_id else "delegate_id"
        raise field_problem(field, "no account has this id") from None
    return Reply(201, delegation_out(view), {"location": f"{PREFIX}/delegations/{view.id}"})


async def list_delegations(call: Call) -> Reply:
    q: schemas.DelegationQuery = call.query
    structure = call.caller.admin_structure
    kind = q.kind
    if structure is not None:
        if kind not in (None, "assistant"):
            return Reply(200, schemas.DelegationList(items=[], next_cursor=None))
        kind = "assistant"
    where = queries.DelegationPageFilter(principal_id=q.principal_id, delegate_id=q.delegate_id, kind=kind,
                                         status=q.status, context=structure)
    found = await queries.delegation_page(call.container.db, where, after=position(call, "delegations"),
                                          limit=q.limit)
    last = [found[-1].created_at.isoformat(), found[-1].id] if found else []
    return Reply(200, schemas.DelegationList(items=[delegation_out(v) for v in found],
                                             next_cursor=next_cursor(call, "delegations", found, last)))


async def get_delegation(call: Call) -> Reply:
    view = await delegation_service(call.container).get(call.path["delegation_id"])
    return Reply(200, delegation_out(_within_structure(call, view)))


async def revoke_delegation(call: Call) -> Reply:
    body: schemas.Reason = call.body
    _within_structure(call, await delegation_service(call.container).get(call.path["delegation_id"]))
    view = await call.admin.operations.revoke_delegation(by(call, body.reason), call.path["delegation_id"])
    return Reply(200, delegation_out(view))


# --- audit --------------------------------------------------------------------------------------------------------

def _audit_filter(query: schemas.AuditExportQuery) -> AuditFilter:
    return AuditFilter(subject=query.subject, actor=query.actor, tag=query.type, since=query.since,
                       until=query.until)


async def query_audit(call: Call) -> Reply:
    await call.container.audit.flush()  # what this process queued is readable at once
    below = None
    if call.query.cursor is not None:
        found = call.admin.cursors.decode("audit", call.query.cursor)
        if not found or not isinstance(found[0], int):
            raise field_problem("cursor", "is not a cursor this API returned")
        below = found[0]
    rows = await read_events(call.container.db, _audit_filter(call.query), limit=call.query.limit, below_id=below)
    cursor = next_cursor(call, "audit", rows, [rows[-1].id] if rows else [])
    return Reply(200, schemas.AuditList(items=[event_out(r) for r in rows], next_cursor=cursor))


async def export_audit(call: Call) -> Response:
    await call.container.audit.flush()
    where = _audit_filter(call.query)
    db = call.container.db
    # The events stored when the export starts, oldest first, read in batches: never all in memory.
    newest = await read_events(db, AuditFilter(), limit=1)
    ceiling = newest[0].id + 1 if newest else 0

    async def lines() -> AsyncIterator[bytes]:
        above = 0
        while True:
            rows = await read_events(db, where, limit=EXPORT_BATCH, above_id=above, below_id=ceiling,
                                     newest_first=False)
            for row in rows:
                yield event_out(row).model_dump_json().encode() + b"\n"
            if len(rows) < EXPORT_BATCH:
                return
            above = rows[-1].id

    return StreamingResponse(lines(), media_type="application/x-ndjson", headers={
        "cache-control": "no-store", "content-disposition": 'attachment; filename="audit.ndjson"'})


# --- keys ---------------------------------------------------------------------------------------------------------

async def list_keys(call: Call) -> Reply:
    keys = call.container.keystore.keys()
    return Reply(200, schemas.KeyList(items=[key_out(call.admin, k) for k in keys], next_cursor=None))


async def rotate_keys(call: Call) -> Reply:
    body: schemas.KeyRotate = call.body
    stored = await call.admin.operations.rotate_keys(by(call, body.reason), body.activation_delay)
    return Reply(201, key_out(call.admin, stored))


# --- the table ------------------------------------------------------------------------------------------------------

C, A, D, U, K = "admin:clients", "admin:accounts", "admin:delegations", "admin:audit", "admin:keys"

OPERATIONS = [
    Operation("GET", "/clients", C, list_clients, "List clients", "clients", 200, schemas.ClientList,
              query=schemas.PageQuery),
    Operation("POST", "/clients", C, create_client, "Register a client; its secret is in this response, once",
              "clients", 201, schemas.ClientWithSecret, body=schemas.ClientCreate, errors=(409,)),
    Operation("GET", "/clients/{client_id}", C, get_client, "Read a client", "clients", 200, schemas.ClientOut),
    Operation("PATCH", "/clients/{client_id}", C, update_client, "Change a client's registration", "clients", 200,
              schemas.ClientWithSecret, body=schemas.ClientUpdate, errors=(409,),
              description="Only the fields sent change. Moving to a client_secret_* method generates a secret, "
                          "returned once in client_secret."),
    Operation("POST", "/clients/{client_id}/secret", C, rotate_client_secret, "Rotate a client's secret (shown once)",
              "clients", 200, schemas.SecretOut, body=schemas.OptionalReason, body_required=False),
    Operation("POST", "/clients/{client_id}/disable", C, disable_client, "Disable a client", "clients", 200,
              schemas.ClientOut, body=schemas.OptionalReason, body_required=False),
    Operation("GET", "/accounts", A, search_accounts, "Find accounts", "accounts", 200, schemas.AccountList,
              query=schemas.AccountQuery),
    Operation("GET", "/accounts/{account_id}", A, get_account, "Read an account", "accounts", 200,
              schemas.AccountOut),
    Operation("POST", "/accounts/{account_id}/lock", A, lock_account, "Lock an account", "accounts", 200,
              schemas.AccountOut, body=schemas.Reason,
              description="The account can no longer sign in; its SSO sessions end and its grants are revoked."),
    Operation("POST", "/accounts/{account_id}/unlock", A, unlock_account, "Unlock an account", "accounts", 200,
              schemas.AccountOut, body=schemas.Reason),
    Operation("GET", "/accounts/{account_id}/credentials", A, list_credentials, "List an account's credentials",
              "accounts", 200, schemas.CredentialList),
    Operation("POST", "/accounts/{account_id}/sessions/revoke", A, revoke_sessions,
              "End an account's sessions and revoke its grants", "accounts", 200, schemas.SessionsRevoked,
              body=schemas.OptionalReason, body_required=False),
    Operation("POST", "/delegations", D, create_delegation, "Create a delegation (active at once)", "delegations",
              201, schemas.DelegationOut, body=schemas.DelegationCreate,
              description="The same policy as self-service and the CLI; a refusal is a policy-refused problem "
                          "naming the rule."),
    Operation("GET", "/delegations", D, list_delegations, "List delegations", "delegations", 200,
              schemas.DelegationList, query=schemas.DelegationQuery),
    Operation("GET", "/delegations/{delegation_id}", D, get_delegation, "Read a delegation", "delegations", 200,
              schemas.DelegationOut),
    Operation("POST", "/delegations/{delegation_id}/revoke", D, revoke_delegation, "Revoke a delegation",
              "delegations", 200, schemas.DelegationOut, body=schemas.Reason),
    Operation("GET", "/audit", U, query_audit, "Query the audit trail (newest first)", "audit", 200,
              schemas.AuditList, query=schemas.AuditQuery),
    Operation("GET", "/audit/export", U, export_audit, "Export the audit trail as NDJSON (oldest first)", "audit",
              200, schemas.AuditExport, query=schemas.AuditExportQuery, media_type="application/x-ndjson",
              description="One event per line, streamed; the events stored when the export starts."),
    Operation("GET", "/keys", K, list_keys, "List signing keys", "keys", 200, schemas.KeyList),
    Operation("POST", "/keys/rotate", K, rotate_keys, "Publish a new signing key", "keys", 201, schemas.KeyOut,
              body=schemas.KeyRotate, body_required=False),
]


def domain(container: Container) -> Domain | None:
    settings = container.settings.domain(AdminSettings.from_env)
    if not settings.enabled:
        return None
    # The process-wide body limit (MANDAT_MAX_BODY_BYTES) answers first: keep ours at most as large.
    settings = replace(settings, max_body_bytes=min(settings.max_body_bytes, container.settings.max_body_bytes))
    admin = Admin(container=container, settings=settings, operations=AdminOperations(container),
                  cursors=Cursors(container.key("admin-cursor")),
                  idempotency=Idempotency(container.store, container.key("admin-idempotency"),
                                          settings.idempotency_seconds))
    document = build_document(OPERATIONS, issuer=container.settings.issuer)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document, headers={"cache-control": "no-cache"})

    return Domain(name="admin", routes=build_routes(admin, OPERATIONS, [Route(PREFIX + "/openapi.json", openapi)]),
                  services=(admin, admin.operations, settings))
