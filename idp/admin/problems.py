"""RFC 9457 problem details for the admin API: one stable `type` URI per kind of error.

Callers branch on `type` (never on `title` or `detail`). Extensions: `errors` (validation: one entry per field,
`field` being the dotted path of the body field, the query parameter or the header), `rule` (policy-refused:
the delegation rule that refused), `scope` (forbidden: the scope the route needs).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

__all__ = ["PROBLEM_TYPES", "Problem", "field_problem", "problem_type"]

PREFIX = "urn:mandat:problem:"

# name -> (title, status)
PROBLEM_TYPES: dict[str, tuple[str, int]] = {
    "validation": ("The request is invalid", 422),
    "policy-refused": ("The policy refuses this change", 422),
    "not-found": ("Not found", 404),
    "conflict": ("The resource is not in a state that allows this", 409),
    "unauthorized": ("A valid bearer token is required", 401),
    "forbidden": ("The token lacks the scope this route needs", 403),
    "too-large": ("The request body is too large", 413),
    "unsupported-media-type": ("The request body must be application/json", 415),
    "method-not-allowed": ("This method is not allowed here", 405),
    "unavailable": ("The service is briefly unavailable", 503),
    "server-error": ("Internal error", 500),
}


def problem_type(name: str) -> str:
    return PREFIX + name


class Problem(Exception):
    """An error that ends an admin API request as `application/problem+json`."""

    def __init__(self, name: str, detail: str, *, status: int | None = None,
                 headers: dict[str, str] | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        title, default_status = PROBLEM_TYPES[name]
        self.name = name
        self.title = title
        self.status = status or default_status
        self.detail = detail
        self.headers = headers or {}
        self.extensions = {k: v for k, v in extensions.items() if v is not None}

    def body(self, instance: str) -> dict[str, Any]:
        return {"type": problem_type(self.name), "title": self.title, "status": self.status, "detail": self.detail,
                "instance": instance, **self.extensions}

    def response(self, instance: str) -> JSONResponse:
        return JSONResponse(self.body(instance), status_code=self.status, media_type="application/problem+json",
                            headers={"cache-control": "no-store", **self.headers})


def field_problem(field: str, message: str) -> Problem:
    """A validation problem about one field."""
    return Problem("validation", f"{field}: {message}", errors=[{"field": field, "message": message}])
