"""The ``Server`` header of the answers aiohttp writes by itself.

Routed responses get ``Server: Kallemny`` from the app's ``on_response_prepare``
hook (:func:`kallemny_sio.rest.http.security_headers`). A request aiohttp
cannot parse (a bad header line, a bad method) is answered by
``RequestHandler.handle_error`` before any route or signal, and such a
response takes its ``Server`` header from ``aiohttp.web_response``'s module
global ``SERVER_SOFTWARE`` (``Python/3.x aiohttp/3.y``): a version banner.
"""

from __future__ import annotations

from aiohttp import web_response

#: What every response of this process names as its server.
SERVER_NAME = "Kallemny"


def hide_library_banner() -> None:
    """Make aiohttp's own answers name ``Kallemny`` too (process-wide, like the global it sets)."""
    web_response.SERVER_SOFTWARE = SERVER_NAME
