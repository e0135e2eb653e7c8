"""The AsyncAPI 3 document of the ``/chat`` namespace, generated from :mod:`kallemny_sio.schemas`.

Every client→server event is a ``send`` operation whose acknowledgement is its
``reply``; every server→client event is a ``receive`` operation: the document
speaks from a client's point of view, as public WebSocket APIs described with
AsyncAPI do. Payload schemas are the same pydantic models that the handlers
validate with and that the OpenAPI document uses, under the same names.

AsyncAPI's default schema format is a superset of JSON Schema draft 07, while
pydantic writes 2020-12; the models use no keyword of 2020-12 that draft 07
lacks, and a ``$ref`` with sibling keywords (ignored beside ``$ref`` in draft 07)
is wrapped in ``allOf`` so that its description and constraints still count.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from .. import __version__
from .. import schemas as s
from ..handlers.delivery import NAMESPACE
from .http import json_response
from .schema_components import component_schemas, ref

PATH = "/api/asyncapi.json"
EVENTS_CHANNEL = "chat"
ACKS_CHANNEL = "acknowledgements"


@dataclasses.dataclass(frozen=True)
class ClientEvent:
    """An event a client emits, with the acknowledgement it gets."""

    name: str
    payload: type[BaseModel]
    ack: type[BaseModel]
    arguments: tuple[str, ...]  # the plain-argument form, in order
    summary: str
    description: str
    tag: str


@dataclasses.dataclass(frozen=True)
class ServerEvent:
    """An event the server emits, and to whom."""

    name: str
    payload: type[BaseModel]
    summary: str
    sent_to: str
    description: str
    tag: str

    @property
    def details(self) -> str:
        return " ".join(filter(None, [self.description, f"Sent to {self.sent_to}."]))


_CLIENT_EVENTS = (
    ClientEvent("SendMessage", s.SendMessagePayload, s.MessageAck, ("roomId", "content", "clientMessageId"),
                "Send a message to a room",
                "Stored durably before the ack and before anyone receives it; then `ReceiveMessage` reaches every"
                " connection of every member, the sending one included. A repeated `clientMessageId` from the same"
                " sender in the same room answers the stored message again and delivers nothing. Ends the sender's"
                " typing state. A mentioned member's `unreadMentionCount` grows until they read past the message.",
                "messages"),
    ClientEvent("JoinChatRoom", s.RoomRefPayload, s.RoomAck, ("roomId",), "Join a public group, or resubscribe",
                "A member: this connection is (re)subscribed to the room. A public group the user is not in yet:"
                " the user becomes a member, all their connections are subscribed, and members get `UserJoinedRoom`."
                " Otherwise `forbidden` (not public, or banned) or `not_found`.", "rooms"),
    ClientEvent("LeaveChatRoom", s.RoomRefPayload, s.OkAck, ("roomId",), "Leave a group",
                "The same as removing oneself: the user's connections on every node stop receiving the room and get"
                " `RemovedFromRoom` (reason `left`), the remaining members get `UserLeftRoom`. A private room, or a"
                " room the user is not in: `forbidden`.", "rooms"),
    ClientEvent("SendTypingIndicator", s.TypingPayload, s.OkAck, ("roomId", "isTyping"), "Start or stop typing",
                "Other members' connections get `UserTyping` when the state changes. A typing state not refreshed"
                " for 10 s expires (members get `UserTyping` with `isTyping` false); disconnecting ends it too.",
                "typing"),
    ClientEvent("MarkMessagesAsRead", s.MarkReadPayload, s.ReadAck, ("roomId", "messageId"),
                "Move the read pointer forward",
                "To `messageId`, or to the latest message; never back. Members' connections, the reader's other"
                " devices included, get `MessagesRead`.", "reads"),
    ClientEvent("EditMessage", s.EditMessagePayload, s.MessageAck, ("roomId", "messageId", "content"),
                "Edit a message (the sender only)",
                "Sets `editedAt`; members get `MessageUpdated`. A deleted message cannot be edited (`invalid`)."
                " `customData: null` clears it.", "messages"),
    ClientEvent("DeleteMessage", s.MessageRefPayload, s.MessageAck, ("roomId", "messageId"),
                "Delete a message (the sender, or an owner or admin of the group)",
                "The message stays in history as a tombstone (`content` \"\", no custom data, reactions or mentions,"
                " `deletedAt` set); members get `MessageDeleted`. Deleting again is ok and changes nothing.",
                "messages"),
    ClientEvent("AddReaction", s.ReactionPayload, s.MessageAck, ("roomId", "messageId", "emoji"),
                "React to a message",
                f"One reaction per user and emoji: adding it again changes nothing. At most {s.MAX_DISTINCT_EMOJI}"
                " distinct emoji per message (`invalid` past it). Members get `MessageUpdated` when the counts"
                " changed.", "messages"),
    ClientEvent("RemoveReaction", s.ReactionPayload, s.MessageAck, ("roomId", "messageId", "emoji"),
                "Withdraw a reaction",
                "Removing a reaction that is not there changes nothing. Members get `MessageUpdated` when the"
                " counts changed.", "messages"),
)

_CHANGE_RULE = " A client replaces its copy when the event's `changeSeq` is higher than that of the copy it holds."
_SERVER_EVENTS = (
    ServerEvent("ReceiveMessage", s.MessageOut, "A new message",
                "every connection of every member of the room, the sender's included",
                "One posted through the server API without a sender has `type` \"system\".", "messages"),
    ServerEvent("MessageUpdated", s.MessageOut, "A message was edited or its reactions changed",
                "every connection of every member", "The message in its latest state." + _CHANGE_RULE, "messages"),
    ServerEvent("MessageDeleted", s.MessageOut, "A message was deleted", "every connection of every member",
                "The message's tombstone." + _CHANGE_RULE, "messages"),
    ServerEvent("UserTyping", s.TypingOut, "A member started or stopped typing", "the other members' connections",
                "Also when a typing state expires, or its connection closes (`isTyping` false).", "typing"),
    ServerEvent("MessagesRead", s.MessagesReadOut, "A member's read pointer moved forward",
                "members' connections, the reader's other devices included", "", "reads"),
    ServerEvent("UserOnline", s.PresenceOut, "A user came online",
                "connections of users who share a room with the user",
                "The user's first connection on any node opened.", "presence"),
    ServerEvent("UserOffline", s.PresenceOut, "A user went offline",
                "connections of users who share a room with the user",
                "The user's last connection on every node closed (or its node stopped answering for 60 s).",
                "presence"),
    ServerEvent("UserUpdated", s.UserOut, "A user changed their display name",
                "connections of the user's contacts and the user's own",
                "Also when the host application renames a user of its own.", "presence"),
    ServerEvent("RoomCreated", s.RoomOut, "A room that includes the user was created",
                "every connection of every member of the new room",
                "Each member gets the room as they see it (their own role and unread counts); their connections"
                " are subscribed to it.", "rooms"),
    ServerEvent("RoomUpdated", s.RoomOut, "A group's name, topic, visibility or custom data changed",
                "the room's members",
                "The per-member fields (`myRole`, `unreadCount`, `unreadMentionCount`, `lastReadMessageId`) are"
                " those of the member who made the change: keep your own.", "rooms"),
    ServerEvent("RoomDeleted", s.RoomDeletedOut, "A group was deleted", "the room's members",
                "The group and its history are gone.", "rooms"),
    ServerEvent("AddedToRoom", s.RoomOut, "The user was added to a group", "the new member's connections",
                "The room as they see it; their connections are subscribed to it.", "rooms"),
    ServerEvent("UserJoinedRoom", s.UserJoinedRoomOut, "A user joined a public group, or was added",
                "the room's members", "", "rooms"),
    ServerEvent("UserLeftRoom", s.UserLeftRoomOut, "A member left, was removed or was banned",
                "the room's remaining members", "A member whose account was deleted has left (`left`).", "rooms"),
    ServerEvent("RemovedFromRoom", s.RemovedFromRoomOut, "The user left a group or was removed from it",
                "the connections of the user who left or was removed",
                "From now on, none of the user's connections on any node receives the room's events.", "rooms"),
    ServerEvent("MemberUpdated", s.MemberUpdatedOut, "A member's role or mute changed", "the room's members",
                "Also the heir's new role when an owner leaves.", "rooms"),
    ServerEvent("Resync", s.ResyncOut, "Catch up: events from other nodes may have been missed",
                "every connection of a node whose link to the other nodes (Redis) was interrupted",
                "It comes once the link is back: ask each room for `GET /api/chat/rooms/{id}/changes?after=<a changeSeq"
                " held before since>`; over-fetching is harmless.", "sync"),
)

_ACKS = (s.OkAck, s.MessageAck, s.RoomAck, s.ReadAck)

_ABOUT = """Live chat of the Kallemny server over Socket.IO, in the namespace `/chat`.

