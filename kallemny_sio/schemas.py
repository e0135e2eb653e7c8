"""Declared shapes: request bodies, queries, event payloads and responses.

Pydantic v2 models, declared once: the edges validate with them (strictly, so
``{"$gt": ""}`` is never a string and ``"1"`` never a number) and the OpenAPI
document is generated from them. Pydantic was chosen over msgspec because its
JSON Schema output (aliases, constraints, ``$defs``) maps directly onto
OpenAPI 3.1 and its error locations name the offending field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import annotated_types
import orjson
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema
from pydantic_core import PydanticCustomError

from .errors import Invalid, validation_error

USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"
MAX_CONTENT = 4000
NOT_BLANK = r"\S"  # after trimming, something is left (stated in the document, checked by the length)
MAX_MEMBER_IDS = 100
MAX_ROOMS_PAGE = 500
MAX_MENTIONS = 50
MAX_CUSTOM_DATA_BYTES = 4096
MAX_EMOJI_LENGTH = 32
MAX_DISTINCT_EMOJI = 50  # per message
MAX_CHANGES_PAGE = 500
MAX_TOPIC = 500

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Username = Annotated[str, StringConstraints(min_length=3, max_length=32, pattern=USERNAME_PATTERN)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
# The document's patterns are ECMA-262 regular expressions, so its "\S" is any
# character outside JavaScript's whitespace, which is neither Python's (U+0085,
# U+001C-U+001F) nor pydantic's regex engine's (U+0085, but not U+FEFF). Text is
# trimmed and checked with JavaScript's set, so the server and the document agree
# on what is blank. The length limits count the trimmed text (contract section 3).
JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"


def _not_blank(max_length: int, trim: bool) -> AfterValidator:
    def check(value: str) -> str:
        text = value.strip(JS_WHITESPACE)
        if not text:
            raise PydanticCustomError("string_too_short", "String should have at least 1 non-blank character")
        if not trim:
            text = value
        if len(text) > max_length:
            raise PydanticCustomError("string_too_long", "String should have at most {max_length} characters",
                                      {"max_length": max_length})
        return text

    return AfterValidator(check)


def text(max_length: int, trim: bool = True) -> Any:
    """A string of 1 to ``max_length`` characters that is not only whitespace (trimmed when ``trim``)."""
    return Annotated[str, _not_blank(max_length, trim),
                     WithJsonSchema({"type": "string", "minLength": 1, "maxLength": max_length, "pattern": NOT_BLANK})]


DisplayName = text(64)
RoomName = text(100)
Content = text(MAX_CONTENT)
ClientMessageId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Emoji = text(MAX_EMOJI_LENGTH, trim=False)


def _custom_data_size(value: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(orjson.dumps(value))
    except (orjson.JSONEncodeError, TypeError):  # e.g. an integer beyond 64 bits
        raise ValueError("customData: not storable as JSON (numbers must fit in 64 bits)") from None
    if size > MAX_CUSTOM_DATA_BYTES:
        raise ValueError(f"customData: {size} bytes serialized, at most {MAX_CUSTOM_DATA_BYTES}")
    return value


CustomData = Annotated[
    dict[str, Any], AfterValidator(_custom_data_size),
    Field(description=f"a JSON object of at most {MAX_CUSTOM_DATA_BYTES} bytes serialized, stored and returned as given"),
]


def custom_data_text(value: dict[str, Any] | None) -> str | None:
    """``customData`` as the JSON text the store keeps (compact, key order as given)."""
    return None if value is None else orjson.dumps(value).decode()


class Model(BaseModel):
    """Base of every declared shape: camelCase on the wire, unknown keys ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


# -- REST requests -----------------------------------------------------------


class RegisterRequest(Model):
    username: Username
    password: Password
    display_name: DisplayName | None = Field(default=None, alias="displayName")


class LoginRequest(Model):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


_CREATE_ROOM_RULES = {
    "description": "private: exactly one other member id, no name, never public; group: a name is required",
    "oneOf": [
        {"properties": {"type": {"const": "private"}, "memberIds": {"minItems": 1, "maxItems": 1},
                        "isPublic": {"const": False}},
         "required": ["type", "memberIds"], "not": {"required": ["name"]}},
        {"properties": {"type": {"const": "group"}, "name": {"type": "string"}}, "required": ["type", "name"]},
    ],
}


