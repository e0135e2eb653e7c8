"""``/api/server/*``: the host application's backend (contract section 8), behind ``KALLEMNY_API_KEY``.

Users are named by their ``externalId`` (the id the application knows),
rooms by their Kallemny id. Role checks do not apply: the backend decides.
The key is checked by the guard middleware (:func:`.http.check_api_key`).
"""

from __future__ import annotations

from aiohttp import web

from ..core.accounts import Caller
from ..keys import ACCOUNTS, CHAT
from ..schemas import (
    CreateRoomRequest,
    ExternalIdPath,
    PutUserRequest,
    ReportsQuery,
    ServerCreateRoomRequest,
    ServerMembersRequest,
    ServerMessageRequest,
    TokenRequest,
    parse,
)
from .http import json_response, read_json


def _external_id(request: web.Request) -> str:
    """The URL's ``{externalId}`` (1-128 characters, else 400 naming it)."""
    return parse(ExternalIdPath, {"externalId": request.match_info["external_id"]}).external_id


async def put_user(request: web.Request) -> web.Response:
    req = parse(PutUserRequest, await read_json(request))
    user, created = await request.app[ACCOUNTS].put_external_user(
        _external_id(request), req.display_name, req.username)
    return json_response(user, status=201 if created else 200)


async def delete_user(request: web.Request) -> web.Response:
    accounts = request.app[ACCOUNTS]
    await accounts.delete_user(await accounts.external_user(_external_id(request)))
    return web.Response(status=204)


async def issue_token(request: web.Request) -> web.Response:
    body = await read_json(request) if request.can_read_body else {}
    req = parse(TokenRequest, body)
    token = await request.app[ACCOUNTS].token_for(_external_id(request), req.expires_in_minutes)
    return json_response(token, status=201)


async def create_room(request: web.Request) -> web.Response:
    req = parse(ServerCreateRoomRequest, await read_json(request))
    accounts = request.app[ACCOUNTS]
    creator = await accounts.external_user(req.created_by)
    members = await accounts.external_users(list(req.member_ids))
    room_req = CreateRoomRequest.model_validate(
        {"type": req.type, "name": req.name, "memberIds": members, "isPublic": req.is_public})
    room, created = await request.app[CHAT].create_room(creator.id, room_req)
    return json_response(room, status=201 if created else 200)


async def add_members(request: web.Request) -> web.Response:
    req = parse(ServerMembersRequest, await read_json(request))
    ids = await request.app[ACCOUNTS].external_users(list(req.user_ids))
    return json_response(await request.app[CHAT].admin.add_members(None, request.match_info["room_id"], ids))


async def remove_member(request: web.Request) -> web.Response:
    user = await request.app[ACCOUNTS].external_user(_external_id(request))
    await request.app[CHAT].admin.remove_member(None, request.match_info["room_id"], user.id)
    return web.Response(status=204)


async def post_message(request: web.Request) -> web.Response:
    req = parse(ServerMessageRequest, await read_json(request))
    sender = None
    if req.sender_external_id is not None:
        user = await request.app[ACCOUNTS].external_user(req.sender_external_id)
        sender = Caller(user.id, user.username)
    message = await request.app[CHAT].messages.post(
        request.match_info["room_id"], sender, req.content, req.custom_data, req.client_message_id)
    return json_response(message, status=201)


async def reports(request: web.Request) -> web.Response:
    query = parse(ReportsQuery, dict(request.query), strict=False)
    return json_response(await request.app[CHAT].safety.reports(query.after, query.limit))


def setup(app: web.Application) -> None:
    user = "/api/server/users/{external_id}"
    app.router.add_put(user, put_user)
    app.router.add_delete(user, delete_user)
    app.router.add_post(user + "/tokens", issue_token)
    app.router.add_post("/api/server/rooms", create_room)
    app.router.add_post("/api/server/rooms/{room_id}/members", add_members)
    app.router.add_delete("/api/server/rooms/{room_id}/members/{external_id}", remove_member)
    app.router.add_post("/api/server/rooms/{room_id}/messages", post_message)
    app.router.add_get("/api/server/reports", reports)
