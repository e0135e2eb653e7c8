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
from typing import Any, Iterable, Sequence


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class UserRecord:
    id: str
    username: str
    display_name: str
    password_hash: str  # "" for a user of the host application (no password here)
    created_at: int
    last_seen: int | None = None
    external_id: str | None = None  # the host application's user id (contract section 8)
    token_generation: int = 0  # tokens minted under an older generation are refused
    deleted_at: int | None = None  # a deleted account: kept for its messages, refused everywhere


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class RoomRecord:
    id: str
    type: str  # "private" | "group"
    name: str | None
    is_public: bool
    created_by: str
    created_at: int
    last_activity_at: int
    last_change_seq: int = 0  # the room's latest change position (contract section 6)
    topic: str | None = None
    custom_data: str | None = None  # JSON text of an object, as given


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class MemberRecord:
    """One membership: the member's role (``"owner"``, ``"admin"``, ``"member"``) and mute."""

    user_id: str
    role: str
    muted_until: int | None
    joined_at: int


@dataclasses.dataclass(slots=True)
class RoomMembers:
    """A room and its members, in joining order (the oldest membership first).

    ``blocked`` is true for a private room whose two users have a block
    between them, either way.
    """

    room: RoomRecord
    members: dict[str, MemberRecord]
    blocked: bool = False
    ids: tuple[str, ...] = dataclasses.field(init=False, compare=False, repr=False)  # the members' ids, in order

    def __post_init__(self) -> None:
        self.ids = tuple(self.members)


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class ReportRecord:
    """A member's report of a message, kept for the operator.

    ``message`` is the JSON text of the Message as it was when reported.
    """

    id: str
    room_id: str
    message_id: str
    reporter_id: str
    reason: str
    created_at: int
    message: str


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class Reaction:
    """How many users reacted to a message with one emoji."""

    emoji: str
    count: int


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class MessageRecord:
    """A message in its latest state.

    ``custom_data`` is the JSON text of an object, kept exactly as given;
    ``reactions`` are in the order each emoji was first used; ``change_seq``
    is the room's change position of the message's latest change (creation,
    edit, deletion or reaction). A deleted message is a tombstone: empty
    content, no custom data, reactions or mentions, ``deleted_at`` set.
    """

    id: str
    room_id: str
    sender_id: str | None  # None for a system message
    sender_username: str | None
    content: str
    created_at: int
    client_message_id: str | None = None
    type: str = "user"  # "user" | "system"
    reply_to_id: str | None = None
    mentioned_user_ids: tuple[str, ...] = ()
    custom_data: str | None = None
    reactions: tuple[Reaction, ...] = ()
    edited_at: int | None = None
    deleted_at: int | None = None
    updated_at: int | None = None  # the latest change; the creation time at first
    change_seq: int = 0


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
    unread_mention_count: int = 0  # unread messages that mention the member
    members: tuple[MemberRecord, ...] = ()  # in the order of member_ids


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class MessagePage:
    messages: list[MessageRecord]  # oldest first
    has_more: bool


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class ChangePage:
    """A page of a room's change feed: messages in ``change_seq`` order, each in its latest state.

    ``covered`` is the position the page reaches (pass it as ``after`` for the
    next page); when ``has_more`` is false it is the room's latest position.
    """

    messages: list[MessageRecord]
    has_more: bool
    covered: int


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class MessageChange:
    """The outcome of a change to a stored message.

    ``message`` is the message after the call (``None``: no such message in
    this room); ``changed`` says whether the call changed it (and took a new
    change position); ``refused`` names why the store refused the change:
    ``"deleted"`` (the message is a tombstone) or ``"too_many_emoji"``.
    """

    message: MessageRecord | None
    changed: bool = False
    refused: str | None = None


