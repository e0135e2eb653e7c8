"""Access tokens: HS256 JWTs with ``sub``, ``iat``, ``exp``, ``iss`` and ``jti``."""

from __future__ import annotations

import dataclasses
import uuid

import jwt

ALGORITHM = "HS256"


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: int  # ms since the epoch


class Tokens:
    """Issue and verify access tokens with one secret."""

    def __init__(self, secret: str, issuer: str, lifetime_minutes: int) -> None:
        self._secret = secret
        self._issuer = issuer
        self._lifetime_s = lifetime_minutes * 60

    def issue(self, user_id: str, now_ms: int) -> IssuedToken:
        """A token for ``user_id`` valid from ``now_ms`` for the configured lifetime."""
        iat = now_ms // 1000
        exp = iat + self._lifetime_s
        claims = {"sub": user_id, "iat": iat, "exp": exp, "iss": self._issuer, "jti": uuid.uuid4().hex}
        return IssuedToken(jwt.encode(claims, self._secret, algorithm=ALGORITHM), exp * 1000)

    def verify(self, token: object) -> str | None:
        """The user id a valid token names, or ``None`` for anything else.

        The algorithm is pinned (so ``alg: none`` and key confusion fail),
        ``exp``, ``iat`` and ``sub`` are required and the issuer is checked.
        """
        if not isinstance(token, str) or not token or len(token) > 4096:
            return None
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.PyJWTError:
            return None
        sub = claims.get("sub")
        return sub if isinstance(sub, str) and sub else None


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None
