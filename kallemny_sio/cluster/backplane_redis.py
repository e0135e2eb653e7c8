"""Several nodes acting as one server: the Redis link for fan-out, Redis for presence.

How membership changes reach every node, and what an interruption of the
link means for clients, is told in :mod:`.redis_link`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Callable

import socketio

from ..errors import Unavailable
from .backplane import Backplane
from .control_redis import RedisControlBus
from .limits_redis import RedisLimiter
from .presence_redis import RedisPresence
from .redis_link import ClusterRedisManager, redis_options

log = logging.getLogger(__name__)

FIRST_LINK_TIMEOUT_SECONDS = 5.0


class RedisBackplane(Backplane):
    """Several nodes as one: the Redis manager for fan-out, Redis for presence."""

    single_node = False

    def __init__(self, url: str, channel: str, namespace: str, *,
                 heartbeat_seconds: float, node_ttl_seconds: float) -> None:
        """Args:
            url: ``REDIS_URL``.
            channel: ``REDIS_CHANNEL``: the pub/sub channel, and the prefix of the presence keys.
            namespace: the Socket.IO namespace whose connections the link tells of interruptions.
            heartbeat_seconds: how often this node proves it is alive (``PRESENCE_HEARTBEAT_SECONDS``).
            node_ttl_seconds: after how long a silent node's users count as offline (``PRESENCE_NODE_TTL_SECONDS``).

        Raises:
            Unavailable: the URL cannot be used (one line naming ``REDIS_URL``).
        """
        super().__init__()
        self.node_id = uuid.uuid4().hex
        self.manager: ClusterRedisManager = ClusterRedisManager(url, channel, namespace, redis_options())
        try:
            self.manager.new_client()  # parses the URL now, so a bad one stops start-up
        except (ValueError, RuntimeError) as exc:
            raise Unavailable(f"REDIS_URL: {exc}") from None
        self.presence: RedisPresence = RedisPresence(
            f"{channel}:presence", self.node_id, heartbeat_seconds, node_ttl_seconds,
        )
        # Redis may come back empty from an interruption: presence registers again at once.
        self.manager.on_restored = self.presence.restore_soon
        self.limiter: RedisLimiter = RedisLimiter(f"{channel}:limits")
        self.control: RedisControlBus = RedisControlBus(f"{channel}:control")

    @property  # type: ignore[override]
    def state(self) -> str:
        """``"ok"``, or why not: the link (``"connecting"``/``"degraded"``), or presence degraded."""
        if self.manager.state != "ok":
            return self.manager.state
        return "degraded" if self.presence.degraded else "ok"

    async def start(self, sio: socketio.AsyncServer) -> None:
        """Subscribe (waiting a little for Redis) and hand the client to presence.

        A Redis that does not answer at start-up does not stop the node: it
        serves its own clients, reports ``degraded`` and links up when it can.
        """
        self.manager.start(sio)
        self.presence.use_client(self.manager.redis)
        self.limiter.use_client(self.manager.redis)
        self.control.start(self.manager.redis)
        if not await self.manager.wait_linked(FIRST_LINK_TIMEOUT_SECONDS):
            log.warning("Redis did not answer within %.0f s of start-up; starting degraded", FIRST_LINK_TIMEOUT_SECONDS)

    async def stop(self) -> None:
        await self.control.stop()
        await self.manager.close()

    def observe_publishes(self, observe: Callable[[float], None]) -> None:
        self.manager.on_published = observe
