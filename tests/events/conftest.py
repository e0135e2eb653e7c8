"""Fixtures of the Socket.IO event suite.

``server`` is the shared one from ``tests/conftest.py``, except that a test
marked ``server_settings(**overrides)`` gets a server built with those
settings (``@pytest.mark.server_settings(typing_ttl_seconds=30)``). The
``api`` and ``connect`` fixtures follow it, since they use ``server``.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "server_settings(**overrides): build the test's server with these settings overrides"
    )


@pytest.fixture
async def server(server_factory: Callable[..., Any], request: pytest.FixtureRequest) -> Any:
    """The test's server, with the overrides of its ``server_settings`` marker if any."""
    marker = request.node.get_closest_marker("server_settings")
    return await server_factory(**(marker.kwargs if marker else {}))
