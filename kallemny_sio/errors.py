"""Domain errors and their one mapping to HTTP statuses and ack errors (contract section 2)."""

from __future__ import annotations

from typing import Any


class ChatError(Exception):
    """Base of every error a client may see; renders itself for HTTP and for acks."""

    code = "internal"
    status = 500

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The ``{"code", "message"[, "details"]}`` object shared by REST and acks."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return error

    def ack(self) -> dict[str, Any]:
        """The Socket.IO acknowledgement for this error."""
        return {"ok": False, "error": self.body()}


class Invalid(ChatError):
    code, status = "invalid", 400


class Unauthorized(ChatError):
    code, status = "unauthorized", 401


class Forbidden(ChatError):
    code, status = "forbidden", 403


class NotFound(ChatError):
    code, status = "not_found", 404


class MethodNotAllowed(ChatError):
    code, status = "invalid", 405


class Conflict(ChatError):
    code, status = "conflict", 409


class TooLarge(ChatError):
    code, status = "too_large", 413


class UnsupportedMediaType(ChatError):
    code, status = "invalid", 415


class RateLimited(ChatError):
    """Over a limit (contract section 9): says when to try again."""

    code, status = "rate_limited", 429

    def __init__(self, message: str, retry_after_ms: int = 1000) -> None:
        super().__init__(message)
        self.retry_after_ms = max(1, int(retry_after_ms))

    @property
    def retry_after_seconds(self) -> int:
        """``Retry-After`` for HTTP: whole seconds, rounded up."""
        return max(1, -(-self.retry_after_ms // 1000))

    def body(self) -> dict[str, Any]:
        return {**super().body(), "retryAfterMs": self.retry_after_ms}


class Unavailable(ChatError):
    code, status = "unavailable", 503


class Internal(ChatError):
    code, status = "internal", 500


def validation_error(exc: Any, prefix: str = "") -> Invalid:
    """Turn a pydantic ``ValidationError`` into :class:`Invalid` naming the first bad field."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        field = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or prefix or "body"
        text = str(err.get("msg", "invalid"))
        if text.startswith("Value error, "):  # a model-level rule whose text names its own field
            field, _, text = text[len("Value error, "):].partition(": ")
        problems.append({"field": field, "message": text})
    if not problems:
        return Invalid(f"{prefix or 'body'}: invalid")
    first = problems[0]
    return Invalid(f"{first['field']}: {first['message']}", details=problems)
