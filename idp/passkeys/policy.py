"""Attestation policy: what level a key earns at registration, and when user verification is required.

A credential records at registration the highest level it can ever give: what its attestation proves, capped by
the level of the session that bound it (`idp.oidc.assurance`). Each sign-in then derives amr/acr from that
ceiling and what the assertion proved (UV, a prior password), through the same table.
"""

from __future__ import annotations

from idp.oidc.assurance import EIDAS2, EIDAS3, acr_rank, lowest
from idp.passkeys.config import PasskeySettings
from idp.passkeys.errors import AaguidNotAllowed, AttestationUntrusted, UserVerificationRequired
from idp.passkeys.webauthn import RegisteredCredential

__all__ = ["AttestationPolicy", "uv_required"]


class AttestationPolicy:
    """Grades a verified registration: `eidas3` for an allow-listed model, proven by attestation, with UV."""

    def __init__(self, settings: PasskeySettings) -> None:
        self._allow_list = settings.aaguid_allow_list

    def is_allow_listed(self, aaguid: str) -> bool:
        return aaguid.lower() in self._allow_list

    def grade(self, registered: RegisteredCredential, *, require_allow_listed: bool, bound_at: str) -> str:
        """The acr ceiling to record on the credential: what the attestation proves, never above `bound_at`, the
        level of the sign-in that binds it. With `require_allow_listed`, anything short of eidas3 is refused with
        the reason, instead of silently registering a lesser key."""
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
        proven_level = EIDAS3 if proven and device_bound and registered.user_verified else EIDAS2
        return lowest(proven_level, bound_at)


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
