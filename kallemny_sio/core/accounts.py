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

    def __init__(self, store: Store, passwords: Passwords, tokens: Tokens, presence: Presence) -> None:
        self._store = store
        self._passwords = passwords
        self._tokens = tokens
        self._presence = presence

    async def register(self, req: RegisterRequest) -> dict[str, Any]:
        """Create a user and log them in.

        Raises:
            Conflict: the username is taken (any letter case).
        """
        password_hash = await self._passwords.hash(req.password)
        user = await self._store.create_user(req.username, req.display_name or req.username, password_hash, now_ms())
        return await self._session(user)

    async def login(self, req: LoginRequest) -> dict[str, Any]:
        """Check a username and password; rehash the password if its parameters changed.

        Raises:
            Unauthorized: unknown user or wrong password (one message for both).
        """
        user = await self._store.get_user_by_username(req.username)
        matches, needs_rehash = await self._passwords.verify(user.password_hash if user else None, req.password)
        if user is None or not matches:
            raise Unauthorized(BAD_CREDENTIALS)
        if needs_rehash:
            await self._store.set_password_hash(user.id, await self._passwords.hash(req.password))
        return await self._session(user)

    async def authenticate(self, token: object) -> Caller:
        """The caller a token names.

        Raises:
            Unauthorized: missing, malformed, expired or forged token, or a deleted user.
        """
        user_id = self._tokens.verify(token)
        if user_id is None:
            raise Unauthorized("missing or invalid access token")
        users = await self._store.get_users([user_id])
        if not users:
            raise Unauthorized("missing or invalid access token")
        return Caller(users[0].id, users[0].username)

    async def _session(self, user: UserRecord) -> dict[str, Any]:
        issued = self._tokens.issue(user.id, now_ms())
        online = await self._presence.online([user.id])
        return {"token": issued.token, "expiresAt": iso(issued.expires_at), "user": user_view(user, user.id in online)}
