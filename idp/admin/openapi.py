"""The OpenAPI 3.1 document of the admin API, built from the `Operation` table and the pydantic models the
handlers use (`models_json_schema`: JSON Schema 2020-12, which OpenAPI 3.1 embeds as is).

Written here rather than taken from a library: the Starlette options (apispec, spectree, starlette's own
SchemaGenerator) either want docstring YAML, which drifts from the code, or their own decorators and request
parsing; the document needs only the operation table we already have and pydantic's schemas, about a hundred
lines. Query models become `in: query` parameters one property each; path parameters carry the same pattern the
pipeline checks; every operation lists each status it can answer, so a fuzzer can hold it to them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from idp.admin.api import PATH_PARAMS, PREFIX, Operation
from idp.admin.auth import ADMIN_SCOPES
from idp.admin.idempotency import HEADER
from idp.admin.problems import PROBLEM_TYPES
from idp.admin.schemas import Problem

__all__ = ["build_document"]

REF = "#/components/schemas/{model}"
STATUS_TEXT = {200: "OK", 201: "Created", 401: "No, or an invalid, bearer token (unauthorized)",
               403: "The token lacks the route's scope, or the client's structure limit (forbidden)",
               404: "Not found (not-found)", 409: "Conflicts with the resource's state (conflict)",
               413: "The request body is too large (too-large)",
               415: "The request body is not JSON (unsupported-media-type)",
               422: "Invalid input (validation), or refused by the delegation policy (policy-refused)"}


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": STATUS_TEXT.get(status, str(status)),
        "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}},
    }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"},
                                                    "description": 'Bearer realm="mandat-admin", …'}}
    return response


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def build_document(operations: list[Operation], *, issuer: str, version: str = "1.0.0") -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    for operation in operations:
        if operation.body is not None:
            wanted.append((operation.body, "validation"))
        if operation.response is not None:
            wanted.append((operation.response, "serialization"))
    refs, top = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "description": PATH_PARAMS[name].description,
             "schema": {"type": "string", "minLength": 1, "maxLength": PATH_PARAMS[name].max_length,
                        "pattern": PATH_PARAMS[name].pattern}}
            for name in operation.path_params]
        parameters += _query_parameters(operation.query)
        if operation.method == "POST":
            parameters.append({
                "name": HEADER, "in": "header", "required": False,
                "description": "Retrying with the same key and body returns the first response and changes nothing "
                               "again (kept 24 h); the same key with another body is a validation problem.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"}})
        responses: dict[str, Any] = {}
        if operation.response is not None:
            schema = refs[(operation.response, "serialization")]
            responses[str(operation.status)] = {"description": STATUS_TEXT.get(operation.status, "OK"),
                                                "content": {operation.media_type: {"schema": schema}}}
        for status in operation.error_statuses():
            responses[str(status)] = _problem_response(status)
        entry: dict[str, Any] = {
            "operationId": operation.operation_id, "summary": operation.summary, "tags": [operation.tag],
            "security": [{"admin": [operation.scope]}], "parameters": parameters, "responses": responses,
        }
        if operation.description:
            entry["description"] = operation.description
        if operation.body is not None:
            entry["requestBody"] = {"required": operation.body_required, "content": {
                "application/json": {"schema": refs[(operation.body, "validation")]}}}
        paths.setdefault(operation.path, {})[operation.method.lower()] = entry
    problem_types = ", ".join(f"`urn:mandat:problem:{name}` ({status})"
                              for name, (_title, status) in PROBLEM_TYPES.items())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Mandat admin API", "version": version,
            "description": "Clients, accounts, delegations, audit and signing keys. Callers are admin clients "
                           "with a client_credentials bearer token holding the route's admin:* scope. Errors are "
                           f"RFC 9457 problems; their types: {problem_types}. Lists answer "
                           "{items, next_cursor}; pass next_cursor back as `cursor` for the next page.",
        },
        "servers": [{"url": issuer.rstrip("/") + PREFIX}],
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {"admin": {
                "type": "oauth2", "description": "A client_credentials access token (RFC 9068 JWT).",
                "flows": {"clientCredentials": {"tokenUrl": issuer.rstrip("/") + "/token",
                                                "scopes": dict(ADMIN_SCOPES)}}}},
        },
    }
