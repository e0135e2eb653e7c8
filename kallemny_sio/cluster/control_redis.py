"""Control messages between nodes over a Redis pub/sub channel of their own.

Kept apart from the Socket.IO channel so that python-socketio's manager never
sees them. Pub/sub keeps nothing: a message published while a node's link is
down does not reach it, so the core keeps what matters in the store too (a
revoked token is stored; an ended account's generation is in its user
record) and only the disconnection of live sockets rides on this channel.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..core.control import Handler, deliver

log = logging.getLogger(__name__)
RETRY_SECONDS = 0.5


class RedisControlBus:
    """:class:`~kallemny_sio.core.control.ControlBus` on one Redis channel."""

    def __init__(self, channel: str) -> None:
        self._channel = channel
        self._handlers: list[Handler] = []
        self._redis: Redis | None = None
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def start(self, client: Redis) -> None:
        """Listen with ``client``'s connection settings (a connection of its own)."""
        self._redis = client
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="control-bus")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def publish(self, message: dict[str, Any]) -> None:
        """Publish to every node; without Redis, this node still handles it."""
        if self._redis is not None:
            try:
                await self._redis.publish(self._channel, orjson.dumps(message))
                return
            except (RedisError, OSError) as exc:
                log.warning("control message not published (%s); handled on this node only", exc.__class__.__name__)
        await deliver(self._handlers, message)

    async def _listen(self) -> None:
        assert self._redis is not None
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    async for item in pubsub.listen():
                        if item.get("type") == "message":
                            await self._handle(item.get("data"))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.debug("control channel interrupted (%s); subscribing again", exc.__class__.__name__)
            await asyncio.sleep(RETRY_SECONDS)

    async def _handle(self, data: Any) -> None:
        try:
            message = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError):
            return
        if isinstance(message, dict):
            await deliver(self._handlers, message)
