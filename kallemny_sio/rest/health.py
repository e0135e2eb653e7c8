"""``GET /healthz``: 200 while the database answers, 503 while it does not."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..errors import ChatError
from ..keys import BACKPLANE, STORE
from .http import json_response

PING_TIMEOUT_S = 3.0


async def healthz(request: web.Request) -> web.Response:
    body: dict[str, str] = {"status": "ok", "database": "ok"}
    backplane = request.app.get(BACKPLANE)
    if backplane is not None and backplane.state is not None:
        body["backplane"] = backplane.state
        if backplane.state != "ok":
            body["status"] = "degraded"
    try:
        await asyncio.wait_for(request.app[STORE].ping(), PING_TIMEOUT_S)
    except (ChatError, asyncio.TimeoutError):
        return json_response({"status": "unavailable", "database": "unreachable", **({"backplane": body["backplane"]} if "backplane" in body else {})}, status=503)
    return json_response(body)


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
