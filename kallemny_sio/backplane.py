"""How nodes share fan-out and presence: alone (in-process) or through Redis."""

from __future__ import annotations

import logging
from typing import Optional

import socketio

from .config import Settings
from .core.presence import LocalPresence, Presence
from .fanout import DirectEmitManager

log = logging.getLogger(__name__)


class Backplane:
    """One node alone: python-socketio's in-process manager and local presence."""

    state: Optional[str] = None  # None: no backplane to report in /healthz

    def __init__(self) -> None:
        self.manager: socketio.AsyncManager = DirectEmitManager()
        self.presence: Presence = LocalPresence()

    async def start(self, sio: socketio.AsyncServer) -> None:
        """Begin (after the store is open)."""

    async def stop(self) -> None:
        """End (before the store closes)."""


def create_backplane(settings: Settings) -> Backplane:
    """The backplane ``REDIS_URL`` selects."""
    if not settings.redis_url:
        return Backplane()
    from .redis_backplane import RedisBackplane

    return RedisBackplane(settings)
