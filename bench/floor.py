"""The floor: the least work a Python token endpoint can do here, to put Mandat's figures in proportion.

`POST /token` checks HTTP Basic client authentication and `grant_type=client_credentials`, then signs one
ES256 JWT access token with joserfc. Nothing is stored, nothing is looked up. `/jwks` and
`/.well-known/openid-configuration` exist only so the harness can verify its tokens like any other server's.

Run: `python bench/floor.py --port 8100` (uvicorn, uvloop + httptools, one worker, access log off).
"""

from __future__ import annotations

import argparse
import base64
import hmac
import secrets
import time
from urllib.parse import parse_qs

import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret"
TOKEN_TTL = 300


def _client_from_basic(header: str | None) -> str | None:
    """Return the client id when the Basic credentials are the bench client's, else None."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    ok = hmac.compare_digest(user, CLIENT_ID) & hmac.compare_digest(password, CLIENT_SECRET)
    return user if ok else None


def create_app(issuer: str) -> Starlette:
    key = ECKey.generate_key("P-256", parameters={"kid": "floor-es256", "alg": "ES256", "use": "sig"})
    public_jwks = {"keys": [key.as_dict(private=False)]}
    header = {"alg": "ES256", "typ": "at+jwt", "kid": "floor-es256"}

    async def token(request: Request) -> Response:
        client_id = _client_from_basic(request.headers.get("authorization"))
        if client_id is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="floor"'})
        form = parse_qs((await request.body()).decode())
        if form.get("grant_type") != ["client_credentials"]:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        now = int(time.time())
        claims = {"iss": issuer, "sub": client_id, "aud": f"{issuer}/api", "client_id": client_id,
                  "iat": now, "exp": now + TOKEN_TTL, "jti": secrets.token_urlsafe(16)}
        access_token = jwt.encode(header, claims, key)
        return JSONResponse({"access_token": access_token, "token_type": "Bearer", "expires_in": TOKEN_TTL},
                            headers={"Cache-Control": "no-store"})

    async def jwks(_request: Request) -> Response:
        return JSONResponse(public_jwks)

    async def discovery(_request: Request) -> Response:
        return JSONResponse({"issuer": issuer, "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/jwks"})

    return Starlette(routes=[
        Route("/token", token, methods=["POST"]),
        Route("/jwks", jwks),
        Route("/.well-known/openid-configuration", discovery),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    issuer = f"http://127.0.0.1:{args.port}"
    uvicorn.run(create_app(issuer), host="127.0.0.1", port=args.port, workers=1, loop="uvloop",
                http="httptools", access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