The document speaks from a client's point of view: each `send` operation is an event a client emits, and its
`reply` is the acknowledgement the client gets when it passes a callback; each `receive` operation is an event
the server emits to the client. On the wire an event is a Socket.IO EVENT packet `["<name>", payload]` in the
`/chat` namespace, and an acknowledgement an ACK packet with one argument: `{"ok": true, ...}`, or
`{"ok": false, "error": {"code", "message"}}`. Payloads are JSON objects with camelCase keys; where an event also
takes plain arguments (`SendTypingIndicator(roomId, isTyping)`), its description says so. Times are ISO 8601 UTC
with milliseconds and `Z`; ids are opaque strings.

The REST API (rooms, history, the change feed, accounts) is described by the OpenAPI document at
[/api/openapi.json](/api/openapi.json) and browsable at [/api/docs](/api/docs)."""

_SERVER = """Socket.IO protocol v5 over Engine.IO v4 (clients: `socket.io-client` 4.x, python-socketio 5), path
`/socket.io/`, namespace `/chat`: `io("https://chat.example.com/chat", {auth: {token}})`. WebSocket
(`?EIO=4&transport=websocket`) and HTTP long-polling (`?EIO=4&transport=polling`) both work; several nodes
behind a load balancer need sticky sessions for long-polling. Behind TLS the schemes are `wss` and `https`.

