"""A local OpenID Connect issuer for this service's tests (auth=oidc): imported by tests only.

It is a real issuer as far as the service can tell: an RSA key pair made at import, a discovery
document and a JWKS served over HTTP on a free loopback port (a thread of this process), and
RS256 tokens signed with that key. The contract every auth component's `auth_testing` keeps:
`SETTINGS` (the tests' Settings overrides) and `headers(*roles, sub=...)`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "test-audience"
ROLES_CLAIM = "realm_access.roles"


class LocalIssuer:
    """Serves `/.well-known/openid-configuration` and `/jwks`; signs tokens; can rotate its key."""

    def __init__(self) -> None:
        self.jwks_requests = 0
        self._keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        self.rotate()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_requests += 1
                    body = issuer.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def rotate(self) -> str:
        """A new signing key (the old ones stay published); returns its kid."""
        kid = f"key-{len(self._keys) + 1}"
        self._keys.append((kid, rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self._keys:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(self, *roles: str, kid: str | None = None, **claims: Any) -> str:
        """An RS256 token of this issuer (the newest key unless `kid`); `claims` override the defaults."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "sub": "test-user",
            "iss": self.url,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "realm_access": {"roles": list(roles)},
        }
        payload.update(claims)
        kid, key = next(((k, v) for k, v in self._keys if k == kid), self._keys[-1])
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


ISSUER = LocalIssuer()
SETTINGS: dict[str, Any] = {"oidc_issuer": ISSUER.url, "oidc_audience": AUDIENCE, "oidc_roles_claim": ROLES_CLAIM}


def headers(*roles: str, sub: str = "test-user") -> dict[str, str]:
    """Headers for a caller with the given roles."""
    return {"Authorization": f"Bearer {ISSUER.token(*roles, sub=sub)}"}
