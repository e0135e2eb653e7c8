"""Event arguments → declared payloads.

Each event accepts an object, or the plain arguments the original methods
took (``SendTypingIndicator(roomId, isTyping)``, ``JoinChatRoom(roomId)``).
"""

from __future__ import annotations

from typing import Any, Sequence, TypeVar

from pydantic import BaseModel

from ..errors import Invalid
from ..schemas import parse

M = TypeVar("M", bound=BaseModel)


def event_payload(model: type[M], args: Sequence[Any], positional: Sequence[str]) -> M:
    """Validate an event's arguments as ``model``.

    Args:
        model: the declared payload.
        args: the event's arguments (the ack callback is not among them).
        positional: wire names of the plain-argument form, in order.

    Raises:
        Invalid: naming the offending field.
    """
    if len(args) == 1 and isinstance(args[0], dict):
        return parse(model, args[0])
    if not args:
        raise Invalid(f"{positional[0]}: missing")
    if len(args) > len(positional) or isinstance(args[0], (dict, list)):
        raise Invalid(f"payload: expected an object or ({', '.join(positional)})")
    return parse(model, dict(zip(positional, args)))
