"""The admin API's small request pipeline: every route is an `Operation` (method, path, scope, models, handler),
and one table of them yields both the Starlette routes and the OpenAPI document (idp/admin/openapi.py).

A request goes through these steps, in order; each ends it with a problem when it fails:

| step                 | refuses with                 | why here                                                     |
|----------------------|------------------------------|--------------------------------------------------------------|
| method               | 405 method-not-allowed       | one route per path, so the problem (and `Allow`) is ours     |
| bearer token, scope  | 401 unauthorized, 403        | before reading input: strangers learn nothing about it       |
| path parameters      | 404 not-found                | an id that cannot exist is not found, whatever it looks like  |
| query parameters     | 422 validation               | unknown or repeated parameters are refused, each named       |
| body size, type      | 413 too-large, 415           | read in chunks up to the admin limit, never all at once      |
| body                 | 422 validation               | strict pydantic model: unknown fields refused, each named    |
| Idempotency-Key      | replay, 409, 422             | POST only; after validation, so a bad retry is still refused |
| handler              | 404, 409, 422 policy-refused | domain errors mapped once, in `problem_of`                   |

Nothing a caller sends can end in a 500: a domain error is mapped, an unreachable PostgreSQL or Redis is a 503
`unavailable` problem with Retry-After (idp.observability.faults tells a fault from a bug), and an unexpected
exception is logged with the request and answered with a `server-error` problem (which the fuzzing test fails on).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from idp.accounts.service import AccountStateConflict
from idp.accounts.service import UnknownAccount as UnknownAccountId
from idp.admin.auth import Caller, authenticate
from idp.admin.config import AdminSettings
from idp.admin.cursor import Cursors
from idp.admin.idempotency import HEADER, Idempotency, Slot, fingerprint
from idp.admin.operations import AdminOperations
from idp.admin.problems import Problem, field_problem
from idp.admin.schemas import Body, NoQuery, Query
from idp.clients.service import ClientConflict, ClientRegistrationError, UnknownClient
from idp.container import Container
from idp.delegation import errors as delegation_errors
from idp.errors import MandatError
from idp.http.middleware import BodyTooLarge
from idp.observability.faults import backend_of

__all__ = ["PREFIX", "Admin", "Call", "Operation", "Reply", "build_routes", "problem_of"]

log = logging.getLogger("mandat.admin")

PREFIX = "/admin/api/v1"


@dataclass(frozen=True, slots=True)
class PathParam:
    pattern: str
    max_length: int
    description: str


PATH_PARAMS = {
    "client_id": PathParam(r"^[A-Za-z0-9][A-Za-z0-9._:@+~-]*$", 200, "The client's id."),
    "account_id": PathParam(r"^[A-Za-z0-9_-]+$", 64, "The account's id (from GET /accounts)."),
    "delegation_id": PathParam(r"^[A-Za-z0-9_-]+$", 64, "The delegation's id."),
}


@dataclass(slots=True)
class Admin:
    """What the handlers share: the container, the write operations, cursors, idempotency and settings."""

    container: Container
    settings: AdminSettings
    operations: AdminOperations
    cursors: Cursors
    idempotency: Idempotency


@dataclass(slots=True)
class Call:
    request: Request
    admin: Admin
    caller: Caller
    path: dict[str, str]
    query: Any
    body: Any

    @property
    def container(self) -> Container:
        return self.admin.container


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    model: BaseModel
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[Reply | Response]]


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # under PREFIX, with {name} parameters from PATH_PARAMS
    scope: str
    handler: Handler
    summary: str
    tag: str
    status: int
    response: type[BaseModel] | None
    query: type[Query] = NoQuery
    body: type[Body] | None = None
    body_required: bool = True
    errors: tuple[int, ...] = ()  # 404, 409, ... beyond what every operation of its shape can answer
    media_type: str = "application/json"
    description: str = ""

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.lstrip("_")

    @property
    def path_params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]

    def error_statuses(self) -> list[int]:
        statuses = {401, 403, 422, *self.errors}
        if self.path_params:
            statuses.add(404)
        if self.body is not None:
            statuses |= {413, 415}
        if self.method == "POST":
            statuses.add(409)  # an Idempotency-Key whose first request is still running
        return sorted(statuses)


# --- errors -----------------------------------------------------------------------------------------------------

def _validation(exc: ValidationError, where: str | None = None) -> Problem:
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"])
        errors.append({"field": location or where or "body", "message": error["msg"]})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return Problem("validation", summary, errors=errors)


def problem_of(exc: Exception) -> Problem | None:
    """The problem a domain error stands for, or None for a bug."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, UnknownClient):
        return Problem("not-found", "no client has this id")
    if isinstance(exc, ClientConflict):
        return Problem("conflict", exc.detail)
    if isinstance(exc, ClientRegistrationError):
        return field_problem(exc.field or "body", exc.detail)
    if isinstance(exc, UnknownAccountId):
        return Problem("not-found", "no account has this id")
    if isinstance(exc, AccountStateConflict):
        return Problem("conflict", exc.public)
    if isinstance(exc, delegation_errors.DelegationNotFound):
        return Problem("not-found", "no delegation has this id", rule=exc.rule)
    if isinstance(exc, delegation_errors.DelegationNotActive):
        return Problem("conflict", exc.public, rule=exc.rule)
    if isinstance(exc, delegation_errors.DelegationError):
        return Problem("policy-refused", exc.public, rule=exc.rule)
    if isinstance(exc, IntegrityError):
        return Problem("conflict", "the change conflicts with another one made at the same time; read and retry")
    if isinstance(exc, MandatError):
        if exc.status == 404:
            return Problem("not-found", exc.public)
        if exc.status == 409:
            return Problem("conflict", exc.public)
        if exc.status >= 500:
            return Problem("server-error", exc.public, status=exc.status)
        return Problem("validation", exc.public, errors=[{"field": "body", "message": exc.public}])
    return None


