"""``GET /api/chat/users``."""

from __future__ import annotations

from aiohttp import web

from ..keys import CHAT
from ..schemas import UsersQuery, parse
from .http import json_response


async def list_users(request: web.Request) -> web.Response:
    query = parse(UsersQuery, dict(request.query), strict=False)
    return json_response(await request.app[CHAT].list_users(query))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/chat/users", list_users)
