"""``GET /metrics`` (``METRICS=1``): a real server, real clients, the exposition parsed as Prometheus would.

Each test reads the counters before and after what it does, so it checks
the difference its own actions made.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kallemny_sio.config import Rate, SettingsError, load_settings
from kallemny_sio.metrics.prometheus import LoopHistogram
from tests.api.helpers import assert_error
from tests.conftest import Api, ChatClient, RunningServer
from tests.limits.helpers import connect_error_message, limits, refused

TOKEN = "metrics-token-" + "m" * 20
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: aiohttp.ClientSession, server: RunningServer, token: str | None = None) -> Samples:
    """Every sample of ``/metrics``, keyed by name and labels."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get(server.url + "/metrics", headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/plain; version="), response.headers
        text = await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value, 0 when the series does not exist yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def series_of(samples: Samples, name: str) -> list[dict[str, str]]:
    return [dict(labels) for (n, labels) in samples if n == name]


async def scraped_until(http: aiohttp.ClientSession, server: RunningServer, check: Any, what: str,
                        timeout: float = 5.0) -> Samples:
    """Scrape until ``check(samples)`` holds (for state the server updates after answering the client)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(http, server)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def chat_client() -> Any:
    made: list[ChatClient] = []

    async def connect(server: RunningServer, token: str) -> ChatClient:
        client = ChatClient()
        made.append(client)
        return await client.connect(server.url, token)

    yield connect
    for client in made:
        await client.close()


# -- on, off, guarded -----------------------------------------------------------


async def test_off_by_default_metrics_is_not_found(server_factory, http):
    server = await server_factory()
    async with http.get(server.url + "/metrics") as response:
        assert_error(response.status, await response.json(), 404, "not_found")


async def test_a_token_guards_the_scrape(server_factory, http):
    server = await server_factory(metrics=True, metrics_token=TOKEN)
    for headers in ({}, {"Authorization": "Bearer " + TOKEN[:-1] + "x"}, {"Authorization": TOKEN},
                    {"Authorization": "Basic " + TOKEN}):
        async with http.get(server.url + "/metrics", headers=headers) as response:
            body = await response.json()
            assert_error(response.status, body, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert TOKEN not in await response.text()
    samples = await scrape(http, server, TOKEN)
    assert value(samples, "kallemny_connections") == 0
    assert value(samples, "kallemny_backplane_state", state="single") == 1
    assert value(samples, "kallemny_password_hashing_queue") == 0
    assert ("process_cpu_seconds_total", frozenset()) in samples


# -- what a chat does ------------------------------------------------------------------


async def test_events_store_messages_deliveries_and_connections_are_counted(server_factory, http, chat_client):
    server = await server_factory(metrics=True)
    api = Api(server.url, http)
    alice, bob = await api.register(), await api.register()
    room_id = (await api.create_private(alice, bob))["id"]
    before = await scrape(http, server)
    assert value(before, "kallemny_connections") == 0

    client = await chat_client(server, alice.token)
    on = await scraped_until(http, server, lambda s: value(s, "kallemny_connections") == 1, "one connection")
    client_id = uuid.uuid4().hex
    ack = await client.call("SendMessage", {"roomId": room_id, "content": "hello", "clientMessageId": client_id})
    assert ack["ok"] is True, ack
    await client.wait_for("ReceiveMessage", lambda m: m["id"] == ack["message"]["id"])
    resent = await client.call("SendMessage", {"roomId": room_id, "content": "hello", "clientMessageId": client_id})
    assert resent["message"]["id"] == ack["message"]["id"]  # idempotent: not a new message
    bad = await client.call("SendMessage", {"roomId": room_id})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid", bad
    for name in ("NoSuchEvent", f"made-up-{uuid.uuid4().hex}", "connect"):
        unknown = await client.call(name, {})
        assert unknown["error"]["code"] == "not_found", unknown
    after = await scrape(http, server)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(on, name, **labels)

    assert grew("kallemny_events_total", event="SendMessage", outcome="ok") == 2
    assert grew("kallemny_events_total", event="SendMessage", outcome="invalid") == 1
    assert grew("kallemny_events_total", event="unknown", outcome="not_found") == 3
    assert {s["event"] for s in series_of(after, "kallemny_events_total")} <= {"SendMessage", "unknown"}
    assert grew("kallemny_ack_seconds_count", event="SendMessage") == 3
    assert value(after, "kallemny_ack_seconds_bucket", event="SendMessage", le="+Inf") >= 3
    assert grew("kallemny_store_seconds_count", operation="add_message") == 2
    assert value(after, "kallemny_store_seconds_sum", operation="add_message") > 0
    assert grew("kallemny_messages_stored_total") == 1  # the resend is not counted
    assert grew("kallemny_deliveries_total", event="ReceiveMessage") == 1
    assert value(after, "kallemny_connections") == 1

    await client.close()
    await scraped_until(http, server, lambda s: value(s, "kallemny_connections") == 0, "no connection")


# -- limits -----------------------------------------------------------------------------


async def test_refusals_are_counted_by_limit(server_factory, http, chat_client):
    server = await server_factory(metrics=True, limits=limits(
        messages_per_user=Rate(1, 3600), connections_per_user=1, events_per_second=0.1, event_burst=3,
        rest_requests=Rate(3, 3600)))
    api = Api(server.url, http)
    alice, bob = await api.register(), await api.register()  # the address's 1st and 2nd request
    room_id = (await api.create_private(alice, bob))["id"]  # alice's 1st
    before = await scrape(http, server)
    assert value(before, "kallemny_rate_limited_total", limit="messages_per_user") == 0  # present before any refusal

    a = await chat_client(server, alice.token)
    assert (await a.call("SendMessage", {"roomId": room_id, "content": "one"}))["ok"] is True
    over = await a.call("SendMessage", {"roomId": room_id, "content": "two"})
    assert over["error"]["code"] == "rate_limited", over
    assert connect_error_message(await refused(server.url, auth={"token": alice.token})) == "rate_limited"

    b = await chat_client(server, bob.token)
    acks = [await b.call("SendTypingIndicator", {"roomId": room_id, "isTyping": True}) for _ in range(4)]
    assert [ack["ok"] for ack in acks[:3]] == [True] * 3 and acks[3]["error"]["code"] == "rate_limited", acks

    statuses = [(await api.request("GET", "/api/chat/rooms", token=alice.token))[0] for _ in range(3)]
    assert statuses == [200, 200, 429], statuses  # alice's 2nd and 3rd requests pass, her 4th is refused
    after = await scrape(http, server)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("kallemny_rate_limited_total", limit="messages_per_user") == 1
    assert grew("kallemny_rate_limited_total", limit="connections_per_user") == 1
    assert grew("kallemny_rate_limited_total", limit="events") == 1
    assert grew("kallemny_rate_limited_total", limit="rest_requests") == 1
    assert grew("kallemny_events_total", event="SendMessage", outcome="rate_limited") == 1
    assert grew("kallemny_events_total", event="SendTypingIndicator", outcome="rate_limited") == 1


async def test_password_hashing_refusals_are_counted(server_factory, http):
    # One address may hold 2 places in the hashing queue: of 12 logins sent at once
    # (distinct unknown usernames, so no username lock), those past its share are
    # refused at once, and each refusal is counted under its own limit.
    server = await server_factory(metrics=True, limits=limits())
    api = Api(server.url, http)
    before = await scrape(http, server)
    assert value(before, "kallemny_rate_limited_total", limit="password_hashing") == 0

    async def login(n: int) -> tuple[int, Any]:
        return await api.request("POST", "/api/auth/login",
                                 json={"username": f"nobody_{uuid.uuid4().hex[:8]}_{n}", "password": "wrong password"})

    replies = await asyncio.gather(*(login(n) for n in range(12)))
    statuses = sorted(status for status, _ in replies)
    refused_here = [body for status, body in replies if status == 429]
    assert statuses.count(401) >= 2 and refused_here, statuses  # two hashed, some refused at once
    assert all("logins in progress" in body["error"]["message"] for body in refused_here), refused_here
    after = await scrape(http, server)
    grew = value(after, "kallemny_rate_limited_total", limit="password_hashing") - \
        value(before, "kallemny_rate_limited_total", limit="password_hashing")
    assert grew == len(refused_here)


# -- several nodes -----------------------------------------------------------------------


@pytest.mark.timeout(90)
async def test_backplane_state_and_publish_latency_with_redis(server_factory, http, chat_client, redis_server):
    server = await server_factory(metrics=True, redis_url=redis_server.url)
    samples = await scraped_until(http, server, lambda s: value(s, "kallemny_backplane_state", state="ok") == 1,
                                  "the Redis link", timeout=15)
    assert value(samples, "kallemny_backplane_state", state="degraded") == 0
    assert ("kallemny_backplane_state", frozenset({("state", "single")})) not in samples
    api = Api(server.url, http)
    alice, bob = await api.register(), await api.register()
    room_id = (await api.create_private(alice, bob))["id"]
    client = await chat_client(server, alice.token)
    before = await scrape(http, server)
    ack = await client.call("SendMessage", {"roomId": room_id, "content": "across nodes"})
    assert ack["ok"] is True, ack
    await client.wait_for("ReceiveMessage", lambda m: m["id"] == ack["message"]["id"])
    after = await scrape(http, server)
    assert value(after, "kallemny_backplane_publish_seconds_count") > value(before, "kallemny_backplane_publish_seconds_count")
    assert value(after, "kallemny_backplane_publish_seconds_sum") > 0


# -- the histogram's buckets ----------------------------------------------------------------


def test_a_bucket_counts_what_is_at_most_its_bound():
    histogram = LoopHistogram((0.001, 0.01))
    for seconds in (0.0005, 0.001, 0.0011, 0.01, 0.5):
        histogram.observe(seconds)
    assert histogram.cumulative() == [("0.001", 2.0), ("0.01", 4.0), ("+Inf", 5.0)]
    assert histogram.sum == pytest.approx(0.5126)


# -- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize("env, named", [
    ({"METRICS": "1", "METRICS_TOKEN": "short"}, "METRICS_TOKEN: must be at least 16 bytes"),
    ({"METRICS": "1", "METRICS_TOKEN": "with a space in it, long enough"}, "METRICS_TOKEN: must be printable ASCII"),
    ({"METRICS_TOKEN": TOKEN}, "METRICS_TOKEN: set while METRICS is off"),
    ({"METRICS": "maybe"}, "METRICS: expected 1 (on) or 0 (off), got 'maybe'"),
])
def test_bad_metrics_settings_are_named(env, named, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert str(caught.value).startswith(named), caught.value
    assert "short" not in str(caught.value) and TOKEN not in str(caught.value)


def test_metrics_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (load_settings({}).metrics, load_settings({}).metrics_token) == (False, None)
    assert load_settings({"METRICS": "0"}).metrics is False
    on = load_settings({"METRICS": "1", "METRICS_TOKEN": TOKEN})
    assert (on.metrics, on.metrics_token) == (True, TOKEN)
    assert load_settings({"METRICS": "true"}).metrics_token is None


def test_a_short_token_ends_start_up_with_one_line(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METRICS", "DATABASE_URL", "REDIS_URL"))}
    env.update(METRICS="1", METRICS_TOKEN="too-short", PORT="0", JWT_SECRET="j" * 40)
    done = subprocess.run([sys.executable, "-m", "kallemny_sio"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=40)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "METRICS_TOKEN" in lines[0] and "too-short" not in lines[0], done.stderr
