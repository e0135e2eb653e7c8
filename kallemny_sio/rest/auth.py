"""``POST /api/auth/register`` and ``POST /api/auth/login``."""

from __future__ import annotations

from aiohttp import web

from ..keys import ACCOUNTS
from ..schemas import LoginRequest, RegisterRequest, parse
from .http import json_response, read_json, request_address


async def register(request: web.Request) -> web.Response:
    req = parse(RegisterRequest, await read_json(request))
    return json_response(await request.app[ACCOUNTS].register(req, request_address(request)), status=201)


async def login(request: web.Request) -> web.Response:
    req = parse(LoginRequest, await read_json(request))
    return json_response(await request.app[ACCOUNTS].login(req, request_address(request)))


def setup(app: web.Application) -> None:
    app.router.add_post("/api/auth/register", register)
    app.router.add_post("/api/auth/login", login)
