"""Registration, login and token authentication."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ..auth.passwords import Passwords
from ..auth.tokens import Tokens
from .clock import iso, now_ms
from ..errors import Unauthorized
from ..schemas import LoginRequest, RegisterRequest
from ..storage.base import Store, UserRecord
from .views import user_view
from .limits import Guard
from .presence import Presence

log = logging.getLogger(__name__)
BAD_CREDENTIALS = "invalid username or password"


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated user, as every core call receives it."""

    user_id: str
    username: str


class Accounts:
    """Users' identities: passwords and tokens."""

    def __init__(self, store: Store, passwords: Passwords, tokens: Tokens, presence: Presence, guard: Guard) -> None:
        self._store = store
        self._passwords = passwords
        self._tokens = tokens
        self._presence = presence
        self._guard = guard

    async def register(self, req: RegisterRequest, address: str) -> dict[str, Any]:
        """Create a user and log them in.

        Raises:
            RateLimited: too many registrations from ``address`` (the client's).
            Conflict: the username is taken (any letter case).
        """
        await self._guard.before_register(address)
        password_hash = await self._passwords.hash(req.password, keys=self._fair_keys(address))
        user = await self._store.create_user(req.username, req.display_name or req.username, password_hash, now_ms())
        return await self._session(user)

    async def login(self, req: LoginRequest, address: str) -> dict[str, Any]:
        """Check a username and password; rehash the password if its parameters changed.

        Raises:
            RateLimited: too many failures from ``address`` or for the username (known
                or not, right password or not), or too many hashes in progress for either.
            Unauthorized: unknown user or wrong password (one message for both).
        """
        await self._guard.before_login(address, req.username)
        user = await self._store.get_user_by_username(req.username)
        keys = self._fair_keys(address, req.username)
        matches, needs_rehash = await self._passwords.verify(user.password_hash if user else None, req.password, keys)
        if user is None or not matches:
            await self._guard.login_failed(address, req.username)
            raise Unauthorized(BAD_CREDENTIALS)
        await self._guard.login_succeeded(req.username)
        if needs_rehash:
            await self._store.set_password_hash(user.id, await self._passwords.hash(req.password))
        return await self._session(user)

    def _fair_keys(self, address: str, username: str | None = None) -> tuple[str, ...]:
        """On whose behalf a hash runs, so that no one address or account holds more than its share."""
        if not self._guard.enabled:
            return ()
        return (f"addr:{address}",) + ((f"user:{username.lower()}",) if username else ())

    async def authenticate(self, token: object) -> Caller:
        """The caller a token names.

        Raises:
            Unauthorized: missing, malformed, expired or forged token, or a deleted user.
        """
        claims = self._tokens.verify(token)
        if claims is None:
            raise Unauthorized("missing or invalid access token")
        users = await self._store.get_users([claims.user_id])
        # A token is bound to the user it was minted for, not only to an id a new database may reuse.
        if not users or users[0].created_at != claims.user_created_at:
            raise Unauthorized("missing or invalid access token")
        return Caller(users[0].id, users[0].username)

    async def _session(self, user: UserRecord) -> dict[str, Any]:
        issued = self._tokens.issue(user.id, user.created_at, now_ms())
        online = await self._presence.online([user.id])
        return {"token": issued.token, "expiresAt": iso(issued.expires_at), "user": user_view(user, user.id in online)}