@dataclasses.dataclass(slots=True, unsafe_hash=True)
class NewMessage:
    """What the core asks a store to keep (``sender_id`` None: a system message, ``type`` "system")."""

    room_id: str
    sender_id: str | None
    sender_username: str
    content: str
    created_at: int
    client_message_id: str | None = None
    type: str = "user"
    reply_to_id: str | None = None  # checked by the caller: a message of the same room
    mentioned_user_ids: tuple[str, ...] = ()  # checked by the caller: members of the room
    custom_data: str | None = None  # JSON text of an object


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
        """Create a group room whose members are ``member_ids`` (the creator included by the caller).

        The creator is its owner, everyone else a member.
        """

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
        history from before they joined does not count as unread. A user
        banned from the room is not added (``False``), in the same write.
        """

    @abc.abstractmethod
    async def remove_member(self, room_id: str, user_id: str) -> bool:
        """End a membership (its read pointer and unread mentions with it); ``False`` if there was none.

        In the same write: an owner who leaves a group hands ownership to the
        admin who has been a member the longest, else to the member who has
        been one the longest; a group whose last member leaves is deleted.
        """

    @abc.abstractmethod
    async def room_ids_for_user(self, user_id: str) -> list[str]:
        """Ids of every room the user belongs to."""

    @abc.abstractmethod
    async def contact_ids(self, user_id: str) -> list[str]:
        """Ids of the other users who share at least one room with ``user_id``."""

    @abc.abstractmethod
    async def list_room_summaries(
        self, user_id: str, limit: int | None = None, after: tuple[int, str] | None = None
    ) -> list[RoomSummary]:
        """The user's rooms, most recent activity (last message, else creation) first, ties by room id descending.

        ``limit``: at most that many; ``after``: only rooms after the one
        with this ``(last_activity_at, room id)`` in that order (a page
        cursor). Only the page's rooms are read in full.
        """

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
        The message takes the room's next change position, in the same write.
        Each mentioned member other than the sender has one more unread
        mention until their read pointer reaches the message.

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
        when ``message_id`` is not a message of this room. Unread mentions up
        to the pointer are read with it.
        """

    @abc.abstractmethod
    async def get_message(self, room_id: str, message_id: str) -> MessageRecord | None:
        """A message of ``room_id`` in its latest state, or ``None`` (unknown, or of another room)."""

    @abc.abstractmethod
    async def edit_message(
        self, room_id: str, message_id: str, content: str | None, custom_data: str | None, set_custom_data: bool,
        at: int,
    ) -> MessageChange:
        """Replace the content (unless ``None``) and the custom data (when ``set_custom_data``).

        A change sets ``edited_at`` and ``updated_at`` to ``at`` and takes the
        room's next change position, in one write. An edit that changes nothing
        is no change. A tombstone is refused (``refused="deleted"``).
        """

    @abc.abstractmethod
    async def delete_message(self, room_id: str, message_id: str, at: int) -> MessageChange:
        """Make the message a tombstone (content ``""``, no custom data, reactions or mentions).

        Its unread mentions go with it. Deleting a tombstone is no change.
        """

    @abc.abstractmethod
    async def add_reaction(
        self, room_id: str, message_id: str, user_id: str, emoji: str, at: int, max_emoji: int
    ) -> MessageChange:
        """Record ``user_id``'s reaction ``emoji`` (one per user and emoji).

        Adding it again is no change. A new emoji beyond ``max_emoji`` distinct
        ones is refused (``"too_many_emoji"``), as is any reaction to a
        tombstone (``"deleted"``).
        """

    @abc.abstractmethod
    async def remove_reaction(self, room_id: str, message_id: str, user_id: str, emoji: str, at: int) -> MessageChange:
        """Withdraw ``user_id``'s reaction ``emoji``; removing what is not there is no change."""

    @abc.abstractmethod
    async def list_changes(self, room_id: str, after: int, limit: int) -> ChangePage:
        """The room's change feed: messages whose latest change is after position ``after``.

        At most ``limit`` messages, each once, in its latest state, in
        ``change_seq`` order. A position becomes visible only once every lower
        one is, even with concurrent writers on several nodes, so a reader
        that continues from ``covered`` never misses a change. An unknown
        room gives an empty page.
        """

    # -- rooms and members after they are created (contract section 7) -------

    @abc.abstractmethod
    async def room_members(self, room_id: str) -> RoomMembers | None:
        """The room with its members' roles and mutes, or ``None`` for an unknown room."""

    @abc.abstractmethod
    async def update_room(self, room_id: str, fields: dict[str, Any]) -> RoomRecord | None:
        """Set some of ``name``, ``topic``, ``is_public``, ``custom_data`` (JSON text or None); ``None``: no such room."""

    @abc.abstractmethod
    async def add_members(self, room_id: str, user_ids: Sequence[str], joined_at: int) -> list[str]:
        """Add members (role ``"member"``) in one write; the ids actually added, in the order given.

        Existing members and users banned from the room are skipped. Each new
        member's read pointer starts at the room's latest message.
        """

    @abc.abstractmethod
    async def set_member(
        self, room_id: str, user_id: str, role: str | None = None, muted_until: int | None = None,
        set_muted_until: bool = False,
    ) -> MemberRecord | None:
        """Change a member's role and/or mute; ``None``: not a member.

        ``role="owner"`` hands the group over in one write: the previous owner
        becomes an admin.
        """

    @abc.abstractmethod
    async def ban(self, room_id: str, user_id: str, banned_by: str, at: int) -> bool:
        """Ban a user, ending their membership as :meth:`remove_member` does, in one write.

        Returns whether a membership ended (the announcement follows what the
        write did, not an earlier read: a join racing the ban cannot slip by).
        """

    @abc.abstractmethod
    async def unban(self, room_id: str, user_id: str) -> bool:
        """Lift a ban; ``False`` if there was none."""

    @abc.abstractmethod
    async def is_banned(self, room_id: str, user_id: str) -> bool:
        """Whether ``user_id`` is banned from ``room_id``."""

    @abc.abstractmethod
    async def delete_room(self, room_id: str) -> bool:
        """Delete a room with its memberships, messages, reactions, mentions and bans; ``False`` if unknown."""

    @abc.abstractmethod
    async def set_block(self, blocker_id: str, blocked_id: str, blocking: bool, at: int) -> None:
        """Start (``blocking``) or end ``blocker_id``'s block of ``blocked_id`` (idempotent)."""

    @abc.abstractmethod
    async def blocked_ids(self, blocker_id: str) -> list[str]:
        """The users ``blocker_id`` has blocked, oldest block first."""

    @abc.abstractmethod
    async def blocked_between(self, user_a: str, user_b: str) -> bool:
        """Whether either user has blocked the other."""

    @abc.abstractmethod
    async def add_report(
        self, room_id: str, message_id: str, reporter_id: str, reason: str, message: str, at: int
    ) -> str:
        """Keep a report (``message``: the reported Message's JSON text); returns its id."""

    @abc.abstractmethod
    async def list_reports(self, after: str | None, limit: int) -> tuple[list[ReportRecord], bool]:
        """Reports in the order they were made, after report id ``after``; and whether more follow."""

    # -- the host application's users, token lifecycle (contract section 8) --

    @abc.abstractmethod
    async def get_user_by_external_id(self, external_id: str) -> UserRecord | None:
        """The (not deleted) user the host application knows as ``external_id``."""

    @abc.abstractmethod
    async def external_id_deleted_at(self, external_id: str) -> int | None:
        """When the latest deleted account with this external id was deleted (ms), or ``None``."""

    @abc.abstractmethod
    async def create_external_user(
        self, external_id: str, username: str, display_name: str, created_at: int
    ) -> UserRecord:
        """Create a user of the host application (no password).

        Raises:
            Conflict: the username is taken (any case), or the external id is (a concurrent creation).
        """

    @abc.abstractmethod
    async def update_user(
        self, user_id: str, display_name: str | None = None, username: str | None = None
    ) -> UserRecord | None:
        """Change a user's display name and/or username; ``None``: no such user.

        Raises:
            Conflict: the username is taken by another user (any case).
        """

    @abc.abstractmethod
    async def bump_token_generation(self, user_id: str, password_hash: str | None = None) -> int:
        """Refuse every token minted so far (optionally with a new password hash, in the same write); the new generation."""

    @abc.abstractmethod
    async def delete_user(self, user_id: str, at: int) -> bool:
        """Mark a user deleted: its username is freed, its tokens refused; messages stay.

        The external id is freed for a new account (see :meth:`external_id_deleted_at`).

        Memberships are ended by the caller (each with the room rules of :meth:`remove_member`).
        """

    @abc.abstractmethod
    async def revoke_token(self, token_id: str, expires_at: int) -> None:
        """Remember a revoked token id until its expiry (ms)."""

    @abc.abstractmethod
    async def revoked_tokens(self, now: int) -> list[tuple[str, int]]:
        """The revoked token ids not yet expired at ``now``, with their expiry."""
