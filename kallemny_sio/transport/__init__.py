"""The Socket.IO stack as Kallemny runs it.

- :func:`create_sio`: the ``AsyncServer`` with its JSON shim, packet class and
  tuned WebSocket transport;
- :mod:`.websocket`: engineio's WebSocket transport on aiohttp, tuned (the
  "fast lane": direct writes, a read loop without a task per frame, ping timers);
- :mod:`.packet`: a Socket.IO packet class that serializes its data once;
- :mod:`.json_shim`: orjson shaped like the ``json`` module;
- :mod:`.fanout`: a room emit without a task per recipient;
- :mod:`.server`: the ``AsyncServer`` subclass that survives malformed input;
- :mod:`.banner`: ``Server: Kallemny`` on the answers aiohttp writes itself.

Together with the Redis link (:mod:`kallemny_sio.cluster.redis_link`), this
package is the only code that knows python-socketio's, engineio's and
aiohttp's internals; ``setup.cfg`` pins the versions it was written for and
``tests/transport/`` fails when an upgrade breaks an assumption.
"""

from __future__ import annotations

import socketio
from engineio import payload

from ..config import Settings
from . import json_shim
from .packet import JsonPacket
from .server import HardenedServer
from .websocket import bound_polling_queues, limit_frames, tune_websocket_transport

#: A connection's frames are read at most this multiple of ``EVENTS_PER_SECOND``:
#: above the rate at which sustained abuse disconnects it (10x), so that rule can see it.
FRAME_RATE_FACTOR = 12


def create_sio(settings: Settings, manager: socketio.AsyncManager, namespace: str) -> socketio.AsyncServer:
    """The Socket.IO server for ``settings``, fanning out through ``manager``, accepting ``namespace`` only."""
    # engineio refuses a long-polling POST of more than 16 packets but answers 200 OK,
    # and the official client sends every emit of one tick in one POST: lift the count
    # (process-wide: it is a class attribute), the POST stays bounded by its size.
    payload.Payload.max_decode_packets = settings.max_socket_payload_bytes
    sio = HardenedServer(
        namespace=namespace,
        unauthenticated_timeout=settings.unauthenticated_timeout_seconds,
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
    bound_polling_queues(sio.eio)
    limits = settings.limits
    if limits.enabled:
        limit_frames(sio.eio, FRAME_RATE_FACTOR * limits.events_per_second, FRAME_RATE_FACTOR * limits.event_burst)
    return sio
