"""``create_app(settings)``: the one place where everything is built and wired."""

from __future__ import annotations

import logging
from typing import AsyncIterator

import socketio
from aiohttp import web

from . import jsonshim
from .auth.passwords import Passwords
from .auth.tokens import Tokens
from .backplane import create_backplane
from .config import Settings
from .core.accounts import Accounts
from .core.chat import ChatService
from .handlers.chat_namespace import ChatNamespace
from .handlers.delivery import SocketIODelivery
from .keys import ACCOUNTS, BACKPLANE, CHAT, SETTINGS, SIO, STORE
from .rest import setup_routes
from .rest.http import MIDDLEWARES
from .socketio_packet import JsonPacket
from .storage import create_store
from .websocket_transport import tune_websocket_transport

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> web.Application:
    """Build the aiohttp application with the Socket.IO server attached.

    Resources (store, backplane, presence) open in the application's
    ``cleanup_ctx`` in dependency order and close in reverse, so tests can build
    as many independent apps as they like and SIGTERM closes everything.
    """
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    store = create_store(settings)
    backplane = create_backplane(settings)
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=backplane.manager,
        cors_allowed_origins=list(settings.cors_origins) if settings.cors_origins != "*" else "*",
        max_http_buffer_size=settings.max_socket_payload_bytes,
        json=jsonshim,
        serializer=JsonPacket,
        logger=False,
        engineio_logger=False,
    )
    sio.attach(app, socketio_path="socket.io")
    tune_websocket_transport(sio.eio, compression=settings.websocket_compression, fast_lane=settings.websocket_fast_lane)
    passwords = Passwords()
    presence = backplane.presence
    accounts = Accounts(store, passwords, Tokens(settings.jwt_secret, settings.jwt_issuer, settings.jwt_expires_minutes), presence)
    # One node: every membership change passes through this process, so the
    # room-members cache stays exact; with Redis, other nodes change them too.
    chat = ChatService(store, SocketIODelivery(sio), presence, settings.typing_ttl_seconds,
                       cache_membership=not settings.redis_url)
    sio.register_namespace(ChatNamespace(accounts, chat))
    app[STORE], app[ACCOUNTS], app[CHAT], app[SIO], app[BACKPLANE] = store, accounts, chat, sio, backplane
    setup_routes(app)

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        yield
        await store.close()
        passwords.close()

    async def chat_ctx(app: web.Application) -> AsyncIterator[None]:
        await backplane.start(sio)
        await chat.start()
        yield
        await chat.stop()
        await backplane.stop()

    async def disconnect_clients(app: web.Application) -> None:
        # Close every connection first (their disconnect handlers record presence):
        # an open WebSocket would otherwise hold aiohttp's shutdown for its whole
        # timeout. wait=False: a polling client that stopped polling never drains
        # its close packet, and ``eio.disconnect()`` would wait for it forever.
        for socket in list(sio.eio.sockets.values()):
            await socket.close(wait=False, reason=sio.eio.reason.SERVER_DISCONNECT)
        await sio.shutdown()

    app.cleanup_ctx.extend([store_ctx, chat_ctx])
    app.on_shutdown.append(disconnect_clients)
    return app
