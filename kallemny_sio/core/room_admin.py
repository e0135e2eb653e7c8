"""Managing a group after it is created: settings, members, roles, mutes, bans, deletion (contract section 7).

Who may do what is decided in :mod:`.permissions`; this module applies it,
makes the change in one store write, and tells the right connections:

- delivery follows the store's membership on every emit (per-user channels),
  so an added member receives the room's events from the next emit on, and a
  removed one stops before this returns, on every node (the single-node
  members cache is bypassed while the write runs and forgotten after it);
- the added get ``AddedToRoom`` (the room as they see it), the members
  ``UserJoinedRoom``; the removed get ``RemovedFromRoom``, the members
  ``UserLeftRoom``; roles and mutes ``MemberUpdated``; settings
  ``RoomUpdated``; deletion ``RoomDeleted``.

``actor`` is the acting user's id, or ``None`` for the server API (no role
checks: the host application's backend decides).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ..errors import Forbidden, Invalid, NotFound
from ..schemas import UpdateMemberRequest, UpdateRoomRequest, custom_data_text
from ..storage.base import MemberRecord, RoomMembers, Store
from .clock import iso, now_ms
from .delivery import Delivery
from .membership import Membership
from .permissions import may_act_on, may_delete_room, may_manage, may_set_role
from .presence import Presence
from .views import member_view, user_view

RoomView = Callable[[str, str], Awaitable[dict[str, Any]]]


class RoomAdmin:
    """Section 7's operations over the store, the members cache and delivery."""

    def __init__(self, store: Store, members: Membership, delivery: Delivery, presence: Presence,
                 room_view: RoomView, left_typing: Callable[[str, str], Awaitable[None]]) -> None:
        """
        Args:
            room_view: ``(user_id, room_id)`` → the Room as that member sees it.
            left_typing: ``(room_id, user_id)``: end the user's typing state in a room they left.
        """
        self._store = store
        self._members = members
        self._delivery = delivery
        self._presence = presence
        self._room_view = room_view
        self._left_typing = left_typing

    # -- the group itself ----------------------------------------------------------

    async def update_room(self, actor: str | None, room_id: str, req: UpdateRoomRequest) -> dict[str, Any]:
        """Change name, topic, visibility or custom data; members get ``RoomUpdated``."""
        roster = await self._group(room_id, actor, may_manage, "only an owner or admin may change the room")
        fields: dict[str, Any] = {}
        for name in req.model_fields_set & {"name", "topic", "is_public", "custom_data"}:
            value = getattr(req, name)
            fields[name] = custom_data_text(value) if name == "custom_data" else value
        if fields:
            await self._store.update_room(room_id, fields)
            self._members.forget(room_id)
        view = await self._room_view(actor or _any_member(roster), room_id)
        if fields:
            await self._delivery.emit("RoomUpdated", view, roster.members)
        return view

    async def delete_room(self, actor: str | None, room_id: str) -> None:
        """Delete a group and its history; members get ``RoomDeleted``."""
        roster = await self._group(room_id, actor, may_delete_room, "only the owner may delete the room")
        async with self._members.changing(room_id):
            deleted = await self._store.delete_room(room_id)
        if deleted:
            await self._delivery.emit("RoomDeleted", {"roomId": room_id}, roster.members)

    # -- members ---------------------------------------------------------------------

    async def add_members(self, actor: str | None, room_id: str, user_ids: list[str]) -> dict[str, Any]:
        """Add users to a group, all or none; each new member gets ``AddedToRoom``, the others ``UserJoinedRoom``.

        Raises:
            Invalid: an unknown user id (nothing is added).
            Forbidden: a banned user (nothing is added), or the actor may not add.
        """
        roster = await self._group(room_id, actor, may_manage, "only an owner or admin may add members")
        wanted = [u for u in dict.fromkeys(user_ids) if u not in roster.members]
        users = {u.id: u for u in await self._store.get_users(wanted)}
        unknown = [u for u in wanted if u not in users]
        if unknown:
            raise Invalid(f"userIds: unknown user id {unknown[0]!r}", details={"unknown": unknown})
        for user_id in wanted:
            if await self._store.is_banned(room_id, user_id):
                raise Forbidden(f"userIds: user {user_id!r} is banned from this room (lift the ban first)")
        async with self._members.changing(room_id):
            added = await self._store.add_members(room_id, wanted, now_ms())
        if added:
            online = await self._presence.online(added)
            for user_id in added:
                await self._delivery.emit("AddedToRoom", await self._room_view(user_id, room_id), [user_id])
            for user_id in added:
                payload = {"roomId": room_id, "user": user_view(users[user_id], user_id in online), "addedBy": actor}
                await self._delivery.emit("UserJoinedRoom", payload, roster.members)
        return await self._room_view(actor or _any_member(roster, added), room_id)

    async def remove_member(self, actor: str | None, room_id: str, user_id: str) -> None:
        """Remove a member (``"removed"``), or leave (``"left"``, when ``actor`` is the member).

        Raises:
            Forbidden: a private room, or the actor may not remove that member.
            NotFound: no such room, or the user is not a member.
        """
        leaving = actor == user_id
        roster = await self._room(room_id, actor)
        if roster.room.type != "group":
            raise Forbidden("roomId: a private room cannot be left and has no members to remove")
        target = roster.members.get(user_id)
        if target is None:
            raise NotFound("userId: not a member of this room")
        if actor is not None and not leaving and not may_act_on(_role(roster, actor), target.role):
            raise Forbidden("userId: you may not remove this member")
        async with self._members.changing(room_id):
            removed = await self._store.remove_member(room_id, user_id)
        if removed:
            await self._announce_departure(roster, user_id, "left" if leaving else "removed")

    async def ban(self, actor: str | None, room_id: str, user_id: str) -> None:
        """Ban a user (a member is removed with reason ``"banned"``); they cannot join or be added until unbanned."""
        roster = await self._group(room_id, actor, may_manage, "only an owner or admin may ban")
        target = roster.members.get(user_id)
        if actor is not None and (user_id == actor or not may_act_on(_role(roster, actor), target and target.role)):
            raise Forbidden("userId: you may not ban this user")
        if not await self._store.get_users([user_id]):
            raise NotFound("userId: no such user")
        async with self._members.changing(room_id):
            removed = await self._store.ban(room_id, user_id, actor or "", now_ms())
        if removed:  # what the write did: a member who joined after our read is still told
            await self._announce_departure(roster, user_id, "banned")

    async def unban(self, actor: str | None, room_id: str, user_id: str) -> None:
        """Lift a ban (idempotent for a user who was not banned).

        Raises:
            NotFound: no such user.
        """
        await self._group(room_id, actor, may_manage, "only an owner or admin may lift a ban")
        if not await self._store.get_users([user_id]):
            raise NotFound("userId: no such user")
        await self._store.unban(room_id, user_id)

    async def set_member(self, actor: str | None, room_id: str, user_id: str,
                         req: UpdateMemberRequest) -> dict[str, Any]:
        """Change a member's role (owner only; ``"owner"`` hands the group over) or mute (owner, admin).

        Members get ``MemberUpdated`` for every member whose role or mute changed.
        """
        roster = await self._group(room_id, actor, may_manage, "only an owner or admin may change members")
        target = roster.members.get(user_id)
        if target is None:
            raise NotFound("userId: not a member of this room")
        role = _role(roster, actor) if actor is not None else None
        if actor is not None:
            if req.role is not None and req.role != target.role and not may_set_role(role):
                raise Forbidden("role: only the owner gives roles")
            if req.sets_muted_until and not may_act_on(role, target.role):
                raise Forbidden("mutedUntil: you may not mute this member")
        if req.role is not None and target.role == "owner" and req.role != "owner":
            raise Invalid("role: the owner hands the group over by giving \"owner\" to another member")
        muted = _ms(req.muted_until) if req.sets_muted_until else None
        async with self._members.changing(room_id):
            updated = await self._store.set_member(room_id, user_id, req.role, muted, req.sets_muted_until)
        if updated is None:
            raise NotFound("userId: not a member of this room")
        after = await self._members.roster(room_id)
        changed = _changed_members(roster, after)
        for member in changed:
            await self._delivery.emit("MemberUpdated", _member_event(room_id, member), after.members if after else ())
        users = await self._store.get_users([user_id])
        online = await self._presence.online([user_id])
        return member_view(users[0], user_id in online, updated.role, updated.muted_until)

    # -- helpers ---------------------------------------------------------------------------

    async def _room(self, room_id: str, actor: str | None) -> RoomMembers:
        roster = await self._members.roster(room_id)
        if roster is None:
            raise NotFound("roomId: no such room")
        if actor is not None and actor not in roster.members:
            raise Forbidden("roomId: not a member of this room")
        return roster

    async def _group(self, room_id: str, actor: str | None, rule: Callable[[str | None], bool],
                     refusal: str) -> RoomMembers:
        """The group's roster, once ``rule`` allowed the actor's role (the server API always may)."""
        roster = await self._room(room_id, actor)
        if roster.room.type != "group":
            raise Forbidden("roomId: a private room has no management")
        if actor is not None and not rule(_role(roster, actor)):
            raise Forbidden(f"roomId: {refusal}")
        return roster

    async def _announce_departure(self, before: RoomMembers, user_id: str, reason: str) -> None:
        """Tell the one who left and those who stayed; announce an heir if the owner left."""
        room_id = before.room.id
        await self._left_typing(room_id, user_id)
        await self._delivery.emit("RemovedFromRoom", {"roomId": room_id, "reason": reason}, [user_id])
        after = await self._members.roster(room_id)
        if after is None or not after.members:
            return
        await self._delivery.emit("UserLeftRoom", {"roomId": room_id, "userId": user_id, "reason": reason},
                                  after.members)
        for member in _changed_members(before, after):
            await self._delivery.emit("MemberUpdated", _member_event(room_id, member), after.members)


def _role(roster: RoomMembers, user_id: str | None) -> str | None:
    member = roster.members.get(user_id) if user_id is not None else None
    return member.role if member is not None else None


def _any_member(roster: RoomMembers, added: list[str] | None = None) -> str:
    """Whose view the server API's answer shows (it has no user of its own): the owner's, else anyone's."""
    for member in roster.members.values():
        if member.role == "owner":
            return member.user_id
    return next(iter(roster.members), (added or [""])[0])


def _changed_members(before: RoomMembers, after: RoomMembers | None) -> list[MemberRecord]:
    """Members of ``after`` whose role or mute differs from ``before``."""
    if after is None:
        return []
    changed = []
    for user_id, member in after.members.items():
        old = before.members.get(user_id)
        if old is not None and (old.role, old.muted_until) != (member.role, member.muted_until):
            changed.append(member)
    return changed


def _member_event(room_id: str, member: MemberRecord) -> dict[str, Any]:
    return {"roomId": room_id, "userId": member.user_id, "role": member.role, "mutedUntil": iso(member.muted_until)}


def _ms(when: Any) -> int | None:
    """A parsed ``mutedUntil`` (an aware datetime or None) in epoch milliseconds."""
    return None if when is None else int(when.timestamp() * 1000)
