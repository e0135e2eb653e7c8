"""What the core needs from the transport: emit an event to users' connections."""

from __future__ import annotations

from typing import Any, Iterable, Protocol


def user_channel(user_id: str) -> str:
    """The per-user channel every connection of ``user_id`` listens on, on every node."""
    return f"user:{user_id}"


class Delivery(Protocol):
    """Live fan-out. Best effort: the store, not delivery, is the truth.

    Rooms are delivered through per-user channels: the core reads a room's
    members from the store and emits to each member's channel. A membership
    change therefore takes effect on the very next emit on every node, with
    no subscription to move and nothing to converge after a Redis outage.
    """

    async def emit(self, event: str, data: Any, user_ids: Iterable[str], skip_sid: str | None = None) -> None:
        """Send ``event`` to every connection of every user in ``user_ids``."""
