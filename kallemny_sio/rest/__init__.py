"""The REST API: thin aiohttp routes over the core."""

from __future__ import annotations

from aiohttp import web

from . import auth, docs, health, me, messages, metrics, room_admin, rooms, safety, server_api, users
from . import web_client


def setup_routes(app: web.Application) -> None:
    """Register every REST route."""
    health.setup(app)
    metrics.setup(app)
    auth.setup(app)
    me.setup(app)
    rooms.setup(app)
    messages.setup(app)
    room_admin.setup(app)
    safety.setup(app)
    server_api.setup(app)
    users.setup(app)
    docs.setup(app)
    web_client.setup(app)
