"""A host application's JWKS endpoint, and the tokens such an app signs.

An aiohttp app on a free 127.0.0.1 port serves the public half of generated
RSA and EC keys, the way an app backend publishes them for Kallemny's
trusted-issuer verification. Tests rotate keys and make the endpoint fail::

    server = JwksServer()
    await server.start()
    key = server.add_key(rsa_key("rsa-1"))   # rotation: add_key again with a new kid
    server.url                   # http://127.0.0.1:PORT/.well-known/jwks.json
    server.fetches               # how many GETs it answered (or hung on)
    await server.wait_for_fetches(2)
    server.fail_with(500)        # answer an error status
    server.hang()                # accept the request, never answer
    server.serve_body(b"{", chunked=True)   # a malformed or huge document
    server.serve_keys()          # healthy again
    await server.stop()          # down: connection refused on the same port
    await server.start()         # back on the same port
    await server.close()

    token = sign(claims_for("https://app.example", "user-1"), key)
    token = sign_hs256(claims, "secret-of-at-least-32-bytes......")
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWKS_PATH = "/.well-known/jwks.json"
FETCH_WAIT_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class SigningKey:
    """A private key the app signs with, its ``kid`` and the one algorithm it is for."""

    kid: str
    algorithm: str  # "RS256" or "ES256"
    private_key: Any

    def public_jwk(self, **extra: Any) -> dict[str, Any]:
        """The public key as a JWK with ``kid``, ``alg`` and ``use``; ``extra`` overrides fields."""
        exporter = RSAAlgorithm if self.algorithm.startswith("RS") else ECAlgorithm
        jwk = exporter.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig", **extra}

    def public_pem(self) -> bytes:
        """The public key in PEM, what a key-confusion forger uses as an HMAC secret."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def rsa_key(kid: str, bits: int = 2048) -> SigningKey:
    """A fresh RSA key for RS256."""
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=bits))


def ec_key(kid: str, curve: ec.EllipticCurve | None = None) -> SigningKey:
    """A fresh EC key (P-256 unless ``curve`` says otherwise) for ES256."""
    return SigningKey(kid, "ES256", ec.generate_private_key(curve or ec.SECP256R1()))


def claims_for(issuer: str, sub: str = "user-1", *, lifetime_seconds: int = 300, **extra: Any) -> dict[str, Any]:
    """The claims an app puts in a token: ``iss``, ``sub``, ``iat``, ``exp``, plus ``extra``.

    A value of ``None`` in ``extra`` removes that claim (``exp=None``: a token without ``exp``).
    """
    now = int(time.time())
    claims: dict[str, Any] = {"iss": issuer, "sub": sub, "iat": now, "exp": now + lifetime_seconds, **extra}
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: dict[str, Any], key: SigningKey, *, algorithm: str | None = None,
         kid: str | None = "<key's own>") -> str:
    """A token signed by ``key``; ``algorithm`` and ``kid`` can lie about it (``kid=None``: no kid)."""
    headers = {} if kid is None else {"kid": key.kid if kid == "<key's own>" else kid}
    return jwt.encode(claims, key.private_key, algorithm=algorithm or key.algorithm, headers=headers)


def sign_hs256(claims: dict[str, Any], secret: str, *, kid: str | None = None) -> str:
    """An HS256 token, as an app backend sharing a secret signs it."""
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid} if kid else None)


def forge(header: dict[str, Any], claims: dict[str, Any], hmac_secret: bytes | None = None) -> str:
    """A token built by hand: unsigned (``alg: none``) or HMAC-SHA256 with any bytes as secret.

    PyJWT refuses to HMAC with a PEM public key; a forger does not, so neither does this.
    """
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = b"" if hmac_secret is None else hmac.new(hmac_secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class JwksServer:
    """A JWKS endpoint over real HTTP that can rotate keys, fail, hang and count fetches."""

    def __init__(self) -> None:
        self.jwks: list[dict[str, Any]] = []
        self.fetches = 0
        self.port = 0
        self._mode = "keys"
        self._status = 200
        self._body = b""
        self._chunked = False
        self._fetched = asyncio.Condition()
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{JWKS_PATH}"

    def add_key(self, key: SigningKey, **jwk_fields: Any) -> SigningKey:
        """Publish ``key``'s public half (a rotation when its kid is new)."""
        self.jwks.append(key.public_jwk(**jwk_fields))
        return key

    def remove_key(self, kid: str) -> None:
        self.jwks = [jwk for jwk in self.jwks if jwk.get("kid") != kid]

    def serve_keys(self) -> None:
        """Answer 200 with the published keys (the default)."""
        self._mode = "keys"

    def fail_with(self, status: int) -> None:
        self._mode, self._status = "status", status

    def hang(self) -> None:
        """Accept requests and never answer them (until :meth:`close`)."""
        self._mode = "hang"

    def serve_body(self, body: bytes, *, chunked: bool = False) -> None:
        """Answer 200 with ``body`` as is; ``chunked`` leaves out Content-Length."""
        self._mode, self._body, self._chunked = "body", body, chunked

    async def wait_for_fetches(self, count: int, timeout: float = FETCH_WAIT_SECONDS) -> None:
        async with self._fetched:
            await asyncio.wait_for(self._fetched.wait_for(lambda: self.fetches >= count), timeout)

    async def start(self) -> "JwksServer":
        """Listen on a free port, or on the same port again after :meth:`stop`."""
        if self._runner is None:
            app = web.Application()
            app.router.add_get(JWKS_PATH, self._handle)
            self._runner = web.AppRunner(app, shutdown_timeout=0.1)
            await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        self.port = self._runner.addresses[-1][1]
        return self

    async def stop(self) -> None:
        """Stop listening: new connections are refused."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def close(self) -> None:
        self._release.set()
        await self.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        async with self._fetched:
            self.fetches += 1
            self._fetched.notify_all()
        if self._mode == "hang":
            await self._release.wait()
            return web.Response(status=503)
        if self._mode == "status":
            return web.json_response({"error": "down"}, status=self._status)
        if self._mode == "body":
            return await self._raw_body(request)
        return web.json_response({"keys": self.jwks})

    async def _raw_body(self, request: web.Request) -> web.StreamResponse:
        if not self._chunked:
            return web.Response(body=self._body, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(self._body), 64 * 1024):
            await response.write(self._body[start:start + 64 * 1024])
        await response.write_eof()
        return response
