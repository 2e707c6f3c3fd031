"""The one module that imports py_webauthn: builds ceremony options and verifies browser responses.

Every failure leaves here as a `PasskeyError` with a stable code. py_webauthn reports all failures as one
exception type with free-text messages, so before handing a response to it we run the cheap, ordered checks
ourselves on its own parsers (client data, then RP id, flags, algorithm). Each of those gets its exact code;
py_webauthn then re-checks everything and verifies the signatures, and what it still refuses can only be the
attestation statement (registration) or the assertion signature (authentication).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    decode_credential_public_key,
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AttestationFormat,
    AuthenticatorDataFlags,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    ClientDataType,
    CollectedClientData,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialType,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp.passkeys.config import PasskeySettings
from idp.passkeys.errors import (
    AlgorithmNotAllowed,
    AttestationUntrusted,
    BadOrigin,
    BadRpId,
    ChallengeMismatch,
    MalformedResponse,
    SignatureInvalid,
    UserVerificationRequired,
)

__all__ = ["CredentialDescriptor", "RegisteredCredential", "RelyingParty", "VerifiedAssertion", "b64url", "from_b64url"]

_KNOWN_TRANSPORTS = {t.value for t in AuthenticatorTransport}


@dataclass(frozen=True, slots=True)
class CredentialDescriptor:
    """A registered credential as named in excludeCredentials / allowCredentials."""

    credential_id: bytes
    transports: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RegisteredCredential:
    """What a verified registration tells us, in our own types."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    fmt: str
    user_verified: bool
    backup_eligible: bool
    backed_up: bool
    transports: tuple[str, ...]
    attestation_trusted: bool
    """The attestation chained to a root configured for its format: only then is the AAGUID more than a claim."""


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    credential_id: bytes
    sign_count: int
    user_verified: bool
    backed_up: bool


def b64url(raw: bytes) -> str:
    """base64url without padding, the encoding WebAuthn JSON uses for every byte string."""
    return bytes_to_base64url(raw)


def from_b64url(text: str) -> bytes:
    try:
        return base64url_to_bytes(text)
    except (ValueError, TypeError) as exc:
        raise MalformedResponse(f"not base64url: {exc}") from exc


