"""The one error base of every domain. Protocol errors (RFC codes) live in idp/oidc/errors.py and share it.

An error carries four things, each for its own reader:
- `code`: stable, machine-readable (what a page script, an API caller or a test branches on);
- `public`: a sentence safe to show the person, in English; pages translate it with the catalogue;
- `detail`: the private detail, for the log and the audit trail only;
- `status`: the HTTP status it maps to when it ends a request.
"""

from __future__ import annotations

from typing import ClassVar


class MandatError(Exception):
    """Base for our own errors. Subclasses fix `code`, `public` and `status`; `detail` is per instance."""

    # A class gives its code; an error family whose code depends on the case (a mailed-code state) sets it.
    code: str = "error"
    # The class gives the text; an error whose text depends on the case (a field, a protocol description) sets
    # its own on the instance.
    public: str = "Something went wrong. Please try again."
    status: ClassVar[int] = 400

    def __init__(self, detail: str = "", *, public: str | None = None) -> None:
        super().__init__(detail or public or self.code)
        self.detail = detail
        if public is not None:
            self.public = public


class ConfigurationError(MandatError):
    """A setting is missing or invalid; the message names the MANDAT_* variable."""

    code = "configuration_error"


class StorageUnavailable(MandatError):
    """A database or store could not be reached."""

    code = "temporarily_unavailable"
    public = "The service is briefly unavailable. Please try again in a minute."
    status = 503


# --- refusals every page shares (forms and the JSON calls of page scripts) -------------------------------------

class CsrfRefused(MandatError):
    code = "csrf_invalid"
    public = "For your security, this page has expired. Reload it and try again."
    status = 403


class InteractionExpired(MandatError):
    code = "interaction_expired"
    public = "This sign-in page has expired. Go back to the site you came from and choose sign in again."


class NotSignedIn(MandatError):
    code = "not_signed_in"
    public = "You are no longer signed in. Sign in again, then try again."
    status = 401


class SignInTooOld(MandatError):
    code = "sign_in_too_old"
    public = "For your security, sign in again before adding a security key."
    status = 401


class AccountUnavailable(MandatError):
    code = "account_unavailable"
    public = "This account cannot sign in at the moment. Contact support."
    status = 403


class MalformedBody(MandatError):
    code = "malformed"
    public = "The page sent an invalid request. Reload it and try again."
