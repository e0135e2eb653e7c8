"""``/api/auth/me``, ``/api/auth/logout``, ``/api/auth/password``: an own account's token lifecycle (contract section 8)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..keys import ACCOUNTS
from ..schemas import ChangePasswordRequest, DeleteMeRequest, UpdateMeRequest, parse
from .http import CALLER, json_response, read_json, request_address


def _caller(request: web.Request) -> Any:
    return request[CALLER]


async def me(request: web.Request) -> web.Response:
    return json_response(await request.app[ACCOUNTS].me(_caller(request)))


async def update_me(request: web.Request) -> web.Response:
    req = parse(UpdateMeRequest, await read_json(request))
    return json_response(await request.app[ACCOUNTS].update_me(_caller(request), req.display_name))


async def delete_me(request: web.Request) -> web.Response:
    req = parse(DeleteMeRequest, await read_json(request))
    await request.app[ACCOUNTS].delete_me(_caller(request), req.password, request_address(request))
    return web.Response(status=204)


async def logout(request: web.Request) -> web.Response:
    await request.app[ACCOUNTS].logout(_caller(request))
    return web.Response(status=204)


async def change_password(request: web.Request) -> web.Response:
    req = parse(ChangePasswordRequest, await read_json(request))
    return json_response(await request.app[ACCOUNTS].change_password(_caller(request), req, request_address(request)))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/auth/me", me)
    app.router.add_patch("/api/auth/me", update_me)
    app.router.add_delete("/api/auth/me", delete_me)
    app.router.add_post("/api/auth/logout", logout)
    app.router.add_post("/api/auth/password", change_password)
