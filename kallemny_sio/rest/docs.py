"""The OpenAPI 3.1 document, generated from :mod:`kallemny_sio.schemas`, and Swagger UI.

The AsyncAPI document of the Socket.IO events (:mod:`.asyncapi`) is served beside it and linked from it.

Swagger UI's assets come from the ``swagger-ui-py`` package and are served by
the app itself (no CDN), and the page makes no request outside the app: Swagger
UI's validator badge (which, whenever the page is not served from localhost,
sends the document's URL to ``validator.swagger.io`` and shows its verdict) is
turned off.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from aiohttp import web
from swagger_ui import api_doc

from .. import __version__
from .. import schemas as s
from .asyncapi import PATH as ASYNCAPI_PATH, asyncapi_json
from .http import json_response
from .schema_components import component_schemas, ref as _ref

_REQUESTS = [s.RegisterRequest, s.LoginRequest, s.CreateRoomRequest, s.EditMessageRequest, s.UpdateRoomRequest,
             s.AddMembersRequest, s.UpdateMemberRequest, s.ReportRequest, s.UpdateMeRequest, s.ChangePasswordRequest,
             s.DeleteMeRequest, s.PutUserRequest, s.TokenRequest, s.ServerCreateRoomRequest, s.ServerMembersRequest,
             s.ServerMessageRequest]
_RESPONSES = [s.AuthOut, s.UserOut, s.MemberOut, s.RoomOut, s.MessageOut, s.MessagePageOut, s.ChangePageOut,
              s.ReportOut, s.ReportsOut, s.TokenOut, s.ErrorOut, s.HealthOut]
# SwaggerUIBundle options added to swagger-ui-py's defaults, as JavaScript source.
# validatorUrl null: no validator badge, so no request to validator.swagger.io.
SWAGGER_UI_PARAMETERS = {"validatorUrl": "null"}


def _json(model: type, description: str, array: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": _ref(model)} if array else _ref(model)
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "invalid input (the message names the field)", 401: "missing, malformed, expired or forged token",
            403: "not a member (or, for a change, not allowed to make it)", 404: "no such room (or message)", 409: "username taken", 413: "body over 64 KiB",
            415: "body is not application/json", 429: "over a limit (Retry-After says when to retry)",
            503: "database unavailable"}
    return {str(c): _json(s.ErrorOut, text[c]) for c in codes}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"},
            "description": description}


def _message_paths(secured: list[dict[str, Any]], body: Any) -> dict[str, Any]:
    """Contract section 6: one message, its changes, and the room's change feed."""
    id_schema = {"type": "string", "minLength": 1, "maxLength": 64}
    ids = [_path("roomId", "a room id", id_schema), _path("messageId", "a message id", id_schema)]
    emoji = _path("emoji", "the emoji, URL-encoded (any Unicode, 1-32 characters)",
                  {"type": "string", "minLength": 1, "maxLength": s.MAX_EMOJI_LENGTH, "pattern": s.NOT_BLANK})
    message = lambda summary, description, extra=None: {  # noqa: E731
        "summary": summary, "description": description, "tags": ["messages"], "security": secured,
        "parameters": ids + (extra or []),
        "responses": {"200": _json(s.MessageOut, "the message, in its latest state"), **_errors(400, 401, 403, 404, 429)}}
    patch = message("Edit a message (the sender only)", "Sets `editedAt`; members get `MessageUpdated`. A deleted"
                    " message cannot be edited (400). `customData: null` clears it.")
    patch["requestBody"] = body(s.EditMessageRequest)
    patch["responses"].update(_errors(413, 415))
    return {
        "/api/chat/rooms/{roomId}/messages/{messageId}": {
            "get": message("One message", "Members only."),
            "patch": patch,
            "delete": message("Delete a message (the sender, or an owner or admin of the group)",
                              "The message stays in history as a tombstone; members get `MessageDeleted`. Deleting"
                              " again is ok and changes nothing."),
        },
        "/api/chat/rooms/{roomId}/messages/{messageId}/reactions/{emoji}": {
            "put": message("React to a message", "One reaction per user and emoji; adding it again changes nothing."
                           f" At most {s.MAX_DISTINCT_EMOJI} distinct emoji per message. Members get `MessageUpdated` when the"
                           " counts changed.", [emoji]),
            "delete": message("Withdraw a reaction", "Removing a reaction that is not there changes nothing.", [emoji]),
        },
        "/api/chat/rooms/{roomId}/changes": {"get": {
            "summary": "The room's change feed: every message whose latest change is after `after`",
            "description": "Each message once, in its latest state, in `changeSeq` order. Continue with"
                           " `after=<lastChangeSeq>` while `hasMore` is true; a position becomes visible only once"
                           " every lower one is, so a client never misses a change.",
            "tags": ["messages"], "security": secured,
            "parameters": [_path("roomId", "a room id", id_schema),
                           _query("after", {"type": "integer", "minimum": 0, "maximum": 2**62, "default": 0},
                                  "a changeSeq; 0 for the beginning"),
                           _query("limit", {"type": "integer", "minimum": 1, "maximum": s.MAX_CHANGES_PAGE,
                                            "default": 100}, "page size")],
            "responses": {"200": _json(s.ChangePageOut, "a page of changes"), **_errors(400, 401, 403, 404, 429)}}},
    }


