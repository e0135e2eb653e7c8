"""The limits as settings: ``RATE_LIMITS=0``, ``COUNT/WINDOW`` values, bad values named (contract section 9)."""

from __future__ import annotations

import pytest

from kallemny_sio.config import Limits, Rate, SettingsError, load_settings
from tests.conftest import RunningServer, free_port, unique_name

from .helpers import PASSWORD, Http

SECRET = "x" * 40


def settings_from(tmp_path, **env: str):
    return load_settings({"JWT_SECRET": SECRET, "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}", **env})


def test_defaults_are_the_contract_table(tmp_path):
    got = settings_from(tmp_path).limits
    assert got == Limits()
    assert got.enabled is True
    assert got.login_failures_per_username == Rate(5, 900)
    assert got.login_failures_per_address == Rate(30, 900)
    assert got.registrations_per_address == Rate(10, 3600)
    assert (got.events_per_second, got.event_burst) == (20.0, 50)
    assert got.messages_per_user == Rate(30, 10)
    assert got.connections_per_user == 20
    assert got.rest_requests == Rate(120, 10)
    assert settings_from(tmp_path).trusted_proxies == ()


@pytest.mark.parametrize("value", ["0", "false", "off", "no"])
def test_rate_limits_0_turns_them_all_off(tmp_path, value):
    assert settings_from(tmp_path, RATE_LIMITS=value).limits.enabled is False
    assert settings_from(tmp_path, RATE_LIMITS="1").limits.enabled is True


@pytest.mark.parametrize("name, value, expected", [
    ("MESSAGES_PER_USER", "30/10s", Rate(30, 10)),
    ("LOGIN_FAILURES_PER_USERNAME", "5/15m", Rate(5, 900)),
    ("REGISTRATIONS_PER_ADDRESS", "10/1h", Rate(10, 3600)),
    ("LOGIN_FAILURES_PER_ADDRESS", "100/2h", Rate(100, 7200)),
    ("ROOM_CREATIONS_PER_USER", "7/500ms", Rate(7, 0.5)),
    ("MESSAGES_PER_USER", " 12 / 3s ", Rate(12, 3)),
    # A bare count keeps the default window.
    ("MESSAGES_PER_USER", "7", Rate(7, 10)),
    ("LOGIN_FAILURES_PER_USERNAME", "9", Rate(9, 900)),
    ("REGISTRATIONS_PER_ADDRESS", "3", Rate(3, 3600)),
])
def test_rates_parse(tmp_path, name, value, expected):
    field = {"MESSAGES_PER_USER": "messages_per_user", "LOGIN_FAILURES_PER_USERNAME": "login_failures_per_username",
             "REGISTRATIONS_PER_ADDRESS": "registrations_per_address",
             "LOGIN_FAILURES_PER_ADDRESS": "login_failures_per_address",
             "ROOM_CREATIONS_PER_USER": "room_creations_per_user"}[name]
    assert getattr(settings_from(tmp_path, **{name: value}).limits, field) == expected


def test_scalar_limits_parse(tmp_path):
    got = settings_from(tmp_path, EVENTS_PER_SECOND="2.5", EVENT_BURST="7", CONNECTIONS_PER_USER="3",
                        REST_REQUESTS_PER_10S="50", TRUSTED_PROXIES="10.0.0.0/8, 192.168.1.1").limits
    assert (got.events_per_second, got.event_burst, got.connections_per_user) == (2.5, 7, 3)
    assert got.rest_requests == Rate(50, 10)
    assert settings_from(tmp_path, TRUSTED_PROXIES="10.0.0.0/8, 192.168.1.1").trusted_proxies == (
        "10.0.0.0/8", "192.168.1.1/32")


@pytest.mark.parametrize("name, value", [
    ("MESSAGES_PER_USER", "many"),
    ("MESSAGES_PER_USER", "30/10 parsecs"),
    ("MESSAGES_PER_USER", "30/"),  # a window meant and missing, not the default window
    ("MESSAGES_PER_USER", "30/ "),
    ("MESSAGES_PER_USER", "0/10s"),
    ("MESSAGES_PER_USER", "-3"),
    ("LOGIN_FAILURES_PER_USERNAME", "5/0m"),
    ("LOGIN_FAILURES_PER_USERNAME", "5/-1m"),
    ("REGISTRATIONS_PER_ADDRESS", "1.5/1h"),
    ("LOGIN_FAILURES_PER_ADDRESS", "/15m"),
    ("ROOM_CREATIONS_PER_USER", "3/1d"),
    ("EVENTS_PER_SECOND", "0"),
    ("EVENTS_PER_SECOND", "fast"),
    ("EVENT_BURST", "0"),
    ("CONNECTIONS_PER_USER", "lots"),
    ("REST_REQUESTS_PER_10S", "120/10s"),
    ("TRUSTED_PROXIES", "10.0.0.0/33"),
    ("TRUSTED_PROXIES", "proxy.example"),
])
def test_a_bad_value_names_the_variable(tmp_path, name, value):
    with pytest.raises(SettingsError) as info:
        settings_from(tmp_path, **{name: value})
    assert str(info.value).startswith(name + ":"), info.value
    assert "\n" not in str(info.value)


async def test_a_server_with_rate_limits_0_limits_nothing(tmp_path, http):
    """End to end: settings loaded with RATE_LIMITS=0 serve past every default limit."""
    settings = settings_from(tmp_path, RATE_LIMITS="0", PORT=str(free_port()), LOGIN_FAILURES_PER_USERNAME="2",
                             REGISTRATIONS_PER_ADDRESS="2", TRUSTED_PROXIES="127.0.0.0/8")
    assert settings.limits.enabled is False
    server = await RunningServer(settings).start()
    try:
        api = Http(server, http)
        accounts = [await api.register(address="203.0.113.1") for _ in range(4)]  # past 2 registrations
        for _ in range(4):  # past 2 failures
            assert (await api.login(accounts[0].username, "wrong password", address="203.0.113.1")).status == 401
        assert (await api.login(accounts[0].username, PASSWORD, address="203.0.113.1")).status == 200
        assert (await api.login(unique_name(), "whatever1", address="203.0.113.1")).status == 401
    finally:
        await server.stop()
