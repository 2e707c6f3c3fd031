"""OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414 §2). Lists only what is switched on."""

from __future__ import annotations

from typing import Any

from idp.oidc.jose import ASYMMETRIC_ALGORITHMS
from idp.oidc.provider import Provider
from idp.oidc.token_endpoint import GRANTS

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


def provider_metadata(provider: Provider) -> dict[str, Any]:
    config = provider.config
    return {
        "issuer": config.issuer,
        "authorization_endpoint": config.authorization_endpoint,
        "token_endpoint": config.token_endpoint,
        "userinfo_endpoint": config.userinfo_endpoint,
        "jwks_uri": config.jwks_uri,
        "introspection_endpoint": config.introspection_endpoint,
        "revocation_endpoint": config.revocation_endpoint,
        "end_session_endpoint": config.end_session_endpoint,
        "scopes_supported": list(config.scopes_supported),
        "claims_supported": list(config.claims_supported),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": sorted(GRANTS),
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": list(ASYMMETRIC_ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS[:3],
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "acr_values_supported": list(config.acr_values_supported),
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "ui_locales_supported": ["fr", "en"],
        "claim_types_supported": ["normal"],
    }
