"""Tokens refused before they expire, and live connections ended on every node (contract section 8).

Two kinds of revocation, both cheap to check on every request and connect:

- one token (a logout): its id is kept in the store until the token expires
  and in every node's memory (loaded at start, then told by the control bus);
- every token of a user (a password change, a deleted account): the user's
  token generation moves on in the store, and the user record, which
  authentication reads anyway, refuses older tokens.

Either way, the control bus tells every node to disconnect the sockets
opened with what was revoked; each node's connections subscribe through
:meth:`Revocations.on_end`.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ..storage.base import Store
from .clock import now_ms
from .control import ControlBus

#: ``(user_id, token_id, generation)``: end the user's connections opened with
#: ``token_id`` (when given) or with a generation below ``generation`` (when given), else all.
EndHandler = Callable[[str, str | None, int | None], Awaitable[None]]


class Revocations:
    """Revoked token ids in memory, kept in step by the store and the control bus."""

    def __init__(self, store: Store, bus: ControlBus) -> None:
        self._store = store
        self._bus = bus
        self._revoked: dict[str, int] = {}  # token id -> its expiry (ms)
        self._handlers: list[EndHandler] = []
        bus.subscribe(self._on_message)

    async def start(self) -> None:
        """Load the revocations still in force."""
        now = now_ms()
        self._revoked.update(dict(await self._store.revoked_tokens(now)))

    def on_end(self, handler: EndHandler) -> None:
        self._handlers.append(handler)

    def is_revoked(self, token_id: str | None) -> bool:
        """Whether this token id was revoked (a dict lookup)."""
        if token_id is None:
            return False
        expires = self._revoked.get(token_id)
        if expires is None:
            return False
        if expires < now_ms():
            del self._revoked[token_id]
            return False
        return True

    async def revoke_token(self, user_id: str, token_id: str, expires_at: int) -> None:
        """Refuse one token from now on, everywhere, and end the connections opened with it."""
        await self._store.revoke_token(token_id, expires_at)
        self._revoked[token_id] = expires_at
        await self._bus.publish({"kind": "token", "userId": user_id, "tokenId": token_id, "expiresAt": expires_at})

    async def end_sessions(self, user_id: str, below_generation: int | None = None) -> None:
        """End the user's connections on every node (opened with a generation below ``below_generation``, or all)."""
        await self._bus.publish({"kind": "user", "userId": user_id, "generation": below_generation})

    async def _on_message(self, message: dict[str, Any]) -> None:
        user_id = message.get("userId")
        if not isinstance(user_id, str):
            return
        token_id = message.get("tokenId") if message.get("kind") == "token" else None
        if isinstance(token_id, str) and isinstance(message.get("expiresAt"), int):
            self._revoked[token_id] = message["expiresAt"]
        generation = message.get("generation")
        for handler in self._handlers:
            await handler(user_id, token_id if isinstance(token_id, str) else None,
                          generation if isinstance(generation, int) else None)
