"""Who may do what to a message: the one place these rules are written.

Events and REST routes alike reach them through
:class:`~kallemny_sio.core.messages.MessageService`. ``role`` is the actor's
role in the room (``"owner"``, ``"admin"``, ``"member"``), or ``None`` where a
room has no roles (private rooms).
"""

from __future__ import annotations

from ..storage.base import MessageRecord

MODERATOR_ROLES = frozenset({"owner", "admin"})


def may_edit(message: MessageRecord, actor_id: str) -> bool:
    """Only the sender edits a message (nobody edits a system message)."""
    return message.sender_id is not None and message.sender_id == actor_id


def may_delete(message: MessageRecord, actor_id: str, role: str | None) -> bool:
    """The sender deletes their message; an owner or admin of a group deletes any."""
    return (message.sender_id is not None and message.sender_id == actor_id) or role in MODERATOR_ROLES
