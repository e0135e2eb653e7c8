"""The core's :class:`~kallemny_sio.core.delivery.Delivery`, on the Socket.IO server.

Every connection joins its user's channel at connect; the Socket.IO manager
(in-process, or Redis between nodes) fans an emit out to those channels on
every node.
"""

from __future__ import annotations

from typing import Any, Iterable

import socketio

from ..core.delivery import user_channel
from ..metrics import Metrics

NAMESPACE = "/chat"


class SocketIODelivery:
    """Emit to users' channels in the ``/chat`` namespace."""

    def __init__(self, sio: socketio.AsyncServer, metrics: Metrics | None = None) -> None:
        self._sio = sio
        self._delivered = (metrics or Metrics()).delivered

    async def emit(self, event: str, data: Any, user_ids: Iterable[str], skip_sid: str | None = None) -> None:
        channels = [user_channel(u) for u in dict.fromkeys(user_ids)]
        if not channels:  # an empty "to" would mean everyone
            return
        await self._sio.emit(event, data, to=channels, namespace=NAMESPACE, skip_sid=skip_sid)
        self._delivered(event)
