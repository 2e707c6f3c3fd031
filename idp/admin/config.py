"""Admin API settings, read from `MANDAT_ADMIN_*` and documented in place. Built with
`settings.domain(AdminSettings.from_env)`; a bad value raises `ConfigurationError` naming the variable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from idp.settings import env_field, read_env_fields

__all__ = ["AdminSettings"]


@dataclass(frozen=True, slots=True)
class AdminSettings:
    enabled: bool = env_field(
        "MANDAT_ADMIN_API", "true",
        doc="false: no /admin/api/v1 route at all. The API only answers clients holding admin:* scopes, which "
        "none has until an operator registers one (`python -m idp client add … --scope admin:…`).",
    )
    max_body_bytes: int = env_field(
        "MANDAT_ADMIN_MAX_BODY_BYTES", "32768",
        doc="Largest admin API request body; larger gets a 413 problem (`too-large`). Bodies over "
        "MANDAT_MAX_BODY_BYTES are refused before the API sees them.",
    )
    idempotency_seconds: int = env_field(
        "MANDAT_ADMIN_IDEMPOTENCY_SECONDS", "86400",
        doc="How long an `Idempotency-Key` and the response it produced are kept (in the ephemeral store, so "
        "every process sees them). 24 hours by default.",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AdminSettings:
        return cls(**read_env_fields(cls, env, int_minimum=1))
