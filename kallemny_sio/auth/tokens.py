"""Access tokens: HS256 JWTs with ``sub``, ``iat``, ``exp``, ``iss``, ``jti``, ``uct`` and ``gen``.

``gen`` is the user's token generation when the token was minted: a password
change or a deleted account moves the user's generation on, which refuses
every older token at once (``jti`` names one token, for a logout).

``uct`` binds a token to the user it was minted for, not only to an id: it is
the user's creation time (ms), which a verifier compares with the user it
loads. A database started afresh reuses ids ("1", "2", ...), never the
creation time of a user, so a token of one database's user "1" does not
authenticate another database's user "1" signed with the same secret.
"""

from __future__ import annotations

import dataclasses
import uuid

import jwt

ALGORITHM = "HS256"


@dataclasses.dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says: the user id and the user's creation time it was minted for."""

    user_id: str
    user_created_at: int | None
    generation: int = 0
    token_id: str | None = None
    expires_at: int = 0  # ms


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

    def issue(self, user_id: str, user_created_at: int, now_ms: int, generation: int = 0,
              lifetime_minutes: int | None = None) -> IssuedToken:
        """A token for the user ``user_id`` created at ``user_created_at``, valid from ``now_ms``."""
        iat = now_ms // 1000
        exp = iat + (self._lifetime_s if lifetime_minutes is None else lifetime_minutes * 60)
        claims = {"sub": user_id, "uct": user_created_at, "gen": generation, "iat": iat, "exp": exp,
                  "iss": self._issuer, "jti": uuid.uuid4().hex}
        return IssuedToken(jwt.encode(claims, self._secret, algorithm=ALGORITHM), exp * 1000)

    def verify(self, token: object) -> TokenClaims | None:
        """What a valid token says, or ``None`` for anything else.

        The algorithm is pinned (so ``alg: none`` and key confusion fail),
        ``exp``, ``iat`` and ``sub`` are required and the issuer is checked.
        Text that is not a token (non-ASCII, a lone surrogate) is ``None`` too.
        """
        if not isinstance(token, str) or not token or len(token) > 4096 or not token.isascii():
            return None
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except (jwt.PyJWTError, ValueError):
            return None
        sub, uct, gen, jti = claims.get("sub"), claims.get("uct"), claims.get("gen", 0), claims.get("jti")
        if not isinstance(sub, str) or not sub:
            return None
        return TokenClaims(sub, _integer(uct), _integer(gen) or 0, jti if isinstance(jti, str) else None,
                           int(claims["exp"]) * 1000)

    @property
    def issuer(self) -> str:
        return self._issuer


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    if not header or not header.isascii():
        return None
    scheme, _, token = header.strip().partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None