def _no_content(description: str) -> dict[str, Any]:
    return {"204": {"description": description}}


def _room_paths(secured: list[dict[str, Any]], body: Any) -> dict[str, Any]:
    """Contract section 7: managing a group, blocks and reports."""
    id_schema = {"type": "string", "minLength": 1, "maxLength": 64}
    room = [_path("roomId", "a room id", id_schema)]
    member = room + [_path("userId", "a user id", id_schema)]
    refused = _errors(400, 401, 403, 404, 429)

    def op(summary: str, description: str, params: list[dict[str, Any]], ok: dict[str, Any],
           request: type | None = None) -> dict[str, Any]:
        operation = {"summary": summary, "description": description, "tags": ["rooms"], "security": secured,
                     "parameters": params, "responses": {**ok, **refused}}
        if request is not None:
            operation["requestBody"] = body(request)
            operation["responses"].update(_errors(413, 415))
        return operation

    return {
        "/api/chat/rooms/{roomId}": {
            "patch": op("Change a group's name, topic, visibility or custom data (owner, admin)",
                        "Only the fields given change; `topic` or `customData` null clears. Members get `RoomUpdated`.",
                        room, {"200": _json(s.RoomOut, "the room")}, s.UpdateRoomRequest),
            "delete": op("Delete a group and its history (owner)", "Members get `RoomDeleted`.", room,
                         _no_content("deleted")),
        },
        "/api/chat/rooms/{roomId}/members": {"post": op(
            "Add members (owner, admin)", "All or none: an unknown (400) or banned (403) user adds nobody. Each new"
            " member gets `AddedToRoom`, the others `UserJoinedRoom`.", room, {"200": _json(s.RoomOut, "the room")},
            s.AddMembersRequest)},
        "/api/chat/rooms/{roomId}/members/{userId}": {
            "delete": op("Remove a member (owner, admin; not the owner, an admin not an admin) or leave (yourself)",
                         "The removed user's connections get `RemovedFromRoom`, the members `UserLeftRoom`. An owner"
                         " who leaves hands the group to the longest-standing admin, else member; a group left"
                         " empty is deleted.", member, _no_content("removed")),
            "patch": op("Give a role (owner) or mute (owner, admin)", "`role: \"owner\"` hands the group over (the"
                        " old owner becomes admin). `mutedUntil: null` lifts a mute. Members get `MemberUpdated`.",
                        member, {"200": _json(s.MemberOut, "the member")}, s.UpdateMemberRequest),
        },
        "/api/chat/rooms/{roomId}/bans/{userId}": {
            "put": op("Ban a user (owner, admin)", "A member is removed (reason `banned`); they cannot join or be"
                      " added until the ban is lifted.", member, _no_content("banned")),
            "delete": op("Lift a ban (owner, admin)", "", member, _no_content("lifted")),
        },
        "/api/chat/blocks": {"get": {"summary": "The users the caller has blocked", "tags": ["safety"],
                                     "security": secured,
                                     "responses": {"200": _json(s.UserOut, "users", array=True), **_errors(401, 429)}}},
        "/api/chat/blocks/{userId}": {
            "put": {**op("Block a user", "While either has blocked the other, neither can send in their private room"
                         " nor open one. Not your own id (400).", [_path("userId", "a user id", id_schema)],
                         _no_content("blocked")),
                    "tags": ["safety"]},
            "delete": {**op("Unblock a user", "Not your own id (400).", [_path("userId", "a user id", id_schema)],
                            _no_content("unblocked")),
                       "tags": ["safety"]},
        },
        "/api/chat/rooms/{roomId}/messages/{messageId}/reports": {"post": {
            **op("Report a message", "Kept, with the message as it is now, for the operator.",
                 room + [_path("messageId", "a message id", id_schema)],
                 {"202": _json(s.ReportOut, "kept")}, s.ReportRequest), "tags": ["safety"]}},
    }


