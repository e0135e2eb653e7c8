"""Declared shapes: request bodies, queries, event payloads and responses.

Pydantic v2 models, declared once: the edges validate with them (strictly, so
``{"$gt": ""}`` is never a string and ``"1"`` never a number) and the OpenAPI
document is generated from them. Pydantic was chosen over msgspec because its
JSON Schema output (aliases, constraints, ``$defs``) maps directly onto
OpenAPI 3.1 and its error locations name the offending field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from .errors import Invalid, validation_error

USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"
MAX_CONTENT = 4000
NOT_BLANK = r"\S"  # after trimming, something is left (stated in the document, checked by the length)
MAX_MEMBER_IDS = 100
MAX_ROOMS_PAGE = 500

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Username = Annotated[str, StringConstraints(min_length=3, max_length=32, pattern=USERNAME_PATTERN)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=NOT_BLANK)]
RoomName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NOT_BLANK)]
Content = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CONTENT, pattern=NOT_BLANK)]
ClientMessageId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


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
        default=None, description="the X-Next-Cursor header of the previous page")


class UsersQuery(Model):
    q: Annotated[str, StringConstraints(max_length=32)] | None = None
    limit: int = Field(default=100, ge=1, le=1000)


# -- Socket.IO event payloads -----------------------------------------------


class SendMessagePayload(Model):
    room_id: Id = Field(alias="roomId")
    content: Content
    client_message_id: ClientMessageId | None = Field(default=None, alias="clientMessageId")


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


class MessageOut(Model):
    id: str
    room_id: str = Field(alias="roomId")
    sender_id: str = Field(alias="senderId")
    sender_username: str = Field(alias="senderUsername")
    content: str
    created_at: str = Field(alias="createdAt")
    client_message_id: str | None = Field(alias="clientMessageId")


class RoomOut(Model):
    id: str
    type: Literal["private", "group"]
    name: str | None
    is_public: bool = Field(alias="isPublic")
    created_by: str = Field(alias="createdBy")
    created_at: str = Field(alias="createdAt")
    members: list[UserOut]
    last_message: MessageOut | None = Field(alias="lastMessage")
    unread_count: int = Field(alias="unreadCount")
    last_read_message_id: str | None = Field(alias="lastReadMessageId")


class AuthOut(Model):
    token: str
    expires_at: str = Field(alias="expiresAt")
    user: UserOut


class MessagePageOut(Model):
    messages: list[MessageOut]
    has_more: bool = Field(alias="hasMore")


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
