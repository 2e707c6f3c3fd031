"""Typed protocol errors (RFC 6749 §4.1.2.1 / §5.2, OIDC Core §3.1.2.6, RFC 6750, RFC 7009, RFC 7662).

Each error carries the RFC `error` code, a public `description` that goes to the client, and a private
`detail` that goes only to the log. `redirectable` says whether the error may be sent to the client's
redirect_uri: errors about the client or the redirect_uri itself never are (RFC 6749 §4.1.2.1).
"""

from __future__ import annotations

from typing import ClassVar

from idp.errors import MandatError


class OAuthError(MandatError):
    """The RFC `error` code is also the error's `code`; the `description` is its public text."""

    error: ClassVar[str] = "server_error"
    redirectable: ClassVar[bool] = True

    def __init_subclass__(cls) -> None:
        cls.code = cls.error

    def __init__(self, description: str, *, detail: str | None = None) -> None:
        super().__init__(detail or description, public=description)
        self.args = (description,)
        self.description = description

    code = "server_error"

    def as_dict(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    error = "invalid_client"
    status = 401
    redirectable = False


class InvalidRedirectUri(OAuthError):
    # Shown on our own page, never redirected (the redirect target is the thing in doubt).
    error = "invalid_request"
    redirectable = False


class UnknownClientAtAuthorize(OAuthError):
    error = "invalid_client"
    redirectable = False


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8693 §2.2.2: the requested audience or resource is unknown or not acceptable."""

    error = "invalid_target"


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403


class LoginRequired(OAuthError):
    error = "login_required"


class AccountSelectionRequired(OAuthError):
    """OIDC Core §3.1.2.6: `prompt=none` with `select_account`: the choice needs a page."""

    error = "account_selection_required"


class ConsentRequired(OAuthError):
    error = "consent_required"


class InteractionRequired(OAuthError):
    error = "interaction_required"


class UnmetAuthenticationRequirements(OAuthError):
    error = "unmet_authentication_requirements"


class RequestNotSupported(OAuthError):
    error = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    error = "request_uri_not_supported"


class RegistrationNotSupported(OAuthError):
    error = "registration_not_supported"


class InvalidToken(OAuthError):
    """RFC 6750 §3.1: sent in WWW-Authenticate on protected resources (userinfo)."""

    error = "invalid_token"
    status = 401


class MissingToken(InvalidToken):
    """No credentials at all: RFC 6750 §3.1 says the challenge then carries no error code."""


class InsufficientScope(OAuthError):
    error = "insufficient_scope"
    status = 403


class UnsupportedTokenType(OAuthError):
    error = "unsupported_token_type"


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503


class ServerError(OAuthError):
    error = "server_error"
    status = 500


class PayloadTooLarge(OAuthError):
    error = "invalid_request"
    status = 413
