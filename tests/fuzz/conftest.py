"""Fixtures of the fuzz suites: the store backends they run on (default: the embedded SQLite store only).

``KALLEMNY_FUZZ_BACKENDS=sqlite,mongo-compat`` runs them on the
MongoDB-compatible test server too (or ``mongodb`` with
``KALLEMNY_TEST_MONGODB_URL``), as the chat suites do.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from .helpers import fuzz_backends


@pytest.fixture(params=fuzz_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for one test (overrides the root fixture's backend list)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kallemny.db'}"
    server = request.getfixturevalue("mongo_server")
    return server.database_url(f"kt_{uuid.uuid4().hex[:12]}")