class CreateRoomRequest(Model):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True, json_schema_extra=_CREATE_ROOM_RULES)

    type: Literal["private", "group"]
    name: RoomName | None = None
    member_ids: list[Id] = Field(default_factory=list, alias="memberIds", max_length=MAX_MEMBER_IDS)
    is_public: bool = Field(default=False, alias="isPublic")

    @model_validator(mode="after")
    def _shape_per_type(self) -> "CreateRoomRequest":
        if self.type == "private":
            if len(self.member_ids) != 1:
                raise ValueError("memberIds: a private room takes exactly one other member id")
            if self.name is not None:
                raise ValueError("name: a private room has no name")
            if self.is_public:
                raise ValueError("isPublic: a private room is never public")
        elif self.name is None:
            raise ValueError("name: a group room needs a name")
        return self


class HistoryQuery(Model):
    limit: int = Field(default=50, ge=1, le=100)
    before: Id | None = None
    after: Id | None = None

    @model_validator(mode="after")
    def _one_cursor(self) -> "HistoryQuery":
        if self.before is not None and self.after is not None:
            raise ValueError("before: give before or after, not both")
        return self


class RoomsQuery(Model):
    limit: int = Field(default=100, ge=1, le=MAX_ROOMS_PAGE)
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="the X-Next-Cursor header of the previous page (any other value is 400)")


class UsersQuery(Model):
    q: Annotated[str, StringConstraints(max_length=32)] | None = None
    limit: int = Field(default=100, ge=1, le=1000)


# -- Socket.IO event payloads -----------------------------------------------


class SendMessagePayload(Model):
    room_id: Id = Field(alias="roomId")
    content: Content
    client_message_id: ClientMessageId | None = Field(default=None, alias="clientMessageId")
    reply_to_id: Id | None = Field(default=None, alias="replyToId", description="a message of the same room")
    mentioned_user_ids: list[Id] = Field(default_factory=list, alias="mentionedUserIds", max_length=MAX_MENTIONS,
                                         description="members of the room")
    custom_data: CustomData | None = Field(default=None, alias="customData")


class MessageRefPayload(Model):
    room_id: Id = Field(alias="roomId")
    message_id: Id = Field(alias="messageId")


def _at_least_one(required: tuple[str, ...], *not_null: str) -> Any:
    """JSON Schema for "give at least one of ``required``", where the ``not_null`` fields, when given, are not null."""

    def rules(schema: dict[str, Any]) -> None:
        for name in not_null:
            prop = schema["properties"][name]
            prop.update(next(s for s in prop.pop("anyOf") if s.get("type") != "null"))
            prop.pop("default", None)
        schema["anyOf"] = [{"required": [name]} for name in required]

    return rules


class EditMessageRequest(Model):
    """``PATCH`` a message: content and/or custom data (``null`` clears it)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True,
                              json_schema_extra=_at_least_one(("content", "customData"), "content"))

    content: Content | None = None
    custom_data: CustomData | None = Field(default=None, alias="customData")

    @model_validator(mode="after")
    def _something_to_change(self) -> "EditMessageRequest":
        if self.content is None and "custom_data" not in self.model_fields_set:
            raise ValueError("content: give content and/or customData")
        return self

    @property
    def sets_custom_data(self) -> bool:
        """Whether ``customData`` was given (``null`` included: it clears)."""
        return "custom_data" in self.model_fields_set


class EditMessagePayload(EditMessageRequest):
    room_id: Id = Field(alias="roomId")
    message_id: Id = Field(alias="messageId")


class ReactionPayload(Model):
    room_id: Id = Field(alias="roomId")
    message_id: Id = Field(alias="messageId")
    emoji: Emoji


def _aware_time(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not an ISO 8601 time (e.g. 2026-11-24T10:00:00.000Z)") from None
    if when.tzinfo is None:
        raise ValueError("a time needs its offset (Z for UTC)")
    return when


Time = Annotated[str, StringConstraints(min_length=10, max_length=40), AfterValidator(_aware_time),
                 Field(json_schema_extra={"format": "date-time"})]
Topic = Annotated[str, StringConstraints(max_length=MAX_TOPIC)]


class UpdateRoomRequest(Model):
    """``PATCH`` a group: only the fields given change (``topic``/``customData`` ``null`` clears)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True,
                              json_schema_extra=_at_least_one(("name", "topic", "isPublic", "customData"),
                                                              "name", "isPublic"))

    name: RoomName | None = None
    topic: Topic | None = None
    is_public: bool | None = Field(default=None, alias="isPublic")
    custom_data: CustomData | None = Field(default=None, alias="customData")

    @model_validator(mode="after")
    def _something_to_change(self) -> "UpdateRoomRequest":
        if not self.model_fields_set:
            raise ValueError("name: give name, topic, isPublic and/or customData")
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name: a group keeps a name (1-100 characters)")
        if "is_public" in self.model_fields_set and self.is_public is None:
            raise ValueError("isPublic: true or false")
        return self