class RelyingParty:
    """Our Relying Party, configured once from `PasskeySettings`; stateless, so one instance serves all."""

    def __init__(self, settings: PasskeySettings) -> None:
        self._settings = settings
        self._algorithms = [COSEAlgorithmIdentifier(alg) for alg in settings.algorithms]
        self._rp_id_hash = hashlib.sha256(settings.rp_id.encode()).digest()
        self._roots: dict[str, list[bytes]] = {fmt: list(pems) for fmt, pems in settings.attestation_roots.items()}

    # --- options -------------------------------------------------------------------------------------------

    def registration_options(
        self,
        *,
        challenge: bytes,
        user_handle: bytes,
        user_name: str,
        display_name: str,
        exclude: Sequence[CredentialDescriptor],
        require_uv: bool,
        attestation: bool,
    ) -> str:
        options = generate_registration_options(
            rp_id=self._settings.rp_id,
            rp_name=self._settings.rp_name,
            user_id=user_handle,
            user_name=user_name,
            user_display_name=display_name,
            challenge=challenge,
            timeout=self._settings.timeout_ms,
            attestation=AttestationConveyancePreference.DIRECT if attestation else AttestationConveyancePreference.NONE,
            # Preferred, not required: a security key without discoverable-credential space still works
            # username-first; passkey-capable authenticators store it and allow username-less sign-in.
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=_uv(require_uv),
            ),
            exclude_credentials=[_descriptor(d) for d in exclude],
            supported_pub_key_algs=self._algorithms,
        )
        return options_to_json(options)

    def authentication_options(
        self, *, challenge: bytes, allow: Sequence[CredentialDescriptor], require_uv: bool
    ) -> str:
        options = generate_authentication_options(
            rp_id=self._settings.rp_id,
            challenge=challenge,
            timeout=self._settings.timeout_ms,
            allow_credentials=[_descriptor(d) for d in allow],
            user_verification=_uv(require_uv),
        )
        return options_to_json(options)

    # --- registration ----------------------------------------------------------------------------------------

    def verify_registration(self, response_json: str, *, challenge: bytes, require_uv: bool) -> RegisteredCredential:
        try:
            credential = parse_registration_credential_json(response_json)
            client_data_bytes = credential.response.client_data_json
            attestation_object = parse_attestation_object(credential.response.attestation_object)
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise MalformedResponse(f"registration response does not parse: {exc}") from exc
        self._check_client_data(client_data_bytes, ClientDataType.WEBAUTHN_CREATE, challenge)
        auth_data = attestation_object.auth_data
        self._check_authenticator_data(auth_data.rp_id_hash, auth_data.flags, require_uv)
        attested = auth_data.attested_credential_data
        if attested is None:
            raise MalformedResponse("registration response carries no attested credential data")
        try:
            algorithm = decode_credential_public_key(attested.credential_public_key).alg
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise MalformedResponse(f"credential public key does not decode: {exc}") from exc
        if algorithm not in self._algorithms:
            raise AlgorithmNotAllowed(f"COSE algorithm {algorithm} not in {self._settings.algorithms}")
        # py_webauthn types `fmt` as its enum but hands back the raw CBOR string.
        fmt = _format_name(attestation_object.fmt)
        roots = self._roots.get(fmt)
        # py_webauthn skips chain validation when a statement has no x5c (self attestation), so a format we
        # hold roots for must bring a chain, or anyone could claim an allow-listed AAGUID.
        if roots and not attestation_object.att_stmt.x5c:
            raise AttestationUntrusted(f"{fmt} attestation without a certificate chain")
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self._settings.rp_id,
                expected_origin=list(self._settings.origins),
                require_user_verification=require_uv,
                supported_pub_key_algs=self._algorithms,
                pem_root_certs_bytes_by_fmt={AttestationFormat(fmt): pems for fmt, pems in self._roots.items()},
            )
        except WebAuthnException as exc:
            # Client data, RP id, flags and algorithm passed above: what is left is the attestation statement.
            raise AttestationUntrusted(f"attestation statement refused: {exc}") from exc
        transports = tuple(t.value for t in credential.response.transports or ())
        return RegisteredCredential(
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            aaguid=verified.aaguid,
            fmt=fmt,
            user_verified=verified.user_verified,
            backup_eligible=auth_data.flags.be,
            backed_up=verified.credential_backed_up,
            transports=transports,
            attestation_trusted=bool(roots) and fmt != AttestationFormat.NONE.value,
        )

    @staticmethod
    def attestation_chain(response_json: str) -> tuple[bytes, ...]:
        """The DER certificates (x5c) a registration response presented, leaf first; empty for none/self.
        Operators need them to decide which roots and AAGUIDs to trust."""
        try:
            credential = parse_registration_credential_json(response_json)
            statement = parse_attestation_object(credential.response.attestation_object).att_stmt
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise MalformedResponse(f"registration response does not parse: {exc}") from exc
        return tuple(statement.x5c or ())

    # --- authentication --------------------------------------------------------------------------------------

    @staticmethod
    def assertion_identity(response_json: str) -> tuple[bytes, bytes | None]:
        """The credential id and user handle an assertion claims, to look the credential up before verifying."""
        try:
            credential = parse_authentication_credential_json(response_json)
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise MalformedResponse(f"authentication response does not parse: {exc}") from exc
        return credential.raw_id, credential.response.user_handle or None

    def verify_authentication(
        self, response_json: str, *, challenge: bytes, public_key: bytes, require_uv: bool
    ) -> VerifiedAssertion:
        """Verify an assertion. The signature counter is returned, not judged: the caller owns the stored count
        and decides (after the signature is known good) whether it went backwards."""
        try:
            credential = parse_authentication_credential_json(response_json)
            auth_data = parse_authenticator_data(credential.response.authenticator_data)
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise MalformedResponse(f"authentication response does not parse: {exc}") from exc
        self._check_client_data(credential.response.client_data_json, ClientDataType.WEBAUTHN_GET, challenge)
        self._check_authenticator_data(auth_data.rp_id_hash, auth_data.flags, require_uv)
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self._settings.rp_id,
                expected_origin=list(self._settings.origins),
                credential_public_key=public_key,
                # Zero disables py_webauthn's own counter test; ours runs after the signature is verified, so a
                # forged assertion can never raise a (logged, alarming) counter regression.
                credential_current_sign_count=0,
                require_user_verification=require_uv,
            )
        except (WebAuthnException, ValueError) as exc:
            raise SignatureInvalid(f"assertion refused: {exc}") from exc
        return VerifiedAssertion(
            credential_id=verified.credential_id,
            sign_count=verified.new_sign_count,
            user_verified=verified.user_verified,
            backed_up=verified.credential_backed_up,
        )

    # --- shared checks ---------------------------------------------------------------------------------------

    def _check_client_data(self, raw: bytes, expected_type: ClientDataType, challenge: bytes) -> None:
        try:
            client_data: CollectedClientData = parse_client_data_json(raw)
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise MalformedResponse(f"clientDataJSON does not parse: {exc}") from exc
        if client_data.type != expected_type:
            raise MalformedResponse(f"clientDataJSON type {client_data.type!r}, expected {expected_type.value!r}")
        if client_data.challenge != challenge:
            raise ChallengeMismatch("clientDataJSON challenge is not this ceremony's challenge")
        if client_data.origin not in self._settings.origins:
            raise BadOrigin(f"origin {client_data.origin!r} not in {list(self._settings.origins)}")

    def _check_authenticator_data(self, rp_id_hash: bytes, flags: AuthenticatorDataFlags, require_uv: bool) -> None:
        if rp_id_hash != self._rp_id_hash:
            raise BadRpId(f"authenticator data is for another RP id than {self._settings.rp_id!r}")
        if not flags.up:
            raise MalformedResponse("user presence flag not set")
        if require_uv and not flags.uv:
            raise UserVerificationRequired("user verification flag not set")


def _format_name(fmt: AttestationFormat | str) -> str:
    return fmt.value if isinstance(fmt, AttestationFormat) else str(fmt)


def _uv(required: bool) -> UserVerificationRequirement:
    return UserVerificationRequirement.REQUIRED if required else UserVerificationRequirement.PREFERRED


def _descriptor(descriptor: CredentialDescriptor) -> PublicKeyCredentialDescriptor:
    # Transports come from browsers; ones py_webauthn does not know are hints only, so drop rather than fail.
    transports = [AuthenticatorTransport(t) for t in descriptor.transports if t in _KNOWN_TRANSPORTS]
    return PublicKeyCredentialDescriptor(
        id=descriptor.credential_id, type=PublicKeyCredentialType.PUBLIC_KEY, transports=transports or None
    )

