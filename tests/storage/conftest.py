"""Fixtures of the storage contract suite: one ``store`` per test, for every backend.

Backends: ``sqlite`` (a file in the test's temporary directory) and MongoDB,
either the MongoDB-compatible test server (test id ``mongo-compat``) or, with
``KALLEMNY_TEST_MONGODB_URL`` set, a real MongoDB (test id ``mongodb``). Each
MongoDB test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import AsyncIterator, Callable, Iterator

import pytest

from kallemny_sio.storage.base import Store
from tests.storage.helpers import World
from tests.support.mongo_server import STAND_IN_LABEL, MongoTestServer, backend_label

# KALLEMNY_TEST_BACKENDS=sqlite (or mongo-compat, mongodb) narrows the run, as for
# the other suites. The session's ``mongo_server`` fixture comes from tests/conftest.py.
BACKENDS = [b for b in os.environ.get("KALLEMNY_TEST_BACKENDS", "").split(",") if b] or ["sqlite", backend_label()]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: ``sqlite``, ``mongo-compat`` or ``mongodb``.

    A test marked ``real_mongodb`` needs what the MongoDB-compatible test server
    cannot do: it is skipped there (and still runs on the other backends).
    """
    if request.param == STAND_IN_LABEL and request.node.get_closest_marker("real_mongodb"):
        pytest.skip("needs a real MongoDB (set KALLEMNY_TEST_MONGODB_URL)")
    return request.param


@pytest.fixture
def make_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """A factory of unopened stores, all on this test's one (initially empty) database."""
    if backend == "sqlite":
        from kallemny_sio.storage.sqlite import SQLiteStore

        path = tmp_path / "kallemny.db"
        yield lambda: SQLiteStore(path)
        return
    from kallemny_sio.storage.mongo import MongoStore

    server: MongoTestServer = request.getfixturevalue("mongo_server")
    url = server.new_database_url()
    yield lambda: MongoStore(url)
    server.drop_database(url)


@pytest.fixture
async def store(make_store: Callable[[], Store]) -> AsyncIterator[Store]:
    """A freshly opened, empty store of the backend under test."""
    opened = make_store()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def world(store: Store) -> World:
    """The store plus helpers that make users, rooms and messages with increasing times."""
    return World(store)
