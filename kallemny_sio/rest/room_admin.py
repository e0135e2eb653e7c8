"""``/api/chat/rooms/{id}`` management (contract section 7): settings, members, roles, mutes, bans, deletion."""

from __future__ import annotations

from aiohttp import web

from ..keys import CHAT
from ..schemas import AddMembersRequest, UpdateMemberRequest, UpdateRoomRequest, parse
from .http import caller_id, json_response, read_json


def _room(request: web.Request) -> tuple[str, str]:
    return caller_id(request), request.match_info["room_id"]


def _member(request: web.Request) -> tuple[str, str, str]:
    return caller_id(request), request.match_info["room_id"], request.match_info["user_id"]


async def update_room(request: web.Request) -> web.Response:
    req = parse(UpdateRoomRequest, await read_json(request))
    return json_response(await request.app[CHAT].admin.update_room(*_room(request), req))


async def delete_room(request: web.Request) -> web.Response:
    await request.app[CHAT].admin.delete_room(*_room(request))
    return web.Response(status=204)


async def add_members(request: web.Request) -> web.Response:
    req = parse(AddMembersRequest, await read_json(request))
    return json_response(await request.app[CHAT].admin.add_members(*_room(request), list(req.user_ids)))


async def remove_member(request: web.Request) -> web.Response:
    await request.app[CHAT].admin.remove_member(*_member(request))
    return web.Response(status=204)


async def update_member(request: web.Request) -> web.Response:
    req = parse(UpdateMemberRequest, await read_json(request))
    return json_response(await request.app[CHAT].admin.set_member(*_member(request), req))


async def ban(request: web.Request) -> web.Response:
    await request.app[CHAT].admin.ban(*_member(request))
    return web.Response(status=204)


async def unban(request: web.Request) -> web.Response:
    await request.app[CHAT].admin.unban(*_member(request))
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    room = "/api/chat/rooms/{room_id}"
    app.router.add_patch(room, update_room)
    app.router.add_delete(room, delete_room)
    app.router.add_post(room + "/members", add_members)
    app.router.add_delete(room + "/members/{user_id}", remove_member)
    app.router.add_patch(room + "/members/{user_id}", update_member)
    app.router.add_put(room + "/bans/{user_id}", ban)
    app.router.add_delete(room + "/bans/{user_id}", unban)
