"""Who may do what: the one place these rules are written (contract sections 6 and 7).

Events, REST routes and the server API all reach them through the core
services. ``role`` is the actor's role in the room (``"owner"``, ``"admin"``,
``"member"``), or ``None`` where a room has no roles (private rooms) or the
actor is not a member. The server API acts without a role and skips these
checks (its callers are the host application's backend).
"""

from __future__ import annotations

from ..storage.base import MemberRecord, MessageRecord

MODERATOR_ROLES = frozenset({"owner", "admin"})
ROLES = ("owner", "admin", "member")


def may_edit(message: MessageRecord, actor_id: str) -> bool:
    """Only the sender edits a message (nobody edits a system message)."""
    return message.sender_id is not None and message.sender_id == actor_id


def may_delete(message: MessageRecord, actor_id: str, role: str | None) -> bool:
    """The sender deletes their message; an owner or admin of a group deletes any."""
    return (message.sender_id is not None and message.sender_id == actor_id) or role in MODERATOR_ROLES


def may_manage(role: str | None) -> bool:
    """Owners and admins change a group's settings, add members, mute and ban."""
    return role in MODERATOR_ROLES


def may_act_on(role: str | None, target_role: str | None) -> bool:
    """Whether an owner or admin may remove, mute or ban a member holding ``target_role``.

    Nobody acts on the owner, and an admin does not act on another admin.
    ``target_role`` is ``None`` for a user who is not a member (a ban ahead of time).
    """
    if role not in MODERATOR_ROLES or target_role == "owner":
        return False
    return not (role == "admin" and target_role == "admin")


def may_set_role(role: str | None) -> bool:
    """Only the owner gives roles (``"owner"`` itself hands the group over)."""
    return role == "owner"


def may_delete_room(role: str | None) -> bool:
    """Only the owner deletes a group."""
    return role == "owner"


def is_muted(member: MemberRecord, now: int) -> bool:
    """A muted member may not send, edit or react until ``muted_until`` passes."""
    return member.muted_until is not None and member.muted_until > now