def _account_paths(secured: list[dict[str, Any]], body: Any) -> dict[str, Any]:
    """Contract section 8: an own account's token lifecycle."""
    def op(summary: str, ok: dict[str, Any], request: type | None = None, description: str = "") -> dict[str, Any]:
        operation = {"summary": summary, "description": description, "tags": ["auth"], "security": secured,
                     "responses": {**ok, **_errors(401, 429)}}
        if request is not None:
            operation["requestBody"] = body(request)
            operation["responses"].update(_errors(400, 413, 415))
        return operation

    wrong_password = {"403": _json(s.ErrorOut, "wrong password (the token stays valid)")}
    return {
        "/api/auth/me": {
            "get": op("The caller", {"200": _json(s.UserOut, "the caller")}),
            "patch": op("Change the caller's display name", {"200": _json(s.UserOut, "the caller")}, s.UpdateMeRequest,
                        "The rooms' members get `UserUpdated`."),
            "delete": op("Delete the caller's account", {"204": {"description": "deleted"}, **wrong_password},
                         s.DeleteMeRequest, "Memberships end, tokens are refused, live sockets are cut on every node,"
                         " the username is freed; messages stay."),
        },
        "/api/auth/logout": {"post": op("Refuse the presented token from now on", {"204": {"description": "done"}},
                                        description="Sockets opened with it are disconnected within 1 s.")},
        "/api/auth/password": {"post": op("Change the password", {"200": _json(s.AuthOut, "a new session"),
                                                                  **wrong_password}, s.ChangePasswordRequest,
                                          "Every older token of the user is refused; its sockets are disconnected.")},
    }


