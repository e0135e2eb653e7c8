"""orjson shaped like the ``json`` module, for python-socketio and engineio.

They call ``dumps(obj, separators=...)`` and expect ``str``; orjson is already
compact and returns ``bytes``.

JavaScript sends a string cut inside a character as a lone surrogate
(``"\\ud800"``), which orjson refuses outright: the packet, its ack and even a
CONNECT whose auth holds one would be lost without a word. Such text is
decoded with the standard ``json`` module instead, so that the handlers can
answer it (``invalid``, or ``unauthorized`` for a token).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

JSONDecodeError = ValueError  # both libraries' decode errors are ValueErrors


def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
    return orjson.dumps(obj).decode()


def loads(data: str | bytes, *args: Any, **kwargs: Any) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        text = data.decode("utf-8", "surrogatepass") if isinstance(data, (bytes, bytearray)) else data
        if "\\ud" not in text and "\\uD" not in text:
            raise
        return json.loads(text)
