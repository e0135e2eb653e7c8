"""Who is typing where, with expiry.

A typing state lives on the node that holds the typer's connection; its
expiry fires there and the resulting ``UserTyping`` goes out through the
normal delivery, so expiry behaves the same whichever node the members use.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from .tasks import spawn

Key = tuple[str, str]  # (room_id, user_id)


class TypingTracker:
    """Typing states keyed by (room, user), each set by one connection."""

    def __init__(self, ttl_seconds: float, on_expire: Callable[[str, str], Awaitable[None]]) -> None:
        self._ttl = ttl_seconds
        self._on_expire = on_expire
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._sids: dict[Key, str] = {}

    def start(self, room_id: str, user_id: str, sid: str) -> bool:
        """Start or refresh a typing state; ``True`` when it was not typing before."""
        key = (room_id, user_id)
        was = self._cancel(key)
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(self._ttl, self._expire, key)
        self._sids[key] = sid
        return not was

    def stop(self, room_id: str, user_id: str) -> bool:
        """End a typing state; ``True`` when there was one."""
        key = (room_id, user_id)
        self._sids.pop(key, None)
        return self._cancel(key)

    def drop_connection(self, sid: str) -> list[Key]:
        """End every typing state the connection ``sid`` set; returns their keys."""
        keys = [k for k, s in self._sids.items() if s == sid]
        for key in keys:
            self.stop(*key)
        return keys

    def close(self) -> None:
        """Cancel every timer."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._sids.clear()

    def _cancel(self, key: Key) -> bool:
        handle = self._timers.pop(key, None)
        if handle is None:
            return False
        handle.cancel()
        return True

    def _expire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self._sids.pop(key, None)
        spawn(self._on_expire(*key), name=f"typing-expired:{key[0]}:{key[1]}")
