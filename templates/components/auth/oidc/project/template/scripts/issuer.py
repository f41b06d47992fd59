#!/usr/bin/env python3
"""A development OpenID Connect issuer for `make dev` and the repo-level tests (auth=oidc).

Serves the discovery document and the JWKS that `scripts/credentials.py` wrote to the work
directory, on 127.0.0.1 only; tokens are signed by `scripts/token.py` with the matching private
key (never by this process). Standard library only. Not for production: point OIDC_ISSUER at
your real issuer there (docs/auth.md).

    python scripts/issuer.py --port 8090 --dir .dev
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROUTES = {"/.well-known/openid-configuration": "oidc-discovery.json", "/jwks": "oidc-jwks.json"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="the work directory holding the documents")
    args = parser.parse_args(argv)
    directory: Path = args.dir

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = ROUTES.get(self.path.split("?", 1)[0])
            if name is None:
                self.send_error(404)
                return
            body = (directory / name).read_bytes()  # read per request: a rotated key shows at once
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            sys.stdout.write(f"{self.address_string()} {format % args}\n")
            sys.stdout.flush()

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
