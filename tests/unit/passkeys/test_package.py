"""Guards on the package's shape: its public names, stable error codes, and the one-wrapper-per-library rule."""

from __future__ import annotations

import ast
from pathlib import Path

import idp.passkeys
from idp.passkeys import errors

PACKAGE = Path(idp.passkeys.__file__).parent


def test_public_api() -> None:
    assert sorted(idp.passkeys.__all__) == [
        "AuthResult", "Ceremony", "CounterRegression", "CredentialSummary", "PasskeyError", "PasskeyService",
        "PasskeySettings", "PasskeyUserHandle", "WebAuthnCredential", "uv_required",
    ]
    for name in idp.passkeys.__all__:
        assert hasattr(idp.passkeys, name), name


def test_error_codes_are_stable_and_unique() -> None:
    codes = {
        getattr(errors, name).code for name in errors.__all__ if name != "PasskeyError"
    }
    assert codes == {
        "malformed", "bad_origin", "bad_rp_id", "challenge_mismatch", "challenge_unknown",
        "user_verification_required", "signature_invalid", "counter_regression", "algorithm_not_allowed",
        "aaguid_not_allowed", "attestation_untrusted", "unknown_credential", "last_credential", "invalid_name",
        "already_registered",
    }
    assert len(codes) == len(errors.__all__) - 1


def test_only_the_wrapper_imports_py_webauthn() -> None:
    importers = set()
    for path in PACKAGE.parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            if any(name == "webauthn" or name.startswith("webauthn.") for name in names):
                importers.add(path.relative_to(PACKAGE.parent).as_posix())
    assert importers == {"passkeys/webauthn.py"}