def _server_paths(body: Any) -> dict[str, Any]:
    """Contract section 8: the server API, for the host application's backend."""
    key = [{"serverKey": []}]
    ext = _path("externalId", "the host application's user id", {"type": "string", "minLength": 1, "maxLength": 128})
    room = _path("roomId", "a room id", {"type": "string", "minLength": 1, "maxLength": 64})

    def op(summary: str, params: list[dict[str, Any]], ok: dict[str, Any], request: type | None = None,
           description: str = "") -> dict[str, Any]:
        operation = {"summary": summary, "description": description, "tags": ["server"], "security": key,
                     "parameters": params,
                     "responses": {**ok, **_errors(400, 401, 404, 429),
                                   "404": _json(s.ErrorOut, "unknown user or room, or no KALLEMNY_API_KEY set")}}
        if request is not None:
            operation["requestBody"] = body(request)
            operation["responses"].update(_errors(413, 415))
        return operation

    return {
        "/api/server/users/{externalId}": {
            "put": {**op("Create or update a user of the application", [ext],
                         {"201": _json(s.UserOut, "created"), "200": _json(s.UserOut, "updated")}, s.PutUserRequest),
                    "responses": {"201": _json(s.UserOut, "created"), "200": _json(s.UserOut, "updated"),
                                  **_errors(400, 401, 409, 413, 415, 429),
                                  "404": _json(s.ErrorOut, "no KALLEMNY_API_KEY set")}},
            "delete": op("Delete a user", [ext], {"204": {"description": "deleted"}},
                         description="Sockets cut on every node within 1 s, tokens refused, memberships ended;"
                                     " messages stay."),
        },
        "/api/server/users/{externalId}/tokens": {"post": op(
            "A Kallemny token for a user (for applications that let Kallemny sign)", [ext],
            {"201": _json(s.TokenOut, "issued")}, s.TokenRequest)},
        "/api/server/rooms": {"post": op("Create a room on behalf of a user", [],
                                         {"201": _json(s.RoomOut, "created"),
                                          "200": _json(s.RoomOut, "the existing private room of the pair")},
                                         s.ServerCreateRoomRequest, "`createdBy` and `memberIds` are externalIds of users"
                                                                    " of the application (an unknown one is 400).")},
        "/api/server/rooms/{roomId}/members": {"post": op("Add members (no role checks)", [room],
                                                          {"200": _json(s.RoomOut, "the room")},
                                                          s.ServerMembersRequest,
                                                          "All or none: every externalId in `userIds` must be a user"
                                                          " of the application (an unknown one is 400).")},
        "/api/server/rooms/{roomId}/members/{externalId}": {"delete": op(
            "Remove a member (no role checks)", [room, ext], {"204": {"description": "removed"}})},
        "/api/server/rooms/{roomId}/messages": {"post": op(
            "Post a message as a member, or a system message", [room], {"201": _json(s.MessageOut, "stored")},
            s.ServerMessageRequest, "Without `senderExternalId` the message has `type` \"system\" and `senderId`"
                                    " null.")},
        "/api/server/reports": {"get": op(
            "Reports of messages, oldest first", [
                _query("after", {"type": "string", "minLength": 1, "maxLength": 64}, "a report id"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "page size")],
            {"200": _json(s.ReportsOut, "a page of reports")})},
    }


