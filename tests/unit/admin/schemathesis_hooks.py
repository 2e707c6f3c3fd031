"""Loaded by the schemathesis run of test_fuzz.py (SCHEMATHESIS_HOOKS): read the audit export's NDJSON as the array
of its lines, which is how the OpenAPI document describes it, so every exported line is validated too."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.deserializer("application/x-ndjson")
def ndjson(ctx: Any, response: Any) -> list[Any]:
    # Split on "\n" only: a JSON string may hold U+2028 and the like raw, which str.splitlines() would cut at.
    return [json.loads(line) for line in response.content.split(b"\n") if line]