class AddMembersRequest(Model):
    user_ids: list[Id] = Field(alias="userIds", min_length=1, max_length=MAX_MEMBER_IDS)


class UpdateMemberRequest(Model):
    """``PATCH`` a member: a role (owner only) and/or a mute (``mutedUntil`` null lifts it)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True,
                              json_schema_extra=_at_least_one(("role", "mutedUntil"), "role"))

    role: Literal["owner", "admin", "member"] | None = None
    muted_until: Time | None = Field(default=None, alias="mutedUntil")

    @model_validator(mode="after")
    def _something_to_change(self) -> "UpdateMemberRequest":
        if self.role is None and not self.sets_muted_until:
            raise ValueError("role: give role and/or mutedUntil")
        return self

    @property
    def sets_muted_until(self) -> bool:
        return "muted_until" in self.model_fields_set


class ReportRequest(Model):
    reason: text(1000)  # type: ignore[valid-type]


class ReportOut(Model):
    id: str


class ChangePasswordRequest(Model):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = Field(alias="currentPassword")
    new_password: Password = Field(alias="newPassword")


class UpdateMeRequest(Model):
    display_name: DisplayName = Field(alias="displayName")


class DeleteMeRequest(Model):
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class PutUserRequest(Model):
    display_name: DisplayName | None = Field(default=None, alias="displayName")
    username: Username | None = None


def _whole_number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 else value


class TokenRequest(Model):
    # JSON Schema counts 5.0 as an integer: so does this field, where bodies are otherwise strict.
    expires_in_minutes: Annotated[int, annotated_types.Interval(ge=1, le=525_600), BeforeValidator(_whole_number)] | None = Field(
        default=None, alias="expiresInMinutes")


class ExternalIdPath(Model):
    """The ``{externalId}`` segment of a server API URL."""

    external_id: ExternalId = Field(alias="externalId")


class ServerCreateRoomRequest(CreateRoomRequest):
    """``POST /api/server/rooms``: as a user's request, with ``createdBy`` and ``memberIds`` as externalIds."""

    created_by: ExternalId = Field(alias="createdBy")
    member_ids: list[ExternalId] = Field(default_factory=list, alias="memberIds", max_length=MAX_MEMBER_IDS)


class ServerMembersRequest(Model):
    user_ids: list[ExternalId] = Field(alias="userIds", min_length=1, max_length=MAX_MEMBER_IDS)


class ServerMessageRequest(Model):
    sender_external_id: ExternalId | None = Field(default=None, alias="senderExternalId",
                                                  description="absent: a system message")
    content: Content
    custom_data: CustomData | None = Field(default=None, alias="customData")
    client_message_id: ClientMessageId | None = Field(default=None, alias="clientMessageId")


class ReportsQuery(Model):
    after: Id | None = None
    limit: int = Field(default=50, ge=1, le=500)


class ReportItemOut(Model):
    id: str
    room_id: str = Field(alias="roomId")
    message_id: str = Field(alias="messageId")
    reporter_id: str = Field(alias="reporterId")
    reason: str
    created_at: str = Field(alias="createdAt")
    message: MessageOut


class ReportsOut(Model):
    reports: list[ReportItemOut]
    has_more: bool = Field(alias="hasMore")


class TokenOut(Model):
    token: str
    expires_at: str = Field(alias="expiresAt")


class EmojiPath(Model):
    """The ``{emoji}`` segment of a reaction URL, once percent-decoded."""

    emoji: Emoji


class ChangesQuery(Model):
    after: int = Field(default=0, ge=0, le=2**62, description="a changeSeq; 0 for the beginning")
    limit: int = Field(default=100, ge=1, le=MAX_CHANGES_PAGE)


class RoomRefPayload(Model):
    room_id: Id = Field(alias="roomId")


class TypingPayload(Model):
    room_id: Id = Field(alias="roomId")
    is_typing: bool = Field(alias="isTyping")


class MarkReadPayload(Model):
    room_id: Id = Field(alias="roomId")
    message_id: Id | None = Field(default=None, alias="messageId")


# -- responses (declared for the OpenAPI document; core/views.py builds them) -----


class UserOut(Model):
    id: str
    username: str
    display_name: str = Field(alias="displayName")
    is_online: bool = Field(alias="isOnline")
    last_seen: str | None = Field(alias="lastSeen", description="ISO 8601 UTC; null until the first disconnect")
    external_id: str | None = Field(alias="externalId",
                                    description="the host application's user id; null for accounts registered here")


