"""Several processes on one host share one SQLite file: nothing lost, no "database is locked"."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.cluster.conftest import REPO_ROOT, Cluster, eventually
from tests.conftest import Account, ChatClient

USERS_PER_NODE = 3
MESSAGES_PER_USER = 25


async def test_three_processes_writing_one_sqlite_file_lose_nothing(cluster: Cluster) -> None:
    nodes = await cluster.start(3)  # started together on a fresh file: the schema is created once

    # Writes from every process at once: registrations ...
    placed: list[tuple[Any, Account]] = []
    registrations = [cluster.register(node, f"w{n}") for n, node in enumerate(nodes) for _ in range(USERS_PER_NODE)]
    for index, account in enumerate(await asyncio.gather(*registrations)):
        placed.append((nodes[index // USERS_PER_NODE], account))
    accounts = [account for _, account in placed]
    assert len({a.id for a in accounts}) == len(accounts)

    # ... the same private room asked for on every node at once: one room ...
    pair = await asyncio.gather(*(cluster.api(node).create_private(accounts[0], accounts[1]) for node in nodes))
    assert len({room["id"] for room in pair}) == 1

    room = await cluster.api(nodes[0]).create_group(accounts[0], accounts[1:], name="busy")
    clients = [await cluster.connect(node, account) for node, account in placed]

    # ... the same clientMessageId sent through two processes at once: stored once ...
    twin = await cluster.connect(nodes[1], accounts[0])
    client_id = uuid.uuid4().hex
    acks = await asyncio.gather(*(c.call("SendMessage", {"roomId": room["id"], "content": "once", "clientMessageId": client_id})
                                  for c in (clients[0], twin)))
    assert all(ack["ok"] for ack in acks), acks
    assert acks[0]["message"]["id"] == acks[1]["message"]["id"]

    # ... and every user sending and marking read at once, through three processes.
    sent = await asyncio.gather(*(_send_many(client, room["id"]) for client in clients))
    expected = [acks[0]["message"]] + [m for per_user in sent for m in per_user]

    history = await _all_messages(cluster, nodes[2], accounts[2], room["id"])
    assert len(history) == len(expected) == 1 + len(clients) * MESSAGES_PER_USER
    assert len({m["id"] for m in history}) == len(history)
    assert {m["id"] for m in history} == {m["id"] for m in expected}
    for account, per_user in zip(accounts, sent):  # each sender's messages in the order they were acked
        mine = [m["id"] for m in history if m["senderId"] == account.id and m["content"] != "once"]
        assert mine == [m["id"] for m in per_user]

    for client in clients:  # and every member's connection, on any node, received every one
        await eventually(lambda c=client: _count_room(c, room["id"]) >= len(expected), timeout=20,
                         what=f"{client.name} to receive every message")
        assert _count_room(client, room["id"]) == len(expected)
    for node in nodes:
        log = node.log()
        assert "database is locked" not in log and "SQLite error" not in log, log[-3000:]


async def _send_many(client: ChatClient, room_id: str) -> list[dict[str, Any]]:
    out = []
    for i in range(MESSAGES_PER_USER):
        ack = await client.call("SendMessage", {"roomId": room_id, "content": f"{client.name} #{i}",
                                                "clientMessageId": uuid.uuid4().hex}, timeout=20)
        assert ack.get("ok") is True, ack  # never "unavailable": a busy database is waited for
        out.append(ack["message"])
        if i % 5 == 4:
            read = await client.call("MarkMessagesAsRead", {"roomId": room_id}, timeout=20)
            assert read.get("ok") is True, read
    return out


async def _all_messages(cluster: Cluster, node: Any, who: Account, room_id: str) -> list[dict[str, Any]]:
    api = cluster.api(node)
    page = await api.history(who, room_id, limit=100)
    out = page["messages"]
    while page["hasMore"]:
        page = await api.history(who, room_id, limit=100, before=out[0]["id"])
        out = page["messages"] + out
    return out


def _count_room(client: ChatClient, room_id: str) -> int:
    return sum(1 for m in client.events("ReceiveMessage") if m["roomId"] == room_id)


# Run in a fresh interpreter (forking the test process, with its threads, is not safe):
# each trial has several processes open one new file at the same instant.
_OPEN_RACE = r"""
import multiprocessing, os, sys, tempfile
from kallemny_sio.storage.sqlite import SQLiteStore

def opener(path, barrier, results):
    store = SQLiteStore(path)
    barrier.wait()
    try:
        store._connect()
        results.put("ok")
    except Exception as exc:
        results.put(repr(exc))

if __name__ == "__main__":
    trials, processes = int(sys.argv[1]), int(sys.argv[2])
    context = multiprocessing.get_context("fork")
    for trial in range(trials):
        path = os.path.join(tempfile.mkdtemp(), "new.db")
        barrier, results = context.Barrier(processes), context.Queue()
        workers = [context.Process(target=opener, args=(path, barrier, results)) for _ in range(processes)]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=30) for _ in workers]
        for worker in workers:
            worker.join(30)
        for outcome in outcomes:
            print(outcome, flush=True)
"""


def test_processes_opening_one_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    script = tmp_path / "open_race.py"
    script.write_text(_OPEN_RACE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p))
    result = subprocess.run([sys.executable, str(script), "30", "6"], capture_output=True, text=True, timeout=50, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = result.stdout.split("\n")[:-1]
    assert len(outcomes) == 30 * 6
    assert [o for o in outcomes if o != "ok"] == []
