"""Helpers shared by the fuzz suites: what a contract error looks like, and a watch on the server's log."""

from __future__ import annotations

import logging
import os
from typing import Any

# Contract section 2: every error code, and the HTTP status each one goes with.
ERROR_STATUS = {"invalid": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "conflict": 409,
                "too_large": 413, "rate_limited": 429, "unavailable": 503, "internal": 500}
ERROR_CODES = frozenset(ERROR_STATUS)
STATUS_CODE = {status: code for code, status in ERROR_STATUS.items()}


def fuzz_backends() -> list[str]:
    """The store backends the fuzz suites run on: ``KALLEMNY_FUZZ_BACKENDS`` (comma-separated), default sqlite.

    The fuzzers aim at the edges (validation, the Socket.IO transport), which
    are the same whatever the store; the store contract has its own suite.
    """
    return [b.strip() for b in os.environ.get("KALLEMNY_FUZZ_BACKENDS", "sqlite").split(",") if b.strip()]


def error_shape_problem(body: Any) -> str | None:
    """Why ``body`` is not a contract error object ``{"error": {"code", "message"}}``, or None."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return f"not {{'error': {{...}}}}: {body!r:.200}"
    error = body["error"]
    if error.get("code") not in ERROR_CODES:
        return f"code {error.get('code')!r} is not one of contract section 2"
    if not isinstance(error.get("message"), str) or not error["message"]:
        return f"no message: {error!r:.200}"
    if "Traceback" in repr(body):
        return "a traceback in the error body"
    return None


class LogWatch(logging.Handler):
    """Records every log record of the process that carries a traceback.

    Installed on the root logger for the duration of a fuzz run: the server
    runs in this process, so anything it logs with ``exc_info`` (or
    ``log.exception``, or asyncio's "Task exception was never retrieved") or
    whose text holds a ``Traceback`` lands here.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.bad: list[str] = []
        self.context = ""  # what the test is sending now (named in each line recorded)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not format is still worth reporting
            text = str(record.msg)
        if record.exc_info or record.exc_text or "Traceback" in text:
            detail = ""
            if record.exc_info and record.exc_info[1] is not None:
                detail = f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
            while_ = f" (while sending {self.context})" if self.context else ""
            self.bad.append(f"{record.name} {record.levelname}: {text[:300]}{detail}{while_}")

    def __enter__(self) -> "LogWatch":
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self)
        root.setLevel(min(root.level or logging.WARNING, logging.INFO))  # a traceback logged at INFO counts too
        return self

    def __exit__(self, *exc: Any) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._level)
