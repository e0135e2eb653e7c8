"""How nodes share fan-out and presence: the interface, and its one-node default.

A backplane gives the Socket.IO server its client manager and the core its
presence and its limit counters, and starts and stops with the node. :class:`Backplane` itself is one
node alone (python-socketio's in-process manager with direct emits, local
presence); :class:`~.backplane_redis.RedisBackplane` makes several nodes one.
Which one runs is chosen in :func:`kallemny_sio.cluster.create_backplane`.
"""

from __future__ import annotations

from typing import Callable, Optional

import socketio

from ..core.control import ControlBus, LocalControlBus
from ..core.limits import Limiter, MemoryLimiter
from ..core.presence import LocalPresence, Presence
from ..transport.fanout import DirectEmitManager


class Backplane:
    """One node alone: python-socketio's in-process manager and local presence.

    Attributes:
        single_node: True when every connection and every membership change
            passes through this process (so in-process caches stay exact).
        state: what ``/healthz`` reports of the link to other nodes; None: no link.
    """

    single_node = True
    state: Optional[str] = None

    def __init__(self) -> None:
        self.manager: socketio.AsyncManager = DirectEmitManager()
        self.presence: Presence = LocalPresence()
        self.limiter: Limiter = MemoryLimiter()
        self.control: ControlBus = LocalControlBus()

    async def start(self, sio: socketio.AsyncServer) -> None:
        """Begin (after the store is open)."""

    async def stop(self) -> None:
        """End (before the store closes)."""

    def observe_publishes(self, observe: Callable[[float], None]) -> None:
        """Have ``observe`` told the seconds each publish to the other nodes takes (one node: none)."""