class ReactionOut(Model):
    emoji: str
    count: int


class MessageOut(Model):
    id: str
    room_id: str = Field(alias="roomId")
    sender_id: str | None = Field(alias="senderId", description="null for a system message")
    sender_username: str | None = Field(alias="senderUsername")
    content: str = Field(description='"" for a deleted message (a tombstone)')
    created_at: str = Field(alias="createdAt")
    client_message_id: str | None = Field(alias="clientMessageId")
    type: Literal["user", "system"]
    reply_to_id: str | None = Field(alias="replyToId")
    mentioned_user_ids: list[str] = Field(alias="mentionedUserIds")
    custom_data: dict[str, Any] | None = Field(alias="customData")
    reactions: list[ReactionOut] = Field(description="in the order each emoji was first used")
    edited_at: str | None = Field(alias="editedAt")
    deleted_at: str | None = Field(alias="deletedAt")
    updated_at: str = Field(alias="updatedAt", description="the latest change (the creation at first)")
    change_seq: int = Field(alias="changeSeq", description="the room's change position of the latest change")


class MemberOut(UserOut):
    role: Literal["owner", "admin", "member"]
    muted_until: str | None = Field(alias="mutedUntil")


class RoomOut(Model):
    id: str
    type: Literal["private", "group"]
    name: str | None
    is_public: bool = Field(alias="isPublic")
    created_by: str = Field(alias="createdBy")
    created_at: str = Field(alias="createdAt")
    members: list[MemberOut]
    topic: str | None = None
    custom_data: dict[str, Any] | None = Field(default=None, alias="customData")
    last_message: MessageOut | None = Field(alias="lastMessage")
    unread_count: int = Field(alias="unreadCount")
    unread_mention_count: int = Field(alias="unreadMentionCount")
    last_read_message_id: str | None = Field(alias="lastReadMessageId")
    my_role: Literal["owner", "admin", "member"] = Field(alias="myRole")
    last_change_seq: int = Field(alias="lastChangeSeq")


class AuthOut(Model):
    token: str
    expires_at: str = Field(alias="expiresAt")
    user: UserOut


class MessagePageOut(Model):
    messages: list[MessageOut]
    has_more: bool = Field(alias="hasMore")


class ChangePageOut(Model):
    messages: list[MessageOut] = Field(description="each changed message once, in its latest state, in changeSeq order")
    has_more: bool = Field(alias="hasMore")
    last_change_seq: int = Field(alias="lastChangeSeq",
                                 description="the position this page covers: pass it as `after` for the next page;"
                                             " when hasMore is false, the room's latest change position")


class ErrorBody(Model):
    code: Literal[
        "invalid", "unauthorized", "forbidden", "not_found", "conflict",
        "too_large", "rate_limited", "unavailable", "internal",
    ]
    message: str
    details: Any = None


class ErrorOut(Model):
    error: ErrorBody


class HealthOut(Model):
    status: str
    database: str | None = None
    backplane: str | None = None


M = TypeVar("M", bound=BaseModel)


def _has_surrogate(text: str) -> bool:
    return not text.isascii() and any("\ud800" <= ch <= "\udfff" for ch in text)


