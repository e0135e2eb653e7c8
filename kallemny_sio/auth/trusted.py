"""Trusted issuers: tokens signed by the host application (contract section 8).

An app that already has users signs a short JWT for each of them; Kallemny
accepts it wherever its own token is accepted. One :class:`TrustedIssuer`
verifies the tokens of one ``iss``: HS256 with a shared secret, or RS256 /
ES256 with public keys from the app's JWKS URL.

The algorithm is pinned, never taken from the token: with a secret only
HS256 verifies; with a JWKS each key verifies the one algorithm its type
allows (an RSA key RS256, an EC P-256 key ES256). So ``alg: none``, an
HS256 token "signed" with a public key, and an ES256 header on an RSA key's
``kid`` are all refused, whatever the header says.

Why our own fetch and not PyJWT's ``PyJWKClient``: the client reads with
blocking ``urllib`` (so it would need a thread), its timeout bounds each
socket read, not the whole request (an endpoint trickling one byte a second
holds it forever), it reads a document of any size, and a hung request pins
an executor thread that cannot be cancelled, so a thousand connects at once
would queue behind it. An ``aiohttp`` request here is bounded in total time
and in size, shares one in-flight fetch between all waiting verifiers, and
is cancelled with the issuer. PyJWT still parses the keys (``PyJWK``) and
checks the signatures and claims.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from typing import Any

import aiohttp
import jwt

log = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 8 * 1024
MAX_JWKS_BYTES = 1024 * 1024
MAX_SUB_CHARS = 128
MAX_NAME_CHARS = 64
MIN_RSA_BITS = 2048
# A cached key set is refreshed after this long, so a key the app withdrew
# stops verifying within minutes (PyJWKClient's default lifespan too).
JWKS_MAX_AGE_SECONDS = 300.0
# Until a first key set has loaded, a failed fetch is retried sooner than
# the unknown-kid interval, so an endpoint that was down at start-up does
# not refuse every trusted token for a whole minute after it is back.
FIRST_LOAD_RETRY_SECONDS = 5.0
# Host applications' clocks drift; a few seconds either way is forgiven.
CLOCK_SKEW_SECONDS = 10

SECRET_ALGORITHM = "HS256"
# (kty, crv) of a JWK -> the one algorithm that key verifies.
_KEY_ALGORITHMS = {("RSA", None): "RS256", ("EC", "P-256"): "ES256"}
_JWKS_ALGORITHMS = frozenset(_KEY_ALGORITHMS.values())


class KeySetUnavailable(Exception):
    """The JWKS endpoint gave no usable key set (down, slow, too large or malformed)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ExternalIdentity:
    """Who a verified trusted token names.

    Attributes:
        external_id: the token's ``sub``, the host application's user id (1-128 characters).
        name: the ``name`` claim, trimmed to 64 characters, or ``None`` when absent or blank.
        jti: the token's id, if it has one.
        expires_at: ``exp`` in milliseconds since the epoch.
        issued_at: ``iat`` in milliseconds, if the token has one (a token of an
            account deleted since it was issued is refused).
    """

    external_id: str
    name: str | None
    jti: str | None
    expires_at: int
    issued_at: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _VerifyingKey:
    algorithm: str
    key: Any  # a cryptography public key


