"""What the core needs to tell every node at once (a revoked token, an account that ended), and its one-node default.

Control messages are small JSON objects. A backplane carries them between
nodes (:mod:`kallemny_sio.cluster`); every node, the sender included, hands
each one to the handlers it subscribed.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Protocol

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], Awaitable[None]]


class ControlBus(Protocol):
    """Publish a control message to every node (this one included)."""

    def subscribe(self, handler: Handler) -> None:
        """Call ``handler`` with every message published by any node."""

    async def publish(self, message: dict[str, Any]) -> None:
        """Send ``message`` to every node's handlers (best effort between nodes)."""


class LocalControlBus:
    """One node alone: a published message goes straight to this node's handlers."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, message: dict[str, Any]) -> None:
        await deliver(self._handlers, message)


async def deliver(handlers: list[Handler], message: dict[str, Any]) -> None:
    """Hand ``message`` to each handler; one failing handler never stops the others."""
    for handler in handlers:
        try:
            await handler(message)
        except Exception:
            log.exception("control message %s not handled", message.get("kind"))
