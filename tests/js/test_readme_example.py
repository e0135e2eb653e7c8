"""The README's "A client in ten lines" runs as written, in Node, against a fresh server, and exits.

The code block is taken from README.md itself (so the README cannot drift from
what is tested); only its base URL is pointed at the test server. It runs
twice: first alice is new (register), then she exists (login).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.conftest import Api, RunningServer
from tests.js.test_js_client import JS_DIR, NODE, _js_client_required, pytestmark  # noqa: F401 (skip rules)

README = Path(__file__).resolve().parents[2] / "README.md"
README_BASE = '"http://127.0.0.1:8000"'
RUN_TIMEOUT = 15.0  # seconds: a client that never exits fails here instead of hanging the suite


def readme_example() -> str:
    """The first ```js block after "A client in ten lines" in README.md."""
    text = README.read_text()
    start = text.index("A client in ten lines")
    block = re.search(r"```js\n(.*?)```", text[start:], re.S)
    assert block, "no ```js block after 'A client in ten lines' in README.md"
    return block.group(1)


async def run_node(script: Path) -> tuple[int, str, str]:
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE, str(script), cwd=script.parent,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"the README example was still running after {RUN_TIMEOUT:.0f} s (it never exits): killed")
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


async def test_the_readme_client_runs_as_written_and_exits(server: RunningServer, api: Api, tmp_path: Path) -> None:
    code = readme_example()
    assert code.count(README_BASE) == 1, "the example should name its base URL once, as " + README_BASE
    script = tmp_path / "readme-client.mjs"
    script.write_text(code.replace(README_BASE, f'"{server.url}"'))
    (tmp_path / "node_modules").symlink_to(JS_DIR / "node_modules", target_is_directory=True)

    for run in ("alice is new", "alice exists"):
        status, out, err = await run_node(script)
        assert status == 0, f"{run}: exit {status}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"
        assert "stored" in out.splitlines(), f"{run}: stdout: {out!r}\nstderr: {err[-2000:]}"

    status, login = await api.request("POST", "/api/auth/login", json={"username": "alice", "password": "correct horse"})
    assert status == 200, login
    status, rooms = await api.request("GET", "/api/chat/rooms", token=login["token"])
    assert status == 200, rooms
    assert [r["lastMessage"]["content"] for r in rooms if r["name"] == "hello"] == ["hello", "hello"], rooms