class TrustedIssuer:
    """Verifies the tokens of one host application (one ``iss``)."""

    def __init__(self, issuer: str, *, secret: str | None = None, jwks_url: str | None = None,
                 audience: str | None = None, jwks_timeout_seconds: float = 2.0,
                 unknown_kid_refetch_seconds: float = 60.0) -> None:
        """Set up a verifier; nothing is fetched until the first token arrives.

        Args:
            issuer: the ``iss`` the app puts in its tokens.
            secret: the shared HS256 secret (exactly one of ``secret`` / ``jwks_url``).
            jwks_url: where the app publishes its RS256 / ES256 public keys.
            audience: when set, a token's ``aud`` must name it; unset, ``aud`` is not checked.
            jwks_timeout_seconds: the longest a verify waits for the key set.
            unknown_kid_refetch_seconds: at most one refetch per this interval
                for a ``kid`` the cached key set does not hold.

        Raises:
            ValueError: not exactly one of ``secret`` and ``jwks_url`` was given.
        """
        if (secret is None) == (jwks_url is None):
            raise ValueError("a trusted issuer needs exactly one of secret and jwks_url")
        self._issuer = issuer
        self._secret = secret
        self._audience = audience
        self._keys = None if jwks_url is None else _JwksCache(
            jwks_url, jwks_timeout_seconds, unknown_kid_refetch_seconds)

    @property
    def issuer(self) -> str:
        """The ``iss`` this verifier answers for."""
        return self._issuer

    def names(self, token: object) -> bool:
        """Whether the token claims this issuer (``iss``); cheap and unverified.

        Lets the caller pick the verifier for a token; it proves nothing.
        """
        payload = _unverified_part(token, "payload")
        return payload is not None and payload.get("iss") == self._issuer

    async def verify(self, token: object) -> ExternalIdentity | None:
        """The identity a valid token of this issuer names, else ``None``.

        Never raises: a malformed, forged, expired or foreign token, a token
        over 8 KiB or not ASCII, and a JWKS endpoint that is down or slow
        (after at most ``jwks_timeout_seconds``) all give ``None``.
        """
        try:
            return await self._verify(token)
        except Exception:  # a verifier that raises would turn a bad token into a 500
            log.exception("trusted issuer %r: unexpected error while verifying a token", self._issuer)
            return None

    async def close(self) -> None:
        """Stop any key fetch in flight and close the HTTP client."""
        if self._keys is not None:
            await self._keys.close()

    async def _verify(self, token: object) -> ExternalIdentity | None:
        header = _unverified_part(token, "header")
        if header is None:
            return None
        key = await self._verifying_key(header)
        if key is None:
            return None
        claims = self._decode(str(token), key)
        return None if claims is None else _identity(claims)

    async def _verifying_key(self, header: dict[str, Any]) -> _VerifyingKey | None:
        """The key the token must be signed with; ``None`` before any fetch for a hopeless header."""
        if self._keys is None:
            return _VerifyingKey(SECRET_ALGORITHM, self._secret)
        kid = header.get("kid")
        if header.get("alg") not in _JWKS_ALGORITHMS or not (kid is None or isinstance(kid, str)):
            return None
        return await self._keys.key_for(kid)

    def _decode(self, token: str, key: _VerifyingKey) -> dict[str, Any] | None:
        try:
            return jwt.decode(
                token, key.key, algorithms=[key.algorithm], issuer=self._issuer,
                audience=self._audience, leeway=CLOCK_SKEW_SECONDS,
                # No audience configured: aud is not checked (identity providers put one in every token).
                options={"require": ["exp", "iss", "sub"], "verify_aud": self._audience is not None},
            )
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
            return None


def _identity(claims: dict[str, Any]) -> ExternalIdentity | None:
    sub, exp, name, jti = claims.get("sub"), claims.get("exp"), claims.get("name"), claims.get("jti")
    if not isinstance(sub, str) or not 1 <= len(sub) <= MAX_SUB_CHARS:
        return None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None  # PyJWT accepts a numeric string; a token that says "exp": "1e10" is not well made
    name = name.strip()[:MAX_NAME_CHARS] if isinstance(name, str) and name.strip() else None
    jti = jti if isinstance(jti, str) and jti else None
    iat = claims.get("iat")
    issued = int(iat * 1000) if isinstance(iat, (int, float)) and not isinstance(iat, bool) else None
    return ExternalIdentity(sub, name, jti, int(exp * 1000), issued)


