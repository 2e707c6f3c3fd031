"""Typed errors of the card domain.

Each error carries a stable `code` (what a client or the login page branches on), a public `description`
(safe to show) and a private `detail` (for the log only). Server-side errors (chain, signature, directory)
and workstation-side errors (reader, card, PIN) share this base so the agent and the IdP answer alike.
"""

from __future__ import annotations

from idp.errors import MandatError

__all__ = [
    "BadChallengeSignature",
    "BadSignature",
    "CardBlocked",
    "CardError",
    "CardProtocolError",
    "CardRemoved",
    "CertificateExpired",
    "CertificateNotYetValid",
    "CertificateRevoked",
    "InvalidCardResponse",
    "InvalidCertificate",
    "InvalidChallenge",
    "NoCard",
    "NoReader",
    "NotClientAuth",
    "NotInDirectory",
    "RevocationUnknown",
    "UnknownCA",
    "WrongPin",
]


class CardError(MandatError):
    """Base of every card error. Subclasses fix `code`, `description` and the HTTP status they map to."""

    code = "card_error"
    public = "The card could not be used."

    def as_json(self) -> dict[str, object]:
        """The body the card agent answers: code and public text, never the private detail."""
        return {"error": self.code, "error_description": self.public}


# --- certificate chain (server side, pki.py) -------------------------------------------------------------


class CertificateExpired(CardError):
    code = "certificate_expired"
    public = "The card certificate has expired."


class CertificateNotYetValid(CardError):
    code = "certificate_not_yet_valid"
    public = "The card certificate is not valid yet."


class CertificateRevoked(CardError):
    code = "certificate_revoked"
    public = "The card certificate has been revoked."


class UnknownCA(CardError):
    code = "unknown_ca"
    public = "The card certificate was not issued by a trusted authority."


class BadSignature(CardError):
    code = "bad_signature"
    public = "A signature in the card certificate chain is invalid."


class NotClientAuth(CardError):
    code = "not_client_auth"
    public = "The card certificate is not meant for authentication."


class InvalidCertificate(CardError):
    """Unparseable certificate, or one that breaks the profile (no national id, inconsistent names)."""

    code = "invalid_certificate"
    public = "The card certificate is malformed."


class RevocationUnknown(CardError):
    """No valid, current CRL covers the issuer: we fail closed rather than accept a possibly revoked card."""

    code = "revocation_unknown"
    public = "The revocation status of the card certificate cannot be checked right now."
    status = 503


# --- card response (server side, verify.py) --------------------------------------------------------------


class InvalidChallenge(CardError):
    code = "invalid_challenge"
    public = "The sign-in challenge is unknown, expired or already used. Please start again."


class InvalidCardResponse(CardError):
    code = "invalid_card_response"
    public = "The card response is malformed."


class BadChallengeSignature(CardError):
    code = "bad_challenge_signature"
    public = "The card signature over the challenge is invalid."


# --- directory mapping (server side, directory.py) -------------------------------------------------------


class NotInDirectory(CardError):
    code = "not_in_directory"
    public = "No active professional record matches this card."
    status = 403


# --- workstation side (pcsc.py, cps.py, agent.py) --------------------------------------------------------


class NoReader(CardError):
    code = "no_reader"
    public = "No smart card reader was found. Is the reader plugged in and the PC/SC service running?"
    status = 409


class NoCard(CardError):
    code = "no_card"
    public = "No card in the reader. Please insert your CPS card."
    status = 409


class CardRemoved(CardError):
    code = "card_removed"
    public = "The card was removed during the operation. Please insert it again and retry."
    status = 409


class WrongPin(CardError):
    code = "wrong_pin"
    public = "Wrong PIN."
    status = 401

    def __init__(self, tries_left: int, detail: str = "") -> None:
        super().__init__(detail or f"{tries_left} tries left")
        self.tries_left = tries_left

    def as_json(self) -> dict[str, object]:
        return {**super().as_json(), "tries_left": self.tries_left}


class CardBlocked(CardError):
    code = "card_blocked"
    public = "The card PIN is blocked after too many wrong PINs. Use your unblocking code (PUK)."
    status = 423


class CardProtocolError(CardError):
    """The card answered with an unexpected status word: a different card, or a faulty one."""

    code = "card_error"
    public = "The card answered unexpectedly. Is it a CPS card?"
    status = 502
