"""Users safe from each other: blocks and reports (contract section 7).

A block stands between two users: while either has blocked the other,
neither can send in their private room, and neither can open one with the
other (enforced where messages are sent and rooms created). Group rooms are
unaffected; clients hide what the caller blocked. Reports keep the message
as it was when reported, for the operator (the server API lists them).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import orjson

from ..errors import Invalid, NotFound
from ..storage.base import RoomMembers, Store
from .clock import iso, now_ms
from .membership import Membership
from .presence import Presence
from .views import message_view, user_view


class Safety:
    """Blocks and reports."""

    def __init__(self, store: Store, members: Membership, presence: Presence,
                 roster_of: Callable[[str, str], Awaitable[RoomMembers]]) -> None:
        self._store = store
        self._members = members
        self._presence = presence
        self._roster_of = roster_of

    async def set_block(self, user_id: str, target_id: str, blocking: bool) -> None:
        """Block or unblock ``target_id`` (idempotent).

        Raises:
            Invalid: oneself.
            NotFound: no such user.
        """
        if target_id == user_id:
            raise Invalid("userId: you cannot block yourself")
        if not await self._store.get_users([target_id]):
            raise NotFound("userId: no such user")
        await self._store.set_block(user_id, target_id, blocking, now_ms())
        self._members.forget_all()  # a private room's cached "blocked" flag may have changed

    async def blocked(self, user_id: str) -> list[dict[str, Any]]:
        """The users the caller has blocked, oldest block first."""
        ids = await self._store.blocked_ids(user_id)
        users = {u.id: u for u in await self._store.get_users(ids)}
        online = await self._presence.online(ids)
        return [user_view(users[i], i in online) for i in ids if i in users]

    async def report(self, user_id: str, room_id: str, message_id: str, reason: str) -> dict[str, Any]:
        """Keep a member's report of a message, with the message as it is now."""
        await self._roster_of(room_id, user_id)
        message = await self._store.get_message(room_id, message_id)
        if message is None:
            raise NotFound("messageId: no such message in this room")
        snapshot = orjson.dumps(message_view(message)).decode()
        return {"id": await self._store.add_report(room_id, message_id, user_id, reason, snapshot, now_ms())}

    async def reports(self, after: str | None, limit: int) -> dict[str, Any]:
        """Reports for the operator, oldest first (the server API)."""
        found, more = await self._store.list_reports(after, limit)
        return {"reports": [{"id": r.id, "roomId": r.room_id, "messageId": r.message_id, "reporterId": r.reporter_id,
                             "reason": r.reason, "createdAt": iso(r.created_at), "message": orjson.loads(r.message)}
                            for r in found], "hasMore": more}
