"""Typed passkey errors: each has a stable `code`, a public text for the page and a private detail for the log.

The codes are part of the contract with the views and the audit log; they never change meaning. Public texts
never say more than the person at the keyboard may learn (e.g. whose account a key belongs to).
"""

from __future__ import annotations

from idp.errors import MandatError

__all__ = [
    "AaguidNotAllowed",
    "AlgorithmNotAllowed",
    "AlreadyRegistered",
    "AttestationUntrusted",
    "BadOrigin",
    "BadRpId",
    "ChallengeMismatch",
    "ChallengeUnknown",
    "CounterRegression",
    "InvalidName",
    "LastCredential",
    "MalformedResponse",
    "PasskeyError",
    "SignatureInvalid",
    "UnknownCredential",
    "UserVerificationRequired",
]


class PasskeyError(MandatError):
    """Base for every WebAuthn failure. `detail` goes to the log only; `public` may be shown to the user."""

    code = "passkey_error"
    public = "The security key could not be used. Please try again."


class MalformedResponse(PasskeyError):
    code = "malformed"
    public = "The browser sent an invalid security key response."


class BadOrigin(PasskeyError):
    code = "bad_origin"
    public = "This security key response was made for another site."


class BadRpId(PasskeyError):
    code = "bad_rp_id"
    public = "This security key response was made for another site."


class ChallengeMismatch(PasskeyError):
    """The response signs a challenge other than the one this ceremony issued."""

    code = "challenge_mismatch"
    public = "The security key answered an old or different request. Please try again."


class ChallengeUnknown(PasskeyError):
    """The ceremony is unknown: already used (replay), expired, or begun for another account."""

    code = "challenge_unknown"
    public = "This request has expired or was already used. Please try again."


class UserVerificationRequired(PasskeyError):
    code = "user_verification_required"
    public = "Your security key must verify you (PIN or biometrics) for this sign-in."


class SignatureInvalid(PasskeyError):
    code = "signature_invalid"
    public = "The security key's signature is not valid."


class CounterRegression(PasskeyError):
    """The signature counter did not increase: the key may have been cloned. Carries data for the audit log."""

    code = "counter_regression"
    public = "This security key cannot be used. Please contact support."

    def __init__(self, detail: str, *, credential_id: bytes, account_id: str, stored: int, received: int) -> None:
        super().__init__(detail)
        self.credential_id = credential_id
        self.account_id = account_id
        self.stored = stored
        self.received = received


class AlgorithmNotAllowed(PasskeyError):
    code = "algorithm_not_allowed"
    public = "This security key uses a signature algorithm we do not accept."


class AaguidNotAllowed(PasskeyError):
    code = "aaguid_not_allowed"
    public = "This model of security key is not approved for this use."


class AttestationUntrusted(PasskeyError):
    code = "attestation_untrusted"
    public = "We could not confirm who made this security key."


class UnknownCredential(PasskeyError):
    code = "unknown_credential"
    public = "This key is not registered to any account."


class LastCredential(PasskeyError):
    """Removing this key would leave the account with no way to sign in."""

    code = "last_credential"
    public = "This is your only way to sign in. Confirm to remove it anyway."


class InvalidName(PasskeyError):
    code = "invalid_name"
    public = "Give the key a name of 1 to 64 characters."


class AlreadyRegistered(PasskeyError):
    """The authenticator returned a credential id we already hold (excludeCredentials should have prevented it)."""

    code = "already_registered"
    public = "This security key is already registered."
