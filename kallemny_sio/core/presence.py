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

    async def connection_count(self, user_id: str) -> int:
        """How many connections ``user_id`` has open (on every node)."""


class ConnectionTable:
    """Which connections each user has open here: the first-here / last-here rule, once.

    :class:`LocalPresence` is this table alone; shared presence keeps one too,
    for this node's own connections (to answer while Redis is unreachable and
    to restore Redis from).
    """

    def __init__(self) -> None:
        self._sids: dict[str, set[str]] = {}

    def add(self, user_id: str, sid: str) -> bool:
        """Count ``sid``; ``True`` when it is the user's first connection here."""
        sids = self._sids.setdefault(user_id, set())
        first = not sids
        sids.add(sid)
        return first

    def remove(self, user_id: str, sid: str) -> bool | None:
        """Uncount ``sid``: ``True`` when it was the user's last here, ``None`` when it was not counted."""
        sids = self._sids.get(user_id)
        if not sids or sid not in sids:
            return None
        sids.discard(sid)
        if sids:
            return False
        del self._sids[user_id]
        return True

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._sids

    def count(self, user_id: str) -> int:
        """How many connections ``user_id`` has here."""
        return len(self._sids.get(user_id, ()))

    def pairs(self) -> list[tuple[str, str]]:
        """Every ``(sid, user_id)`` counted here."""
        return [(sid, user_id) for user_id, sids in self._sids.items() for sid in sids]

    def __len__(self) -> int:
        """The number of connections counted."""
        return sum(len(sids) for sids in self._sids.values())

    def clear(self) -> None:
        self._sids.clear()


class LocalPresence:
    """Presence for one node: in-process connection sets."""

    def __init__(self) -> None:
        self._table = ConnectionTable()

    async def start(self, on_lost: OfflineCallback, on_found: OnlineCallback | None = None) -> None:
        return None

    async def stop(self) -> None:
        self._table.clear()

    async def connected(self, user_id: str, sid: str) -> bool:
        return self._table.add(user_id, sid)

    async def disconnected(self, user_id: str, sid: str) -> bool:
        return bool(self._table.remove(user_id, sid))

    async def online(self, user_ids: Iterable[str]) -> set[str]:
        return {u for u in user_ids if u in self._table}

    async def connection_count(self, user_id: str) -> int:
        return self._table.count(user_id)