def _text(media: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


def _ops_paths() -> dict[str, Any]:
    """The web client, the event document and the metrics: no user token."""
    return {
        "/": {"get": {"summary": "The web chat client (a single page; its files are under /web/)", "tags": ["ops"],
                      "responses": {"200": _text("text/html", "the page")}}},
        "/api/asyncapi.json": {"get": {
            "summary": "The Socket.IO events of the /chat namespace, as an AsyncAPI 3 document", "tags": ["ops"],
            "responses": {"200": {"description": "the document",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/metrics": {"get": {
            "summary": "Prometheus metrics (METRICS=1)", "tags": ["ops"],
            "description": "Answers 404 unless the server runs with `METRICS=1`. With `METRICS_TOKEN` set it needs "
                           "`Authorization: Bearer <METRICS_TOKEN>` (not a user's token).",
            "responses": {"200": _text("text/plain", "the Prometheus text format"),
                          "401": _json(s.ErrorOut, "METRICS_TOKEN is set and the bearer token is missing or wrong"),
                          "404": _json(s.ErrorOut, "metrics are off")}}},
    }


def _paths() -> dict[str, Any]:
    secured = [{"bearer": []}]
    body = lambda m: {"required": True, "content": {"application/json": {"schema": _ref(m)}}}  # noqa: E731
    return {
        "/healthz": {"get": {"summary": "Liveness and database reachability", "tags": ["ops"],
                              "responses": {"200": _json(s.HealthOut, "serving"), "503": _json(s.HealthOut, "database unreachable")}}},
        **_ops_paths(),
        "/api/auth/register": {"post": {"summary": "Create an account and get a token", "tags": ["auth"],
                                        "requestBody": body(s.RegisterRequest),
                                        "responses": {"201": _json(s.AuthOut, "registered"), **_errors(400, 409, 413, 415, 429)}}},
        "/api/auth/login": {"post": {"summary": "Log in", "tags": ["auth"], "requestBody": body(s.LoginRequest),
                                     "responses": {"200": _json(s.AuthOut, "logged in"), **_errors(400, 401, 413, 415, 429)}}},
        "/api/chat/rooms": {
            "get": {"summary": "A page of the caller's rooms, most recent activity first", "tags": ["chat"],
                    "security": secured,
                    "description": "When more rooms follow, the response has an `X-Next-Cursor` header (and a "
                                   "`Link: <...>; rel=\"next\"`): pass it as `cursor` for the next page.",
                    "parameters": [
                        _query("limit", {"type": "integer", "minimum": 1, "maximum": s.MAX_ROOMS_PAGE, "default": 100},
                               "page size"),
                        _query("cursor", {"type": "string", "minLength": 1, "maxLength": 200},
                               "the X-Next-Cursor header of the previous page (any other value is 400)"),
                    ],
                    "responses": {"200": {**_json(s.RoomOut, "rooms", array=True), "headers": {
                        "X-Next-Cursor": {"schema": {"type": "string"}, "description": "cursor of the next page, if any"}}},
                        **_errors(400, 401, 429)}},
            "post": {"summary": "Create a private or group room", "tags": ["chat"], "security": secured,
                     "description": "Every id in `memberIds` must be an existing user (an unknown id is 400). A "
                                    "private room is with another user (your own id is 400); asking again for an "
                                    "existing pair's room returns it (200).",
                     "requestBody": body(s.CreateRoomRequest),
                     "responses": {"201": _json(s.RoomOut, "created"), "200": _json(s.RoomOut, "the existing private room of the pair"),
                                   **_errors(400, 401, 413, 415, 429)}}},
        "/api/chat/rooms/{roomId}/messages": {"get": {
            "summary": "A page of history, oldest first", "tags": ["chat"], "security": secured,
            "parameters": [
                {"name": "roomId", "in": "path", "required": True, "schema": {"type": "string"}},
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}, "page size"),
                _query("before", {"type": "string", "minLength": 1, "maxLength": 64},
                       "the page just older than this message id (not with after; an id that is not a message of "
                       "this room is 400)"),
                _query("after", {"type": "string", "minLength": 1, "maxLength": 64},
                       "the page just newer than this message id (catch-up; not with before; an id that is not a "
                       "message of this room is 400)"),
            ],
            "responses": {"200": _json(s.MessagePageOut, "a page"), **_errors(400, 401, 403, 404)}}},
        "/api/chat/users": {"get": {
            "summary": "Users by username prefix, with live presence", "tags": ["chat"], "security": secured,
            "parameters": [_query("q", {"type": "string", "maxLength": 32}, "username prefix"),
                           _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "how many")],
            "responses": {"200": _json(s.UserOut, "users", array=True), **_errors(400, 401)}}},
        **_message_paths(secured, body),
        **_room_paths(secured, body),
        **_account_paths(secured, body),
        **_server_paths(body),
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI document (built once)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kallemny", "version": __version__,
                 "description": "REST API of the Kallemny chat server. Live chat runs over Socket.IO (namespace /chat): its"
                                " events are described by the AsyncAPI document at"
                                f" [{ASYNCAPI_PATH}]({ASYNCAPI_PATH}); see also the README."},
        "paths": _paths(),
        "components": {"schemas": component_schemas(_REQUESTS, _RESPONSES),
                       "securitySchemes": {
                           "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                      "description": "a Kallemny token, or one signed by the trusted issuer"},
                           "serverKey": {"type": "http", "scheme": "bearer",
                                         "description": "KALLEMNY_API_KEY (the server API exists only when it is set)"}}},
    }


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(openapi_document())


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get(ASYNCAPI_PATH, asyncapi_json)
    api_doc(app, config_spec=orjson.dumps(openapi_document()).decode(), url_prefix="/api/docs", title="Kallemny API",
            parameters=SWAGGER_UI_PARAMETERS)
