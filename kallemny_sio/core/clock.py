"""Wall-clock time as the contract writes it: ISO 8601 UTC with milliseconds and ``Z``."""

from __future__ import annotations

import functools
import time
from datetime import datetime, timezone


def now_ms() -> int:
    """Milliseconds since the epoch; every stored time is kept at this precision."""
    return time.time_ns() // 1_000_000


def iso(ms: int | None) -> str | None:
    """``1764064800123`` → ``"2025-11-25T10:00:00.123Z"``; ``None`` stays ``None``."""
    if ms is None:
        return None
    return _second(ms // 1000) + f"{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=256)
def _second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
