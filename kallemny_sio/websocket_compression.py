"""WebSocket compression off by default (engineio exposes no option for it).

aiohttp's ``WebSocketResponse`` accepts permessage-deflate whenever a client
offers it (browsers always do), which costs about 4x the memory per connection
and much CPU for chat-sized frames. engineio's aiohttp driver builds that
response itself without a way to pass ``compress``, so this module swaps in a
subclass of the driver's ``WebSocket`` for one server instance.

It relies on engineio 4.x internals (``AsyncServer._async["websocket"]`` and
the driver's ``WebSocket`` wrapper); when they are not as expected it changes
nothing and logs why, and ``tests/events/test_compression.py`` fails if an
upgrade breaks it.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp.web import WebSocketResponse

log = logging.getLogger(__name__)


def disable_websocket_compression(eio_server: Any) -> bool:
    """Make ``eio_server`` decline permessage-deflate; ``True`` when applied."""
    try:
        from engineio.async_drivers.aiohttp import WebSocket
    except ImportError:  # pragma: no cover - engineio reorganised
        log.warning("cannot turn WebSocket compression off: engineio's aiohttp driver moved")
        return False
    drivers = getattr(eio_server, "_async", None)
    if not isinstance(drivers, dict) or drivers.get("websocket") is not WebSocket:
        log.warning("cannot turn WebSocket compression off: engineio's driver table is not as expected")
        return False

    class UncompressedWebSocket(WebSocket):  # type: ignore[misc, valid-type]
        async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
            request = environ["aiohttp.request"]
            self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
            await self._sock.prepare(request)
            self.environ = environ
            await self.handler(self)
            return self._sock

    # A copy for this server only: the driver's table is shared by every server.
    eio_server._async = {**drivers, "websocket": UncompressedWebSocket}
    return True
