"""The chat rules: rooms, membership, typing, presence; messages in :mod:`.messages` (``ChatService.messages``).

Every REST route and every Socket.IO handler goes through one method here,
so each rule (only members read a room, sends are idempotent, read pointers
move forward, …) is written once. Methods return contract-shaped dicts.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from .clock import iso, now_ms
from ..errors import Forbidden, Invalid, NotFound
from ..schemas import CreateRoomRequest, RoomsQuery, UsersQuery
from ..storage.base import RoomMembers, RoomSummary, Store, UserRecord
from .views import room_view, user_view
from .accounts import Caller
from .delivery import Delivery
from .limits import Guard
from .membership import Membership
from .messages import MessageService
from .room_admin import RoomAdmin
from .safety import Safety
from .presence import Presence
from .typing_state import TypingTracker

log = logging.getLogger(__name__)


class ChatService:
    """One node's chat logic over a store, a delivery and a presence."""

    def __init__(self, store: Store, delivery: Delivery, presence: Presence, guard: Guard, typing_ttl_seconds: float,
                 cache_membership: bool = False) -> None:
        self._store = store
        self._guard = guard
        self._members = Membership(store, cached=cache_membership)
        self._delivery = delivery
        self._presence = presence
        self._typing = TypingTracker(typing_ttl_seconds, self._typing_expired)
        self.messages = MessageService(store, self._members, delivery, guard, self._roster_of, self._sent)
        self.admin = RoomAdmin(store, self._members, delivery, presence, self.room, self._left_typing)
        self.safety = Safety(store, self._members, presence, self._roster_of)

    async def start(self) -> None:
        """Start presence (and its detection of users lost with a dead node)."""
        await self._presence.start(self._users_lost, self._users_found)

    async def stop(self) -> None:
        """Stop timers and presence."""
        self._typing.close()
        await self._presence.stop()

    # -- membership, the one rule -----------------------------------------

    async def _roster_of(self, room_id: str, user_id: str) -> RoomMembers:
        """The room and its members (roles, mutes), provided ``user_id`` is one.

        Raises:
            NotFound: no such room.
            Forbidden: the room exists and the user is not a member.
        """
        roster = await self._members.roster(room_id)
        if roster is None:
            raise NotFound("roomId: no such room")
        if user_id not in roster.members:
            raise Forbidden("roomId: not a member of this room")
        return roster

    async def _members_of(self, room_id: str, user_id: str) -> tuple[str, ...]:
        """The room's members, provided ``user_id`` is one (see :meth:`_roster_of`)."""
        return (await self._roster_of(room_id, user_id)).ids

    # -- rooms ---------------------------------------------------------------

    async def list_rooms(self, user_id: str, query: RoomsQuery | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the caller's rooms, most recent activity first, and the cursor of the next page (or None).

        The cursor names the last room of the page and its activity time, so a
        room that moves to the top meanwhile is not shown twice on later pages.

        Raises:
            Invalid: the cursor is not one this server gave.
        """
        query = query or RoomsQuery()
        after = _cursor(query.cursor) if query.cursor else None
        summaries = await self._store.list_room_summaries(user_id, limit=query.limit + 1, after=after)
        page, more = summaries[:query.limit], len(summaries) > query.limit
        cursor = f"{page[-1].room.last_activity_at}.{page[-1].room.id}" if more and page else None
        return await self._room_views(page, user_id), cursor

    async def room(self, user_id: str, room_id: str) -> dict[str, Any]:
        """One room as the caller sees it (a member)."""
        summary = await self._store.get_room_summary(room_id, user_id)
        if summary is None:
            await self._members_of(room_id, user_id)  # raises the right error
            raise NotFound("roomId: no such room")
        return (await self._room_views([summary], user_id))[0]

    async def _room_views(self, summaries: list[RoomSummary], viewer_id: str) -> list[dict[str, Any]]:
        ids = {m for s in summaries for m in s.member_ids}
        users = {u.id: u for u in await self._store.get_users(ids)}
        online = await self._presence.online(ids)
        return [room_view(s, users, online, viewer_id) for s in summaries]

    async def create_room(self, user_id: str, req: CreateRoomRequest) -> tuple[dict[str, Any], bool]:
        """Create a room (a private room is unique per pair); returns ``(room, created)``.

        New rooms are announced with ``RoomCreated`` to every member's connections.

        Raises:
            Invalid: unknown member ids, or a private room with oneself.
        """
        if req.type == "group":  # a private room is one per pair: asking again must still find it
            await self._guard.before_room_creation(user_id)
        requested = list(dict.fromkeys(req.member_ids))
        known = {u.id for u in await self._store.get_users(requested)}
        unknown = [m for m in requested if m not in known]
        if unknown:
            raise Invalid(f"memberIds: unknown user id {unknown[0]!r}", details={"unknown": unknown})
        now = now_ms()
        if req.type == "private":
            if requested[0] == user_id:
                raise Invalid("memberIds: a private room needs another user, not yourself")
            if await self._store.blocked_between(user_id, requested[0]):
                raise Forbidden("memberIds: a block between you and this user stops a private room")
            room, created = await self._store.get_or_create_private_room(user_id, requested[0], now)
        else:
            members = list(dict.fromkeys([user_id, *requested]))
            room = await self._store.create_group_room(user_id, req.name or "", req.is_public, members, now)
            created = True
        # Even an existing private room may just have had a missing membership
        # repaired by the store: forget what is known of it either way.
        self._members.forget(room.id)
        view = await self.room(user_id, room.id)
        if created:
            await self._guard.room_created(user_id)
            # Each member gets the room as they see it (their own role, unread counts).
            for member in view["members"]:
                mine = view if member["id"] == user_id else await self.room(member["id"], room.id)
                await self._delivery.emit("RoomCreated", mine, [member["id"]])
        return view, created

    async def join_room(self, caller: Caller, room_id: str) -> dict[str, Any]:
        """Join a public group (or confirm membership of any room); returns the room.

        Raises:
            NotFound: no such room.
            Forbidden: not a member and the room is not a public group.
        """
        room = await self._store.get_room(room_id)
        if room is None:
            raise NotFound("roomId: no such room")
        if not await self._store.is_member(room_id, caller.user_id):
            if room.type != "group" or not room.is_public:
                raise Forbidden("roomId: this room is not public")
            if await self._store.is_banned(room_id, caller.user_id):
                raise Forbidden("roomId: you are banned from this room")
            async with self._members.changing(room_id):
                added = await self._store.add_member(room_id, caller.user_id, now_ms())
            if added:
                await self._announce_join(room_id, caller.user_id)
            elif not await self._store.is_member(room_id, caller.user_id):
                raise Forbidden("roomId: you are banned from this room")  # a ban landed meanwhile
        return await self.room(caller.user_id, room_id)

    async def _announce_join(self, room_id: str, user_id: str) -> None:
        users = await self._store.get_users([user_id])
        online = await self._presence.online([user_id])
        payload = {"roomId": room_id, "user": user_view(users[0], user_id in online)}
        await self._delivery.emit("UserJoinedRoom", payload, await self._members.members(room_id))

    async def leave_room(self, caller: Caller, room_id: str) -> None:
        """Leave a group: the same as removing oneself (contract section 7).

        Raises:
            NotFound: no such room.
            Forbidden: a private room, or not a member.
        """
        await self.admin.remove_member(caller.user_id, room_id, caller.user_id)

    # -- typing ------------------------------------------------------------

    async def set_typing(self, caller: Caller, sid: str, room_id: str, is_typing: bool) -> None:
        """Start, refresh or end the caller's typing state; other members hear of changes."""
        members = await self._members_of(room_id, caller.user_id)
        if is_typing:
            changed = self._typing.start(room_id, caller.user_id, sid)
        else:
            changed = self._typing.stop(room_id, caller.user_id)
        if changed:
            await self._emit_typing(room_id, caller, is_typing, members)

    async def _left_typing(self, room_id: str, user_id: str) -> None:
        """A user left a room: their typing state there ends."""
        if self._typing.stop(room_id, user_id):
            users = await self._store.get_users([user_id])
            if users:
                await self._emit_typing(room_id, Caller(user_id, users[0].username), False)

    async def _sent(self, caller: Caller, room_id: str, members: tuple[str, ...]) -> None:
        """A message was sent: it ends the sender's typing state."""
        if self._typing.stop(room_id, caller.user_id):
            await self._emit_typing(room_id, caller, False, members)

    async def _emit_typing(self, room_id: str, caller: Caller, is_typing: bool, members: Iterable[str] | None = None) -> None:
        if members is None:
            members = await self._members.members(room_id)
        payload = {"roomId": room_id, "userId": caller.user_id, "username": caller.username, "isTyping": is_typing}
        await self._delivery.emit("UserTyping", payload, [m for m in members if m != caller.user_id])

    async def _typing_expired(self, room_id: str, user_id: str) -> None:
        users = await self._store.get_users([user_id])
        if users:
            await self._emit_typing(room_id, Caller(user_id, users[0].username), False)

    # -- users who change or go (contract section 8) ---------------------------

    async def user_updated(self, user: UserRecord) -> None:
        """Tell the user's contacts (and the user's own connections) of a new name: ``UserUpdated``."""
        online = await self._presence.online([user.id])
        contacts = await self._store.contact_ids(user.id)
        await self._delivery.emit("UserUpdated", user_view(user, user.id in online), [*contacts, user.id])

    async def end_memberships(self, user_id: str) -> None:
        """End every membership of a user whose account goes (group rules apply: hand-over, empty group deleted)."""
        for room_id in await self._store.room_ids_for_user(user_id):
            roster = await self._members.roster(room_id)
            if roster is None:
                continue
            if roster.room.type == "group":
                await self.admin.remove_member(None, room_id, user_id)
                continue
            async with self._members.changing(room_id):
                removed = await self._store.remove_member(room_id, user_id)
            if removed:
                others = [m for m in roster.members if m != user_id]
                await self._delivery.emit("UserLeftRoom", {"roomId": room_id, "userId": user_id, "reason": "left"},
                                          others)

    # -- users and presence ------------------------------------------------

    async def list_users(self, query: UsersQuery) -> list[dict[str, Any]]:
        """Users by username prefix, with live presence."""
        users = await self._store.search_users(query.q or "", query.limit)
        online = await self._presence.online(u.id for u in users)
        return [user_view(u, u.id in online) for u in users]

    async def connection_count(self, user_id: str) -> int:
        """How many connections ``user_id`` has open, on every node."""
        return await self._presence.connection_count(user_id)

    async def connected(self, caller: Caller, sid: str) -> None:
        """Count a connection; the user's first anywhere announces ``UserOnline``."""
        if await self._presence.connected(caller.user_id, sid):
            users = await self._store.get_users([caller.user_id])
            last_seen = iso(users[0].last_seen) if users else None
            await self._announce_presence(caller, True, last_seen)

    async def disconnected(self, caller: Caller, sid: str) -> None:
        """Uncount a connection: clear its typing; the user's last anywhere announces ``UserOffline``."""
        for room_id, user_id in self._typing.drop_connection(sid):
            await self._emit_typing(room_id, caller, False)
        if await self._presence.disconnected(caller.user_id, sid):
            now = now_ms()
            await self._store.set_last_seen(caller.user_id, now)
            await self._announce_presence(caller, False, iso(now))

    async def _announce_presence(self, caller: Caller, online: bool, last_seen: str | None) -> None:
        payload = {"userId": caller.user_id, "username": caller.username, "isOnline": online, "lastSeen": last_seen}
        contacts = await self._store.contact_ids(caller.user_id)
        if contacts:
            await self._delivery.emit("UserOnline" if online else "UserOffline", payload, contacts)

    async def _users_lost(self, user_ids: list[str]) -> None:
        """Users whose last connection was on a node that died: announce them offline."""
        now = now_ms()
        for user in await self._store.get_users(user_ids):
            await self._store.set_last_seen(user.id, now)
            await self._announce_presence(Caller(user.id, user.username), False, iso(now))

    async def _users_found(self, user_ids: list[str]) -> None:
        """Users online again once shared presence was restored after an outage: announce them online."""
        for user in await self._store.get_users(user_ids):
            await self._announce_presence(Caller(user.id, user.username), True, iso(user.last_seen))


def _cursor(cursor: str) -> tuple[int, str]:
    """``"<activity ms>.<room id>"`` → ``(activity, room id)``: the page after that room.

    Raises:
        Invalid: not a cursor.
    """
    activity, _, room_id = cursor.partition(".")
    if not activity.isdigit() or not room_id or len(activity) > 18:
        raise Invalid("cursor: not a cursor this server gave (use the X-Next-Cursor header)")
    return int(activity), room_id