def _unverified_part(token: object, part: str) -> dict[str, Any] | None:
    """The token's header or payload, unverified; ``None`` for anything that is not a JWT."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS or not token.isascii():
        return None
    if token.count(".") != 2:
        return None
    try:
        if part == "header":
            return jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


class _JwksCache:
    """The JWKS document of one URL: fetched on demand, cached, refetched sparingly.

    Only one fetch is ever in flight; every verifier that needs it awaits
    the same one, each for at most the timeout. A failed fetch keeps the
    keys already cached, so a flaky endpoint never locks valid users out.
    """

    def __init__(self, url: str, timeout_seconds: float, refetch_seconds: float) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._refetch_seconds = refetch_seconds
        self._keys: dict[str | None, _VerifyingKey] = {}
        self._loaded_at: float | None = None
        self._retry_at = 0.0  # after a failed fetch: no new one before this (monotonic)
        self._unknown_kid_fetch_at = 0.0  # the next refetch an unknown kid may trigger
        self._inflight: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def key_for(self, kid: str | None) -> _VerifyingKey | None:
        """The cached key for ``kid``, fetching the set first when it is missing, old or lacks the kid."""
        if self._closed:
            return None
        if self._is_stale() and self._may_fetch():
            await self._refresh()
        key = self._lookup(kid)
        if key is None and kid is not None and self._may_fetch(self._unknown_kid_fetch_at):
            # a kid we have not seen: maybe the app rotated its keys, maybe a forger
            # sends random kids; either way at most one such refetch per interval
            if self._inflight is None:
                self._unknown_kid_fetch_at = time.monotonic() + self._refetch_seconds
            await self._refresh()
            key = self._lookup(kid)
        return key

    async def close(self) -> None:
        """Cancel a fetch in flight and close the HTTP client."""
        self._closed = True
        task, self._inflight = self._inflight, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _lookup(self, kid: str | None) -> _VerifyingKey | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))  # an app with one key may leave kid out
        return self._keys.get(kid)

    def _is_stale(self) -> bool:
        return self._loaded_at is None or time.monotonic() - self._loaded_at >= JWKS_MAX_AGE_SECONDS

    def _may_fetch(self, not_before: float = 0.0) -> bool:
        return self._inflight is not None or time.monotonic() >= max(self._retry_at, not_before)

    async def _refresh(self) -> None:
        """Start a fetch (or join the one in flight) and wait for it at most the timeout."""
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._fetch(), name=f"jwks-fetch {self._url}")
        # asyncio.wait, not wait_for: a verifier that gives up (or is cancelled) leaves the
        # shared fetch running, and a fetch cancelled by close() does not raise in its waiters
        done, _ = await asyncio.wait({self._inflight}, timeout=self._timeout)
        if not done:
            log.warning("JWKS %s: no key set within %.1f s", self._url, self._timeout)

    async def _fetch(self) -> None:
        try:
            self._keys = parse_jwks(await self._download())
            self._loaded_at = time.monotonic()
        except KeySetUnavailable as exc:
            log.warning("JWKS %s: %s; keeping %d cached keys", self._url, exc, len(self._keys))
            self._after_failure()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("JWKS %s: unreachable (%s); keeping %d cached keys", self._url,
                        type(exc).__name__, len(self._keys))
            self._after_failure()
        except Exception:  # nobody may be waiting any more: a silent death would hide the bug
            log.exception("JWKS %s: unexpected error while fetching", self._url)
            self._after_failure()
        finally:
            self._inflight = None

    def _after_failure(self) -> None:
        retry = self._refetch_seconds if self._loaded_at is not None else min(
            self._refetch_seconds, FIRST_LOAD_RETRY_SECONDS)
        self._retry_at = time.monotonic() + retry

    async def _download(self) -> bytes:
        """The document's bytes, refused over 1 MiB (counted after decompression)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        async with self._session.get(self._url, headers={"Accept": "application/json"}) as response:
            if response.status != 200:
                raise KeySetUnavailable(f"answered HTTP {response.status}")
            if (response.content_length or 0) > MAX_JWKS_BYTES:
                raise KeySetUnavailable(f"document of {response.content_length} bytes is over {MAX_JWKS_BYTES}")
            body = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise KeySetUnavailable(f"document is over {MAX_JWKS_BYTES} bytes")
            return bytes(body)


def parse_jwks(body: bytes) -> dict[str | None, _VerifyingKey]:
    """The RS256 / ES256 verifying keys of a JWKS document, by ``kid``.

    Keys of other types, curves or uses, symmetric keys and RSA keys under
    2048 bits are skipped; the first key of a ``kid`` wins.

    Raises:
        KeySetUnavailable: the document is not JSON, has no ``keys`` list, or no usable key.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise KeySetUnavailable("document is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise KeySetUnavailable('document has no "keys" list')
    keys: dict[str | None, _VerifyingKey] = {}
    for entry in entries:
        parsed = _verifying_key(entry)
        if parsed is not None:
            keys.setdefault(parsed[0], parsed[1])
    if not keys:
        raise KeySetUnavailable("document holds no usable RS256 or ES256 key")
    return keys


def _verifying_key(jwk: object) -> tuple[str | None, _VerifyingKey] | None:
    """``(kid, key)`` for one JWK that may verify signatures, else ``None``."""
    if not isinstance(jwk, dict):
        return None
    algorithm = _KEY_ALGORITHMS.get((jwk.get("kty"), jwk.get("crv")))
    kid = jwk.get("kid")
    if algorithm is None or jwk.get("alg", algorithm) != algorithm or jwk.get("use", "sig") != "sig":
        return None
    if not (kid is None or isinstance(kid, str)):
        return None
    try:
        key = jwt.PyJWK(jwk, algorithm).key
    except Exception:  # PyJWK raises what cryptography raises for a malformed number; skip the key
        return None
    if algorithm == "RS256" and key.key_size < MIN_RSA_BITS:
        return None
    return kid, _VerifyingKey(algorithm, key)
