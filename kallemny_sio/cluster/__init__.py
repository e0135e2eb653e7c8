"""One node or several: the backplane that carries fan-out and presence between nodes.

- :mod:`.backplane`: the interface and its one-node default;
- :mod:`.backplane_redis`: several nodes through one Redis;
- :mod:`.redis_link`: the Redis pub/sub link (python-socketio's Redis manager, tuned);
- :mod:`.presence_redis`: presence shared by every node through Redis.
"""

from __future__ import annotations

from ..config import Settings
from .backplane import Backplane


def create_backplane(settings: Settings, namespace: str) -> Backplane:
    """The backplane ``REDIS_URL`` selects, telling ``namespace``'s connections of link interruptions."""
    if not settings.redis_url:
        return Backplane()
    from .backplane_redis import RedisBackplane

    return RedisBackplane(
        settings.redis_url,
        settings.redis_channel,
        namespace,
        heartbeat_seconds=settings.presence_heartbeat_seconds,
        node_ttl_seconds=settings.presence_node_ttl_seconds,
    )
