"""Typed application state (``web.AppKey``), declared in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

import socketio
from aiohttp import web

from .config import Settings

if TYPE_CHECKING:
    from .core.accounts import Accounts
    from .core.chat import ChatService
    from .core.limits import Guard
    from .cluster import Backplane
    from .metrics import Metrics
    from .storage.base import Store

SETTINGS = web.AppKey("settings", Settings)
STORE: web.AppKey["Store"] = web.AppKey("store")
ACCOUNTS: web.AppKey["Accounts"] = web.AppKey("accounts")
CHAT: web.AppKey["ChatService"] = web.AppKey("chat")
SIO = web.AppKey("sio", socketio.AsyncServer)
BACKPLANE: web.AppKey["Backplane"] = web.AppKey("backplane")
GUARD: web.AppKey["Guard"] = web.AppKey("guard")
METRICS: web.AppKey["Metrics"] = web.AppKey("metrics")
