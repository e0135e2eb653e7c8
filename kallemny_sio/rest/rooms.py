"""``/api/chat/rooms``: list and create (history and messages: :mod:`.messages`)."""

from __future__ import annotations

from aiohttp import web

from ..keys import CHAT
from ..schemas import CreateRoomRequest, RoomsQuery, parse
from .http import caller_id, json_response, read_json


async def list_rooms(request: web.Request) -> web.Response:
    query = parse(RoomsQuery, dict(request.query), strict=False)
    rooms, cursor = await request.app[CHAT].list_rooms(caller_id(request), query)
    response = json_response(rooms)
    if cursor is not None:
        response.headers["X-Next-Cursor"] = cursor
        response.headers["Link"] = f'</api/chat/rooms?limit={query.limit}&cursor={cursor}>; rel="next"'
    return response


async def create_room(request: web.Request) -> web.Response:
    req = parse(CreateRoomRequest, await read_json(request))
    room, created = await request.app[CHAT].create_room(caller_id(request), req)
    return json_response(room, status=201 if created else 200)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/chat/rooms", list_rooms)
    app.router.add_post("/api/chat/rooms", create_room)
