"""The Socket.IO stack as Kallemny runs it.

- :func:`create_sio`: the ``AsyncServer`` with its JSON shim, packet class and
  tuned WebSocket transport;
- :mod:`.websocket`: engineio's WebSocket transport on aiohttp, tuned (the
  "fast lane": direct writes, a read loop without a task per frame, ping timers);
- :mod:`.packet`: a Socket.IO packet class that serializes its data once;
- :mod:`.json_shim`: orjson shaped like the ``json`` module;
- :mod:`.fanout`: a room emit without a task per recipient.

Together with the Redis link (:mod:`kallemny_sio.cluster.redis_link`), this
package is the only code that knows python-socketio's, engineio's and
aiohttp's internals; ``setup.cfg`` pins the versions it was written for and
``tests/transport/`` fails when an upgrade breaks an assumption.
"""

from __future__ import annotations

import socketio

from ..config import Settings
from . import json_shim
from .packet import JsonPacket
from .websocket import tune_websocket_transport


def create_sio(settings: Settings, manager: socketio.AsyncManager) -> socketio.AsyncServer:
    """The Socket.IO server for ``settings``, fanning out through ``manager`` (not attached yet)."""
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=list(settings.cors_origins) if settings.cors_origins != "*" else "*",
        max_http_buffer_size=settings.max_socket_payload_bytes,
        json=json_shim,
        serializer=JsonPacket,
        logger=False,
        engineio_logger=False,
    )
    tune_websocket_transport(sio.eio, compression=settings.websocket_compression, fast_lane=settings.websocket_fast_lane)
    return sio