The namespace handshake authenticates: `auth: {"token": "<jwt>"}` (the usual way, since browsers cannot set
headers on a WebSocket), or an `Authorization: Bearer` header, or a `token` query parameter. On connect, the
connection is subscribed to every room of its user.

A refused connection gets `connect_error`, whose `message` is the reason:

- `unauthorized`: the token is missing, malformed, expired, forged or revoked, or its user was deleted;
- `rate_limited`: the user already has `CONNECTIONS_PER_USER` connections open;
- `unavailable`: the database could not be reached to check the token;
- `internal`: a fault of the server.

An Engine.IO connection that has not joined `/chat` with a valid token within 10 s is closed, and so is one
that sends a packet over 256 KiB. With `KALLEMNY_ENV=production`, a page whose `Origin` is not in
`CORS_ORIGINS` is refused before the handshake (the client sees a transport error)."""

_ERROR_ACK = ("Any event may be refused with `{\"ok\": false, \"error\": {\"code\", \"message\"}}`: `invalid` (the"
              " message names the field), `forbidden`, `not_found`, `rate_limited` (with `retryAfterMs`),"
              " `unavailable`, `internal`; `unauthorized` when the connection's token was revoked meanwhile.")


def _message(name: str, model: type[BaseModel], summary: str, description: str) -> dict[str, Any]:
    return {"name": name, "title": name, "summary": summary, "description": description,
            "contentType": "application/json", "payload": ref(model)}


def _send_operation(event: ClientEvent) -> dict[str, Any]:
    plain = ", ".join(event.arguments)
    forms = (f" Also takes the plain argument `{plain}`." if len(event.arguments) == 1
             else f" Also takes the plain arguments `({plain})`.")
    acks = f"#/channels/{ACKS_CHANNEL}/messages/"
    return {
        "action": "send", "channel": {"$ref": f"#/channels/{EVENTS_CHANNEL}"}, "title": event.name,
        "summary": event.summary, "description": event.description + forms, "tags": [{"name": event.tag}],
        "messages": [{"$ref": f"#/channels/{EVENTS_CHANNEL}/messages/{event.name}"}],
        "reply": {"channel": {"$ref": f"#/channels/{ACKS_CHANNEL}"},
                  "messages": [{"$ref": acks + event.ack.__name__}, {"$ref": acks + s.ErrorAck.__name__}]},
    }


def _receive_operation(event: ServerEvent) -> dict[str, Any]:
    return {
        "action": "receive", "channel": {"$ref": f"#/channels/{EVENTS_CHANNEL}"}, "title": event.name,
        "summary": event.summary, "description": event.details,
        "tags": [{"name": event.tag}], "messages": [{"$ref": f"#/channels/{EVENTS_CHANNEL}/messages/{event.name}"}],
    }


def _messages() -> dict[str, Any]:
    messages = {e.name: _message(e.name, e.payload, e.summary, e.description) for e in _CLIENT_EVENTS}
    messages.update({e.name: _message(e.name, e.payload, e.summary, e.details) for e in _SERVER_EVENTS})
    for ack in _ACKS:
        messages[ack.__name__] = _message(ack.__name__, ack, "Accepted", (ack.__doc__ or "").strip())
    messages[s.ErrorAck.__name__] = _message(s.ErrorAck.__name__, s.ErrorAck, "Refused", _ERROR_ACK)
    return messages


def _draft07(node: Any) -> Any:
    """``node`` with every ``$ref`` that has sibling keywords wrapped in ``allOf`` (draft 07 ignores such siblings)."""
    if isinstance(node, list):
        return [_draft07(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _draft07(value) for key, value in node.items()}
    if "$ref" in node and len(node) > 1:
        node["allOf"] = [{"$ref": node.pop("$ref")}, *node.get("allOf", [])]
    return node


def _schemas() -> dict[str, Any]:
    inputs = dict.fromkeys(e.payload for e in _CLIENT_EVENTS)
    outputs = dict.fromkeys([*(e.payload for e in _SERVER_EVENTS), *_ACKS, s.ErrorAck])
    return _draft07(component_schemas(inputs, outputs))


@functools.cache
def asyncapi_document() -> dict[str, Any]:
    """The whole AsyncAPI document (built once)."""
    names = [e.name for e in (*_CLIENT_EVENTS, *_SERVER_EVENTS)]
    server = {"host": "{host}", "pathname": "/socket.io/", "description": _SERVER,
              "variables": {"host": {"default": "127.0.0.1:8000", "description": "where the server listens"}},
              "security": [{"$ref": "#/components/securitySchemes/token"},
                           {"$ref": "#/components/securitySchemes/tokenQuery"}]}
    tags = ("messages", "rooms", "typing", "reads", "presence", "sync")
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Kallemny chat (Socket.IO)", "version": __version__, "description": _ABOUT,
                 "tags": [{"name": t} for t in tags]},
        "defaultContentType": "application/json",
        "servers": {
            "websocket": {**server, "protocol": "ws", "title": "Socket.IO over WebSocket"},
            "polling": {**server, "protocol": "http", "title": "Socket.IO over HTTP long-polling"},
        },
        "channels": {
            EVENTS_CHANNEL: {
                "address": NAMESPACE, "title": "The /chat namespace",
                "description": "Every event of the chat, both ways, on one Socket.IO connection.",
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names}},
            ACKS_CHANNEL: {
                "address": None, "title": "Acknowledgements",
                "description": "The answer to an event that came with a callback, on the same connection"
                               " (a Socket.IO ACK packet carrying the event's id).",
                "messages": {m.__name__: {"$ref": f"#/components/messages/{m.__name__}"} for m in (*_ACKS, s.ErrorAck)}},
        },
        "operations": {**{e.name: _send_operation(e) for e in _CLIENT_EVENTS},
                       **{e.name: _receive_operation(e) for e in _SERVER_EVENTS}},
        "components": {
            "schemas": _schemas(),
            "messages": _messages(),
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                          "description": "a Kallemny token, or one signed by the trusted issuer: in the handshake's"
                                         " `auth` object as `{\"token\": \"<jwt>\"}` (the usual way), or as an"
                                         " `Authorization: Bearer` header"},
                "tokenQuery": {"type": "httpApiKey", "name": "token", "in": "query",
                               "description": "the same token as the `token` query parameter"},
            },
        },
    }


async def asyncapi_json(request: web.Request) -> web.Response:
    return json_response(asyncapi_document())
