"""What the test-server helpers share: starting a server process on a free port."""

from __future__ import annotations

import signal
import socket
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn_on_free_port(server: Any, attempts: int = 3) -> None:
    """Start ``server`` (``port``, ``_spawn``, ``_wait_until_ready``, ``_halt``, ``_process``).

    A first start picks a free port; another process can take it between the
    pick and the bind, so a server that exited at once gets a fresh port and
    another try. A restart keeps its port and is not retried.

    Raises:
        RuntimeError: it did not become ready.
    """
    first_start = server.port is None
    for attempt in range(attempts):
        if first_start:
            server.port = free_port()
        server._spawn()
        try:
            server._wait_until_ready()
            return
        except RuntimeError:
            exited = server._process is not None and server._process.poll() is not None
            server._halt(signal.SIGKILL)
            if not (first_start and exited) or attempt == attempts - 1:
                raise  # only a lost race for a fresh port is worth another try
