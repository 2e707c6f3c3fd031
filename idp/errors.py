"""Errors shared across domains. Protocol errors (RFC codes) live in idp/oidc/errors.py."""

from __future__ import annotations


class MandatError(Exception):
    """Base for our own errors."""


class ConfigurationError(MandatError):
    """A setting is missing or invalid; the message names the MANDAT_* variable."""


class StorageUnavailable(MandatError):
    """A database or store could not be reached."""
