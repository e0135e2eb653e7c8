"""What the test-server helpers share: starting a server process on a free port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, Callable


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


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it if the test process dies."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:  # noqa: BLE001 - best effort: the fixtures stop it anyway
        pass


def launch(args: list[str], log_path: Path) -> tuple[subprocess.Popen[bytes], BinaryIO]:
    """Start a server process with its output appended to ``log_path``; returns ``(process, log)``."""
    log = open(log_path, "ab")
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    return process, log


def wait_until_ready(process: subprocess.Popen[bytes] | None, ping: Callable[[], bool], what: str,
                     log_tail: Callable[[], str], timeout: float, interval: float = 0.1) -> None:
    """Poll ``ping`` until it answers (bounded by ``timeout``).

    Raises:
        RuntimeError: the process exited or did not answer in time (with its log's tail).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited at start-up:\n{log_tail()}")
        if ping():
            return
        time.sleep(interval)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s:\n{log_tail()}")
