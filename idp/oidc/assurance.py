"""Assurance: the one table of how a sign-in maps to `acr` and `amr` (RFC 8176), and what a session may bind.

| how the person signed in                                   | amr                         | acr    |
|------------------------------------------------------------|-----------------------------|--------|
| password                                                   | pwd                         | eidas1 |
| password + a security key bound at eidas2 or more          | pwd hwk mfa                 | eidas2 |
| a passkey with user verification, bound at eidas2          | hwk user mfa                | eidas2 |
| an allow-listed, attested, device-bound key with UV (PIN)  | hwk pin mfa                 | eidas3 |
| CPS card (agent signature or TLS certificate) with PIN     | sc pin hwk mfa              | eidas3 |
| a key bound from a password-only session                   | hwk (+user), never mfa      | eidas1 |
| a mailed security code + a new password (activation)      | pwd                         | eidas1 |

**Binding** (NIST SP 800-63B §6.1.2.1): a new authenticator is worth no more than the sign-in that bound it.
A session may bind keys at its own level, except right after an activation, where the fresh mailed code (a
possession factor sent to the address on file) lets it bind at eidas2 for a few minutes. A password-only session
binds at eidas1, so a phished password can never mint a lasting "MFA" key.

Pure code: the engine (`idp/oidc`) and every sign-in method read this table; nobody else writes acr or amr.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACR_LEVELS", "EIDAS1", "EIDAS2", "EIDAS3", "Assurance", "acr_rank", "activation", "card", "lowest",
           "passkey", "password"]

EIDAS1, EIDAS2, EIDAS3 = "eidas1", "eidas2", "eidas3"
# Assurance levels in increasing order. Every `acr` comparison goes through `acr_rank`.
ACR_LEVELS: tuple[str, ...] = (EIDAS1, EIDAS2, EIDAS3)


def acr_rank(acr: str | None) -> int:
    """0 for no or an unknown acr, else 1..3; unknown values never rank high, so they cannot lower a requirement
    by accident (the OIDC layer refuses unknown acr_values before this is asked)."""
    return ACR_LEVELS.index(acr) + 1 if acr in ACR_LEVELS else 0


def lowest(*levels: str) -> str:
    return min(levels, key=acr_rank)


@dataclass(frozen=True, slots=True)
class Assurance:
    """How a person signed in: the `acr` and `amr` of the session, and the level at which that session may bind
    a new authenticator (`binds_at`; see the module docstring)."""

    acr: str
    amr: tuple[str, ...]
    binds_at: str

    @property
    def rank(self) -> int:
        return acr_rank(self.acr)


def password() -> Assurance:
    return Assurance(EIDAS1, ("pwd",), EIDAS1)


def activation() -> Assurance:
    """A mailed security code plus the new password: eidas1 to sign in, but the fresh code proves possession of
    the address on file, so keys added right now may count as a second factor."""
    return Assurance(EIDAS1, ("pwd",), EIDAS2)


def card() -> Assurance:
    return Assurance(EIDAS3, ("sc", "pin", "hwk", "mfa"), EIDAS3)


def passkey(key_level: str, *, user_verified: bool, after_password: bool = False) -> Assurance:
    """A verified WebAuthn assertion, capped by the level the key recorded when it was bound.

    WebAuthn does not say how the user was verified: allow-listed models are PIN security keys by policy, hence
    `pin`; for any other key we only know the authenticator checked the user itself, hence `user`.
    """
    pwd = ("pwd",) if after_password else ()
    if key_level == EIDAS3 and user_verified:
        return Assurance(EIDAS3, (*pwd, "hwk", "pin", "mfa"), EIDAS3)
    if key_level in (EIDAS2, EIDAS3):
        if user_verified:
            return Assurance(EIDAS2, (*pwd, "hwk", "user", "mfa"), EIDAS2)
        if after_password:
            return Assurance(EIDAS2, ("pwd", "hwk", "mfa"), EIDAS2)
    # Possession alone, or a key bound from a password-only session: one factor's worth, whatever it did.
    return Assurance(EIDAS1, (*pwd, "hwk", *(("user",) if user_verified else ())), EIDAS1)