# --- input ------------------------------------------------------------------------------------------------------

def _query(request: Request, model: type[Query]) -> Any:
    values: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in values:
            raise field_problem(name, "is given more than once")
        values[name] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise _validation(exc) from None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise Problem("too-large", f"request bodies are limited to {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Problem("too-large", f"request bodies are limited to {limit} bytes")
    return bytes(body)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _body(raw: bytes, request: Request, operation: Operation) -> Any:
    assert operation.body is not None
    if not raw.strip():
        raw = b"{}"
    elif not _is_json(request.headers.get("content-type", "")):
        raise Problem("unsupported-media-type", "send the body as application/json")
    try:
        return operation.body.model_validate_json(raw)
    except ValidationError as exc:
        raise _validation(exc, "body") from None


# --- dispatch ---------------------------------------------------------------------------------------------------

def _render(result: Reply | Response) -> Response:
    if isinstance(result, Response):
        return result
    return JSONResponse(result.model.model_dump(mode="json"), status_code=result.status,
                        headers={"cache-control": "no-store", **result.headers})


async def _run(admin: Admin, operation: Operation, request: Request) -> Response:
    caller = await authenticate(admin.container, request, operation.scope)
    path = {}
    for name in operation.path_params:
        value = request.path_params[name]
        spec = PATH_PARAMS[name]
        if len(value) > spec.max_length or not re.fullmatch(spec.pattern, value):
            raise Problem("not-found", f"no resource has this {name}")
        path[name] = value
    query = _query(request, operation.query)
    body = None
    raw = b""
    if operation.body is not None:
        raw = await _read_body(request, admin.settings.max_body_bytes)
        if not raw.strip() and operation.body_required:
            raise field_problem("body", "a JSON object is required")
        body = _body(raw, request, operation)
    call = Call(request, admin, caller, path, query, body)
    key = request.headers.get(HEADER) if operation.method == "POST" else None
    if key is None:
        return _render(await operation.handler(call))
    admin.idempotency.check_key(key)
    claimed = await admin.idempotency.begin(
        caller.client_id, key, fingerprint(request.method, request.url.path, request.url.query, raw.strip()))
    if isinstance(claimed, Response):
        return claimed
    slot: Slot = claimed
    try:
        response = _render(await operation.handler(call))
    except BaseException:
        await admin.idempotency.release(slot)
        raise
    await admin.idempotency.finish(slot, response)
    return response


class _Endpoint:
    """One path, every method: an ASGI app (not a function), so Starlette routes any method here and the 405 is
    a problem of ours."""

    def __init__(self, admin: Admin | None, operations: dict[str, Operation]) -> None:
        self.admin = admin
        self.operations = operations
        self.allow = ", ".join(sorted(operations))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        operation = self.operations.get(request.method)
        try:
            if self.admin is None:
                raise Problem("not-found", f"no admin API route at {request.url.path}")
            if operation is None:
                raise Problem("method-not-allowed", f"{request.method} is not allowed here; use {self.allow}",
                              headers={"allow": self.allow})
            return await _run(self.admin, operation, request)
        except (BodyTooLarge, ClientDisconnect):
            raise
        except Exception as exc:
            problem = problem_of(exc)
            if backend_of(exc) is not None:  # PostgreSQL or Redis unreachable: not a bug, retry later
                log.warning("%s unreachable on admin %s %s: %s", backend_of(exc), request.method, request.url.path,
                            type(exc).__name__)
                retry = str(self.admin.container.settings.retry_after_seconds) if self.admin else "5"
                problem = Problem("unavailable", "a storage backend is briefly unreachable; retry later",
                                  headers={"retry-after": retry})
            if problem is None:
                log.exception("admin API error on %s %s", request.method, request.url.path)
                problem = Problem("server-error", "internal error")
            return problem.response(request.url.path)


def build_routes(admin: Admin, operations: list[Operation],
                 extra: list[BaseRoute] | None = None) -> list[BaseRoute]:
    by_path: dict[str, dict[str, Operation]] = {}
    for operation in operations:
        by_path.setdefault(operation.path, {})[operation.method] = operation
    routes: list[BaseRoute] = list(extra or [])
    # Literal segments before parameters (`/audit/export` before a `{…}` of the same depth): Starlette matches in
    # order, so a fixed path must come first.
    for path in sorted(by_path, key=lambda p: [part.startswith("{") for part in p.split("/")]):
        routes.append(Route(PREFIX + path, _Endpoint(admin, by_path[path])))
    routes.append(Route(PREFIX, _Endpoint(None, {})))
    routes.append(Route(PREFIX + "/{rest:path}", _Endpoint(None, {})))
    return routes