def lone_surrogate_at(data: Any, path: str = "") -> str | None:
    """Where ``data`` holds a lone UTF-16 surrogate (JavaScript text cut inside a character), or None.

    Such text cannot be stored or sent as UTF-8; JavaScript's ``JSON.stringify``
    sends it as ``"\\ud800"`` and the standard ``json`` module reads it back.
    """
    if isinstance(data, str):
        return (path or "payload") if _has_surrogate(data) else None
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _has_surrogate(key):
                return path or "payload"
            found = lone_surrogate_at(value, where)
            if found:
                return found
    elif isinstance(data, (list, tuple)):
        for i, value in enumerate(data):
            found = lone_surrogate_at(value, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


def refuse_lone_surrogates(data: Any, path: str = "") -> None:
    """Raises :class:`Invalid` naming the field when ``data`` holds a lone surrogate (text is refused, not repaired)."""
    try:
        orjson.dumps(data)  # refuses lone surrogates anywhere, keys included: one C call in the common case
        return
    except (orjson.JSONEncodeError, TypeError):
        pass  # a surrogate, or something that is not JSON at all: look for the field
    where = lone_surrogate_at(data, path)
    if where is not None:
        raise Invalid(f"{where.encode('ascii', 'backslashreplace').decode()}: text with a lone UTF-16 surrogate"
                      " (a character cut in half) is not accepted")


def parse(model: type[M], data: Any, *, strict: bool = True) -> M:
    """Validate ``data`` as ``model``.

    Raises:
        Invalid: naming the first offending field.
    """
    if not isinstance(data, dict):
        raise Invalid("body: expected a JSON object")
    refuse_lone_surrogates(data)
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as exc:
        raise validation_error(exc) from None


# -- Socket.IO acknowledgements and server events ------------------------------------------
# Declared for the AsyncAPI document (rest/asyncapi.py); the handlers and the core build them.


class OkAck(Model):
    """The acknowledgement of an event that answers nothing more: ``{"ok": true}``."""

    ok: Literal[True]


class MessageAck(OkAck):
    """``SendMessage``, ``EditMessage``, ``DeleteMessage``, ``AddReaction``, ``RemoveReaction``."""

    message: MessageOut = Field(description="the message, in its latest state")


class RoomAck(OkAck):
    """``JoinChatRoom``."""

    room: RoomOut


class MessagesReadOut(Model):
    """``MessagesRead``: a member's read pointer moved."""

    room_id: str = Field(alias="roomId")
    user_id: str = Field(alias="userId", description="the reader")
    last_read_message_id: str | None = Field(alias="lastReadMessageId", description="null while the room is empty")
    read_at: str | None = Field(alias="readAt", description="null until the reader first read a message")


class ReadAck(MessagesReadOut):
    """``MarkMessagesAsRead``: the reader's pointer, as members get it in ``MessagesRead``."""

    ok: Literal[True]


AckErrorCode = Literal["invalid", "unauthorized", "forbidden", "not_found", "rate_limited", "unavailable", "internal"]


class AckErrorBody(Model):
    code: AckErrorCode = Field(description="invalid: the payload (the message names the field); forbidden: not a member,"
                                           " muted, blocked, or not allowed to make the change; not_found: no such room"
                                           " or message; rate_limited: over a limit (retryAfterMs says when to retry);"
                                           " unavailable: the database is unreachable; internal: a server fault;"
                                           " unauthorized: the connection's token was revoked meanwhile")
    message: str
    details: Any = Field(default=None, description="where given: every problem found, e.g. [{field, message}]")
    retry_after_ms: Annotated[int, Field(ge=1)] | SkipJsonSchema[None] = Field(
        default=None, alias="retryAfterMs", description="with rate_limited: milliseconds to wait before retrying",
        json_schema_extra=lambda schema: schema.pop("default", None))  # absent, never null


class ErrorAck(Model):
    """An event refused: ``{"ok": false, "error": {"code", "message"}}``."""

    ok: Literal[False]
    error: AckErrorBody


class PresenceOut(Model):
    """``UserOnline`` (the user's first connection on any node opened) and ``UserOffline`` (their last one closed)."""

    user_id: str = Field(alias="userId")
    username: str
    is_online: bool = Field(alias="isOnline", description="true in UserOnline, false in UserOffline")
    last_seen: str | None = Field(alias="lastSeen", description="the latest disconnect (null if none yet)")


class TypingOut(Model):
    """``UserTyping``: a member started or stopped typing (a state not refreshed for 10 s stops)."""

    room_id: str = Field(alias="roomId")
    user_id: str = Field(alias="userId")
    username: str
    is_typing: bool = Field(alias="isTyping")


DepartureReason = Literal["removed", "left", "banned"]


class UserJoinedRoomOut(Model):
    room_id: str = Field(alias="roomId")
    user: UserOut
    added_by: str | None = Field(default=None, alias="addedBy", description="who added the user: absent when they"
                                 " joined a public group themselves, null when the server API added them")


class UserLeftRoomOut(Model):
    room_id: str = Field(alias="roomId")
    user_id: str = Field(alias="userId")
    reason: DepartureReason


class RemovedFromRoomOut(Model):
    room_id: str = Field(alias="roomId")
    reason: DepartureReason


class MemberUpdatedOut(Model):
    room_id: str = Field(alias="roomId")
    user_id: str = Field(alias="userId")
    role: Literal["owner", "admin", "member"]
    muted_until: str | None = Field(alias="mutedUntil")


class RoomDeletedOut(Model):
    room_id: str = Field(alias="roomId")


class ResyncOut(Model):
    """``Resync``: this node's link to the other nodes was interrupted and is back."""

    reason: Literal["backplane"]
    since: str = Field(description="when the interruption began: fetch each room's changes after a changeSeq held"
                                   " before then")
