"""Attestation policy (what level a key earns at registration) and assurance (amr/acr of a sign-in), DESIGN.md §5.

Levels are ordered eidas1 < eidas2 < eidas3. A credential records at registration the highest level it can ever
give; each sign-in then derives amr/acr from that ceiling and what this assertion proved (UV, a prior password).
"""

from __future__ import annotations

from dataclasses import dataclass

from idp.passkeys.config import PasskeySettings
from idp.passkeys.errors import AaguidNotAllowed, AttestationUntrusted, UserVerificationRequired
from idp.passkeys.webauthn import RegisteredCredential

__all__ = ["ACR_LEVELS", "EIDAS1", "EIDAS2", "EIDAS3", "Assurance", "AttestationPolicy", "acr_rank",
           "passkey_assurance", "uv_required"]

EIDAS1, EIDAS2, EIDAS3 = "eidas1", "eidas2", "eidas3"
ACR_LEVELS: tuple[str, ...] = (EIDAS1, EIDAS2, EIDAS3)


def acr_rank(acr: str | None) -> int:
    """0 for no or an unknown acr, else 1..3; unknown values never rank high, so they cannot lower a requirement
    by accident (the OIDC layer refuses unknown acr_values before this is asked)."""
    return ACR_LEVELS.index(acr) + 1 if acr in ACR_LEVELS else 0


@dataclass(frozen=True, slots=True)
class Assurance:
    amr: tuple[str, ...]
    acr: str


class AttestationPolicy:
    """Grades a verified registration: `eidas3` for an allow-listed model, proven by attestation, with UV."""

    def __init__(self, settings: PasskeySettings) -> None:
        self._allow_list = settings.aaguid_allow_list

    def is_allow_listed(self, aaguid: str) -> bool:
        return aaguid.lower() in self._allow_list

    def grade(self, registered: RegisteredCredential, *, require_allow_listed: bool) -> str:
        """The acr ceiling to record on the credential; with `require_allow_listed`, anything short of eidas3
        is refused with the reason, instead of silently registering a lesser key."""
        allow_listed = self.is_allow_listed(registered.aaguid)
        # Without an attestation chained to a root we hold, the AAGUID is only the authenticator's claim.
        proven = allow_listed and registered.attestation_trusted
        # A synced (backup-eligible) passkey can leave the device it was attested on, so it cannot be eidas3.
        device_bound = not registered.backup_eligible
        if require_allow_listed:
            if not allow_listed:
                raise AaguidNotAllowed(f"AAGUID {registered.aaguid} is not on the allow-list")
            if not registered.attestation_trusted:
                raise AttestationUntrusted(f"{registered.fmt} attestation does not chain to a configured root")
            if not registered.user_verified:
                raise UserVerificationRequired("allow-listed registration without user verification")
            if not device_bound:
                raise AaguidNotAllowed(f"AAGUID {registered.aaguid} registered a synced (backup-eligible) key")
        if proven and device_bound and registered.user_verified:
            return EIDAS3
        return EIDAS2


def passkey_assurance(credential_acr: str, *, user_verified: bool, after_password: bool = False) -> Assurance:
    """amr (RFC 8176) and acr of a verified assertion, capped by the credential's recorded ceiling.

    WebAuthn does not say how the user was verified: allow-listed models are PIN security keys by policy, hence
    `pin`; for any other key we only know the authenticator checked the user itself, hence `user` (§5).
    """
    password = ("pwd",) if after_password else ()
    if user_verified and credential_acr == EIDAS3:
        return Assurance(amr=(*password, "hwk", "pin", "mfa"), acr=EIDAS3)
    if user_verified:
        return Assurance(amr=(*password, "hwk", "user", "mfa"), acr=EIDAS2)
    if after_password:
        return Assurance(amr=("pwd", "hwk", "mfa"), acr=EIDAS2)
    # Possession alone is one factor.
    return Assurance(amr=("hwk",), acr=EIDAS1)


def uv_required(account_kind: str | None, requested_acr: str | None, *, after_password: bool = False) -> bool:
    """Whether a sign-in (or registration) must carry user verification.

    Professionals always (§7). A request for eidas3 always. A request for eidas2 unless a password was
    already checked, since password + key possession is eidas2 by itself (§5). Unknown account (username-less
    sign-in): decided by the requested acr only; the service re-checks against the credential's owner.
    """
    if account_kind == "professional":
        return True
    rank = acr_rank(requested_acr)
    if rank >= acr_rank(EIDAS3):
        return True
    return rank >= acr_rank(EIDAS2) and not after_password
