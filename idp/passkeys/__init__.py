"""FIDO2 security keys and passkeys (WebAuthn): ceremonies, attestation policy, key management.

Only `idp.passkeys.webauthn` imports py_webauthn; everything else speaks our own types and `PasskeyError`s.
"""

from idp.passkeys.config import PasskeySettings
from idp.passkeys.errors import CounterRegression, PasskeyError
from idp.passkeys.interfaces import AuthResult, Ceremony, CredentialSummary
from idp.passkeys.models import PasskeyUserHandle, WebAuthnCredential
from idp.passkeys.policy import uv_required
from idp.passkeys.service import PasskeyService

__all__ = [
    "AuthResult",
    "Ceremony",
    "CounterRegression",
    "CredentialSummary",
    "PasskeyError",
    "PasskeyService",
    "PasskeySettings",
    "PasskeyUserHandle",
    "WebAuthnCredential",
    "uv_required",
]
