"""The transport suite uses the event suite's fixtures (``server_settings`` marker included)."""

from tests.events.conftest import pytest_configure, server  # noqa: F401
