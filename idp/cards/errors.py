"""Typed errors of the card domain.

Each error carries a stable `code` (what a client or the login page branches on), a public `description`
(safe to show) and a private `detail` (for the log only). Server-side errors (chain, signature, directory)
and workstation-side errors (reader, card, PIN) share this base so the agent and the IdP answer alike.
"""

from __future__ import annotations

from typing import ClassVar

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

    code: ClassVar[str] = "card_error"
    description: ClassVar[str] = "The card could not be used."
    status: ClassVar[int] = 400

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"{self.code}: {detail}" if detail else self.code)
        self.detail = detail

    def public(self) -> dict[str, object]:
        """The JSON body shown to the browser: code and description, never the private detail."""
        return {"error": self.code, "error_description": self.description}


# --- certificate chain (server side, pki.py) -------------------------------------------------------------


class CertificateExpired(CardError):
    code = "certificate_expired"
    description = "The card certificate has expired."


class CertificateNotYetValid(CardError):
    code = "certificate_not_yet_valid"
    description = "The card certificate is not valid yet."


class CertificateRevoked(CardError):
    code = "certificate_revoked"
    description = "The card certificate has been revoked."


class UnknownCA(CardError):
    code = "unknown_ca"
    description = "The card certificate was not issued by a trusted authority."


class BadSignature(CardError):
    code = "bad_signature"
    description = "A signature in the card certificate chain is invalid."


class NotClientAuth(CardError):
    code = "not_client_auth"
    description = "The card certificate is not meant for authentication."


class InvalidCertificate(CardError):
    """Unparseable certificate, or one that breaks the profile (no national id, inconsistent names)."""

    code = "invalid_certificate"
    description = "The card certificate is malformed."


class RevocationUnknown(CardError):
    """No valid, current CRL covers the issuer: we fail closed rather than accept a possibly revoked card."""

    code = "revocation_unknown"
    description = "The revocation status of the card certificate cannot be checked right now."
    status = 503


# --- card response (server side, verify.py) --------------------------------------------------------------


class InvalidChallenge(CardError):
    code = "invalid_challenge"
    description = "The sign-in challenge is unknown, expired or already used. Please start again."


class InvalidCardResponse(CardError):
    code = "invalid_card_response"
    description = "The card response is malformed."


class BadChallengeSignature(CardError):
    code = "bad_challenge_signature"
    description = "The card signature over the challenge is invalid."


# --- directory mapping (server side, directory.py) -------------------------------------------------------


class NotInDirectory(CardError):
    code = "not_in_directory"
    description = "No active professional record matches this card."
    status = 403


# --- workstation side (pcsc.py, cps.py, agent.py) --------------------------------------------------------


class NoReader(CardError):
    code = "no_reader"
    description = "No smart card reader was found. Is the reader plugged in and the PC/SC service running?"
    status = 409


class NoCard(CardError):
    code = "no_card"
    description = "No card in the reader. Please insert your CPS card."
    status = 409


class CardRemoved(CardError):
    code = "card_removed"
    description = "The card was removed during the operation. Please insert it again and retry."
    status = 409


class WrongPin(CardError):
    code = "wrong_pin"
    description = "Wrong PIN."
    status = 401

    def __init__(self, tries_left: int, detail: str = "") -> None:
        super().__init__(detail or f"{tries_left} tries left")
        self.tries_left = tries_left

    def public(self) -> dict[str, object]:
        return {**super().public(), "tries_left": self.tries_left}


class CardBlocked(CardError):
    code = "card_blocked"
    description = "The card PIN is blocked after too many wrong PINs. Use your unblocking code (PUK)."
    status = 423


class CardProtocolError(CardError):
    """The card answered with an unexpected status word: a different card, or a faulty one."""

    code = "card_error"
    description = "The card answered unexpectedly. Is it a CPS card?"
    status = 502
