"""``GET /metrics``: the Prometheus text exposition, when ``METRICS=1``.

Off, the route does not exist (the usual JSON 404). With ``METRICS_TOKEN``
a scrape must send ``Authorization: Bearer <token>``; a missing or wrong
one is answered 401 (compared in constant time).
"""

from __future__ import annotations

import hmac

from aiohttp import web

from ..auth.tokens import bearer_token
from ..errors import Unauthorized
from ..keys import METRICS, SETTINGS


async def metrics(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].metrics_token
    if token is not None:
        given = bearer_token(request.headers.get("Authorization")) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized("missing or wrong metrics token")
    body, content_type = request.app[METRICS].exposition()
    # aiohttp's content_type argument takes no parameters (version, charset): set the header whole.
    return web.Response(body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    if app[METRICS].enabled:
        app.router.add_get("/metrics", metrics)
