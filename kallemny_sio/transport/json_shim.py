"""orjson shaped like the ``json`` module, for python-socketio and engineio.

They call ``dumps(obj, separators=...)`` and expect ``str``; orjson is already
compact and returns ``bytes``.
"""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
    return orjson.dumps(obj).decode()


def loads(data: str | bytes, *args: Any, **kwargs: Any) -> Any:
    return orjson.loads(data)
