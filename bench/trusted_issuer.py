#!/usr/bin/env python3
"""A host application for workload (e)'s RS256 variant: its JWKS endpoint and its users' tokens.

    python bench/trusted_issuer.py --issuer https://bench-app.example --users 1000 --out tokens.json

Generates one RSA-2048 key, signs one RS256 token per user (distinct ``sub``
each), writes ``{"url", "issuer", "kid", "subs", "tokens"}`` to ``--out``
(atomically, once the endpoint listens) and then serves, on a free
127.0.0.1 port until it is stopped:

    GET /.well-known/jwks.json   the key's public half, as an app backend publishes it
    GET /stats                   {"fetches": n}: how many times the JWKS was fetched

Kallemny is then started with ``TRUSTED_JWT_ISSUER`` = the issuer and
``TRUSTED_JWKS_URL`` = ``url`` (contract section 8). bench/run.py runs this
with the servers' Python, which has PyJWT and cryptography (Kallemny's own
dependencies); the driver itself needs neither.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import secrets
import sys
import threading
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

JWKS_PATH = "/.well-known/jwks.json"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--issuer", required=True, help="the iss of the tokens")
    p.add_argument("--users", type=int, default=1000, help="how many users (one token each, distinct sub)")
    p.add_argument("--prefix", default="bench-rs256", help="sub = PREFIX-TAG-NNNNN")
    p.add_argument("--lifetime", type=int, default=3600, help="token lifetime in seconds")
    p.add_argument("--out", required=True, help="where to write the JSON with the url and the tokens")
    args = p.parse_args(argv)

    t = time.monotonic()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = "bench-" + secrets.token_hex(4)
    jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "RS256", "use": "sig"}
    body = json.dumps({"keys": [jwk]}).encode()

    tag = secrets.token_hex(3)  # a run's users are new even in a reused database
    now = int(time.time())
    subs, tokens = [], []
    for i in range(args.users):
        sub = f"{args.prefix}-{tag}-{i:05d}"
        claims = {"iss": args.issuer, "sub": sub, "name": f"Bench user {i}", "iat": now,
                  "exp": now + args.lifetime}
        subs.append(sub)
        tokens.append(jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid}))
    signed_in = time.monotonic() - t

    fetches = 0
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's naming)
            nonlocal fetches
            if self.path == JWKS_PATH:
                with lock:
                    fetches += 1
                self._send(body)
            elif self.path == "/stats":
                with lock:
                    n = fetches
                self._send(json.dumps({"fetches": n}).encode())
            else:
                self.send_error(404)

        def _send(self, payload: bytes):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, fmt, *a):  # quiet: the driver keeps this process's output as a log
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    out = Path(args.out)
    part = out.with_name(out.name + ".part")
    part.write_text(json.dumps({"url": f"http://127.0.0.1:{port}{JWKS_PATH}", "statsUrl": f"http://127.0.0.1:{port}/stats",
                                "issuer": args.issuer, "kid": kid, "subs": subs, "tokens": tokens,
                                "signedSec": round(signed_in, 2)}))
    os.replace(part, out)
    print(f"JWKS on http://127.0.0.1:{port}{JWKS_PATH}; {args.users} RS256 tokens signed in {signed_in:.1f} s",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
