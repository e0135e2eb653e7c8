"""``/api/chat/blocks`` and message reports (contract section 7)."""

from __future__ import annotations

from aiohttp import web

from ..keys import CHAT
from ..schemas import ReportRequest, parse
from .http import caller_id, json_response, read_json


async def block(request: web.Request) -> web.Response:
    await request.app[CHAT].safety.set_block(caller_id(request), request.match_info["user_id"], True)
    return web.Response(status=204)


async def unblock(request: web.Request) -> web.Response:
    await request.app[CHAT].safety.set_block(caller_id(request), request.match_info["user_id"], False)
    return web.Response(status=204)


async def blocked(request: web.Request) -> web.Response:
    return json_response(await request.app[CHAT].safety.blocked(caller_id(request)))


async def report(request: web.Request) -> web.Response:
    req = parse(ReportRequest, await read_json(request))
    match = request.match_info
    made = await request.app[CHAT].safety.report(caller_id(request), match["room_id"], match["message_id"], req.reason)
    return json_response(made, status=202)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/chat/blocks", blocked)
    app.router.add_put("/api/chat/blocks/{user_id}", block)
    app.router.add_delete("/api/chat/blocks/{user_id}", unblock)
    app.router.add_post("/api/chat/rooms/{room_id}/messages/{message_id}/reports", report)
