"""Who is online: a user is online while any of their connections is open."""

from __future__ import annotations

from typing import Awaitable, Callable, Iterable, Protocol

OfflineCallback = Callable[[list[str]], Awaitable[None]]
OnlineCallback = Callable[[list[str]], Awaitable[None]]


class Presence(Protocol):
    """Connection counting, local or shared between nodes."""

    async def start(self, on_lost: OfflineCallback, on_found: OnlineCallback | None = None) -> None:
        """Begin; ``on_lost`` is called with users who went offline without a disconnect
        on this node (another node died), ``on_found`` with users who came online without
        a connect on this node (shared presence restored after Redis was unreachable)."""

    async def stop(self) -> None:
        """Release resources; this node's connections stop counting."""

    async def connected(self, user_id: str, sid: str) -> bool:
        """Count a connection; ``True`` when it is the user's first anywhere."""

    async def disconnected(self, user_id: str, sid: str) -> bool:
        """Uncount a connection; ``True`` when it was the user's last anywhere."""

    async def online(self, user_ids: Iterable[str]) -> set[str]:
        """The subset of ``user_ids`` that is online."""


class LocalPresence:
    """Presence for one node: in-process connection sets."""

    def __init__(self) -> None:
        self._sids: dict[str, set[str]] = {}

    async def start(self, on_lost: OfflineCallback, on_found: OnlineCallback | None = None) -> None:
        return None

    async def stop(self) -> None:
        self._sids.clear()

    async def connected(self, user_id: str, sid: str) -> bool:
        sids = self._sids.setdefault(user_id, set())
        first = not sids
        sids.add(sid)
        return first

    async def disconnected(self, user_id: str, sid: str) -> bool:
        sids = self._sids.get(user_id)
        if not sids or sid not in sids:
            return False
        sids.discard(sid)
        if sids:
            return False
        del self._sids[user_id]
        return True

    async def online(self, user_ids: Iterable[str]) -> set[str]:
        return {u for u in user_ids if u in self._sids}
