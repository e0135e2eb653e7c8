"""The storage interface and the plain records it returns.

Every backend (``sqlite/``, ``mongo/``) implements :class:`Store` and passes
the one contract suite in ``tests/storage``. Records are plain dataclasses:
no driver rows or documents ever leave ``storage/``. Ids are opaque strings
chosen by the backend; times are integer milliseconds (UTC). Records are
treated as immutable and hash by value; they are not declared frozen only
because frozen dataclasses cost five times as much to build, and a room list
builds thousands.

Errors: a backend raises :class:`~kallemny_sio.errors.Conflict` for a taken
username and :class:`~kallemny_sio.errors.Unavailable` when its database cannot
be reached; an id that cannot exist in the backend (a malformed id) is simply
not found.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Iterable, Sequence


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class UserRecord:
    id: str
    username: str
    display_name: str
    password_hash: str
    created_at: int
    last_seen: int | None = None


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class RoomRecord:
    id: str
    type: str  # "private" | "group"
    name: str | None
    is_public: bool
    created_by: str
    created_at: int
    last_activity_at: int


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class MessageRecord:
    id: str
    room_id: str
    sender_id: str
    sender_username: str
    content: str
    created_at: int
    client_message_id: str | None = None


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class ReadState:
    room_id: str
    user_id: str
    last_read_message_id: str | None
    read_at: int | None


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class RoomSummary:
    """A room as one member sees it in their room list."""

    room: RoomRecord
    member_ids: tuple[str, ...]
    last_message: MessageRecord | None
    unread_count: int
    last_read_message_id: str | None


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class MessagePage:
    messages: list[MessageRecord]  # oldest first
    has_more: bool


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class NewMessage:
    """What the core asks a store to keep."""

    room_id: str
    sender_id: str
    sender_username: str
    content: str
    created_at: int
    client_message_id: str | None = None


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class StoredMessage:
    """The outcome of :meth:`Store.add_message`: ``created`` is False for a resend."""

    message: MessageRecord
    created: bool


class Store(abc.ABC):
    """Users, rooms, memberships, messages and read state."""

    # -- lifecycle ---------------------------------------------------------

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, and create or migrate the schema and indexes (idempotent).

        Raises:
            Unavailable: the database cannot be reached.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Release every connection; safe to call twice."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Return when the database answers.

        Raises:
            Unavailable: it does not.
        """

    # -- users -------------------------------------------------------------

    @abc.abstractmethod
    async def create_user(self, username: str, display_name: str, password_hash: str, created_at: int) -> UserRecord:
        """Create a user.

        Raises:
            Conflict: the username is taken, compared case-insensitively.
        """

    @abc.abstractmethod
    async def get_user_by_username(self, username: str) -> UserRecord | None:
        """Find a user by username, case-insensitively."""

    @abc.abstractmethod
    async def get_users(self, user_ids: Iterable[str]) -> list[UserRecord]:
        """The users among ``user_ids`` that exist, in no particular order."""

    @abc.abstractmethod
    async def search_users(self, prefix: str, limit: int) -> list[UserRecord]:
        """Users whose username starts with ``prefix`` (case-insensitive), by username."""

    @abc.abstractmethod
    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace a user's password hash (rehash on login)."""

    @abc.abstractmethod
    async def set_last_seen(self, user_id: str, last_seen: int) -> None:
        """Record when the user's last connection closed."""

    # -- rooms and memberships --------------------------------------------

    @abc.abstractmethod
    async def create_group_room(
        self, created_by: str, name: str, is_public: bool, member_ids: Sequence[str], created_at: int
    ) -> RoomRecord:
        """Create a group room whose members are ``member_ids`` (the creator included by the caller)."""

    @abc.abstractmethod
    async def get_or_create_private_room(self, user_a: str, user_b: str, created_at: int) -> tuple[RoomRecord, bool]:
        """The one private room of the pair, created if missing; ``True`` when created now.

        Must be safe under concurrent calls for the same pair (one room, ever).
        """

    @abc.abstractmethod
    async def get_room(self, room_id: str) -> RoomRecord | None:
        """A room by id, or ``None``."""

    @abc.abstractmethod
    async def member_ids(self, room_id: str) -> list[str]:
        """The room's members' ids (empty for an unknown room)."""

    @abc.abstractmethod
    async def is_member(self, room_id: str, user_id: str) -> bool:
        """Whether ``user_id`` is a member of ``room_id``."""

    @abc.abstractmethod
    async def add_member(self, room_id: str, user_id: str, joined_at: int) -> bool:
        """Add a member; ``False`` if they already were one.

        A new member's read pointer starts at the room's latest message, so
        history from before they joined does not count as unread.
        """

    @abc.abstractmethod
    async def remove_member(self, room_id: str, user_id: str) -> bool:
        """End a membership; ``False`` if there was none."""

    @abc.abstractmethod
    async def room_ids_for_user(self, user_id: str) -> list[str]:
        """Ids of every room the user belongs to."""

    @abc.abstractmethod
    async def contact_ids(self, user_id: str) -> list[str]:
        """Ids of the other users who share at least one room with ``user_id``."""

    @abc.abstractmethod
    async def list_room_summaries(self, user_id: str) -> list[RoomSummary]:
        """The user's rooms, most recent activity (last message, else creation) first."""

    @abc.abstractmethod
    async def get_room_summary(self, room_id: str, user_id: str) -> RoomSummary | None:
        """One room as :meth:`list_room_summaries` would show it to ``user_id``."""

    # -- messages ----------------------------------------------------------

    @abc.abstractmethod
    async def add_message(self, message: NewMessage) -> StoredMessage:
        """Store a message durably before returning.

        Idempotent per (room, sender, client_message_id): a repeat returns the
        stored message with ``created=False`` (enforced by the database, not a
        read-then-write). Order is the order in which the store accepted
        messages. The sender's read pointer moves forward to the new message
        (one's own messages are never unread); the room's activity time moves.

        Raises:
            NotFound: the room does not exist.
        """

    @abc.abstractmethod
    async def list_messages(
        self, room_id: str, limit: int, before: str | None = None, after: str | None = None
    ) -> MessagePage | None:
        """A page of history, oldest first.

        No cursor: the latest ``limit``; ``before``: the ``limit`` just older;
        ``after``: the ``limit`` just newer. ``has_more`` says whether more exist
        beyond the page in the direction of travel (older for no cursor and
        ``before``, newer for ``after``). ``None`` when the cursor is not a
        message of this room.
        """

    @abc.abstractmethod
    async def mark_read(self, room_id: str, user_id: str, message_id: str | None, read_at: int) -> ReadState | None:
        """Move the user's read pointer forward, never back.

        ``message_id`` ``None`` means the room's latest message. Returns the
        pointer after the call (unchanged if the target was older), or ``None``
        when ``message_id`` is not a message of this room.
        """
