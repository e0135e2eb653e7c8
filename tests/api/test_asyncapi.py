"""``GET /api/asyncapi.json``: the AsyncAPI 3 document of the ``/chat`` namespace, from the outside.

The document is fetched from a running server; its operations are checked
against the namespace's own handler table and the events the suites listen
for, its schemas against the declared models and the OpenAPI document, real
acks and events against its schemas, and the whole document with the official
parser (``@asyncapi/parser``, run in Node by ``tests/js/validate_asyncapi.mjs``).

The parser tests need ``node`` and ``tests/js/node_modules`` (``npm ci`` in
tests/js, which ``scripts/test.sh`` runs): without them they skip, except under
CI (``CI`` set), where a missing parser is a broken setup and they fail.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema_rs  # JSON Schema validation in Rust; comes with schemathesis (the test extra)
import pytest
from pydantic import BaseModel

from kallemny_sio import __version__
from kallemny_sio.keys import SIO
from kallemny_sio.schemas import MessageOut, SendMessagePayload, TypingPayload
from tests.api.helpers import ERROR_CODES
from tests.conftest import EVENTS

DOC = "/api/asyncapi.json"
JS_DIR = Path(__file__).resolve().parents[1] / "js"
VALIDATOR = JS_DIR / "validate_asyncapi.mjs"
NODE = shutil.which("node")
PARSER_PACKAGE = JS_DIR / "node_modules" / "@asyncapi" / "parser" / "package.json"
PARSER_TIMEOUT = 30.0  # seconds; one run takes about 1.5 s
_parser_missing = ("node is not on PATH" if NODE is None
                   else None if PARSER_PACKAGE.exists() else "@asyncapi/parser is not installed")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """One store is enough: the document does not depend on it, and the shapes on the wire come from core/views.py."""
    return f"sqlite:///{tmp_path / 'kallemny.db'}"


@pytest.fixture
def parser() -> Path:
    """The validation script, provided Node and the parser are installed (see the module docstring)."""
    if _parser_missing:
        if os.environ.get("CI"):
            pytest.fail(f"{_parser_missing}: run `npm ci` in tests/js (scripts/test.sh does) before the tests")
        pytest.skip(f"{_parser_missing}: run `npm ci` in tests/js (Node 18+) to validate the AsyncAPI document")
    return VALIDATOR


async def fetch(api: Any) -> dict[str, Any]:
    status, doc = await api.request("GET", DOC)
    assert status == 200, doc
    assert isinstance(doc, dict), doc
    return doc


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """Follow local ``$ref`` pointers until a node that is not one."""
    while isinstance(node, dict) and set(node) == {"$ref"}:
        pointer = node["$ref"]
        assert pointer.startswith("#/"), pointer
        node = doc
        for part in pointer[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operations(doc: dict[str, Any], action: str) -> dict[str, dict[str, Any]]:
    """The operations with ``action``, by the Socket.IO event name of their one message."""
    found = {}
    for op in doc["operations"].values():
        if op["action"] == action:
            (message,) = [resolve(doc, m) for m in op["messages"]]
            found[message["name"]] = op
    return found


def wire_names(model: type[BaseModel]) -> set[str]:
    """The keys of ``model`` on the wire."""
    return {field.alias or name for name, field in model.model_fields.items()}


def payload_schema(doc: dict[str, Any], message_ref: dict[str, str]) -> dict[str, Any]:
    """The payload schema of a message, resolved to its component."""
    return resolve(doc, resolve(doc, message_ref)["payload"])


async def run_parser(script: Path, document: dict[str, Any], tmp_path: Path) -> tuple[int, dict[str, Any]]:
    """Run the official parser on ``document``; returns its exit status and its JSON report."""
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(document))
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE, str(script), str(path), cwd=JS_DIR,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), PARSER_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"the parser was still running after {PARSER_TIMEOUT} s: killed")
    try:
        report = json.loads(out.decode())
    except ValueError:
        pytest.fail(f"the parser exited {proc.returncode} without a JSON report\nstdout: {out.decode()[-2000:]}\n"
                    f"stderr: {err.decode(errors='replace')[-2000:]}")
    return proc.returncode, report


# -- the document ----------------------------------------------------------------------


async def test_document_is_served_as_asyncapi_3(api, http):
    async with http.get(api.base_url + DOC) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        first = await response.json()
    assert first["asyncapi"] == "3.0.0"
    assert first["info"]["version"] == __version__ and first["info"]["title"]
    assert first["defaultContentType"] == "application/json"
    assert await fetch(api) == first


async def test_send_operations_are_exactly_the_events_the_namespace_handles(api, server):
    # The handler table of the running server's /chat namespace: an event handled
    # there and missing from the document (or documented and not handled) fails here.
    handled = set(server.app[SIO].namespace_handlers["/chat"]._events)
    assert handled, "found no handled events"
    assert set(operations(await fetch(api), "send")) == handled


async def test_receive_operations_cover_every_server_event(api):
    received = set(operations(await fetch(api), "receive"))
    assert set(EVENTS) <= received, set(EVENTS) - received
    assert not received & set(operations(await fetch(api), "send"))


async def test_every_operation_is_on_the_chat_namespace_and_its_messages(api):
    doc = await fetch(api)
    chat = doc["channels"]["chat"]
    assert chat["address"] == "/chat"
    for name, op in doc["operations"].items():
        assert resolve(doc, op["channel"]) is chat, name
        for message in op["messages"]:
            assert message["$ref"].startswith("#/channels/chat/messages/"), (name, message)


async def test_each_send_operation_replies_with_its_ack_or_the_error_ack(api):
    doc = await fetch(api)
    for name, op in operations(doc, "send").items():
        reply = op["reply"]
        acks_channel = resolve(doc, reply["channel"])
        assert acks_channel["address"] is None, name  # an ack answers on the connection, not at an address
        schemas = [payload_schema(doc, m) for m in reply["messages"]]
        for m in reply["messages"]:
            assert m["$ref"].split("/")[-1] in acks_channel["messages"], (name, m)
        oks = [sc for sc in schemas if sc["properties"]["ok"].get("const") is True]
        errors = [sc for sc in schemas if sc["properties"]["ok"].get("const") is False]
        assert len(oks) == 1 and len(errors) == 1, (name, schemas)
        assert {"ok", "error"} <= set(errors[0]["required"])
        body = resolve(doc, errors[0]["properties"]["error"])
        assert {"code", "message"} <= set(body["required"])
        codes = set(body["properties"]["code"]["enum"])
        assert {"invalid", "forbidden", "not_found", "rate_limited", "internal"} <= codes <= ERROR_CODES, codes
        assert "retryAfterMs" in body["properties"]


async def test_payload_schemas_are_the_declared_models(api):
    doc = await fetch(api)
    sends, receives = operations(doc, "send"), operations(doc, "receive")
    send_message = payload_schema(doc, sends["SendMessage"]["messages"][0])
    assert send_message["title"] == "SendMessagePayload"
    assert {"roomId", "content"} <= set(send_message["required"])
    assert "clientMessageId" not in send_message["required"]
    assert set(send_message["properties"]) == wire_names(SendMessagePayload)
    assert send_message["properties"]["content"]["maxLength"] == 4000
    typing = payload_schema(doc, sends["SendTypingIndicator"]["messages"][0])
    assert set(typing["required"]) == wire_names(TypingPayload) == {"roomId", "isTyping"}
    assert typing["properties"]["isTyping"]["type"] == "boolean"
    for event in ("ReceiveMessage", "MessageUpdated", "MessageDeleted"):
        message = payload_schema(doc, receives[event]["messages"][0])
        assert message["title"] == "MessageOut", event
        assert set(message["properties"]) == wire_names(MessageOut)
    assert payload_schema(doc, receives["RoomCreated"]["messages"][0])["title"] == "RoomOut"
    assert set(payload_schema(doc, receives["Resync"]["messages"][0])["required"]) == {"reason", "since"}


def _unwrap(node: Any) -> Any:
    """Undo the document's draft-07 wrapping of a ``$ref`` with siblings (``allOf: [{$ref}]``)."""
    if isinstance(node, list):
        return [_unwrap(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _unwrap(value) for key, value in node.items()}
    if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1 and set(node["allOf"][0]) == {"$ref"}:
        node["$ref"] = node.pop("allOf")[0]["$ref"]
    return node


async def test_shapes_shared_with_the_openapi_document_are_the_same(api):
    doc = await fetch(api)
    _, openapi = await api.request("GET", "/api/openapi.json")
    ours, theirs = doc["components"]["schemas"], openapi["components"]["schemas"]
    shared = set(ours) & set(theirs)
    assert {"MessageOut", "RoomOut", "UserOut", "MemberOut", "ReactionOut"} <= shared, shared
    for name in shared:
        assert _unwrap(ours[name]) == theirs[name], name


async def test_schemas_keep_to_json_schema_draft_07(api):
    # AsyncAPI's default schema format is JSON Schema draft 07 (plus a few keywords of its own);
    # a keyword of 2020-12 would be ignored by AsyncAPI tools, and $defs would leave a ref dangling.
    allowed = {
        "$ref", "$id", "$comment", "title", "description", "default", "examples", "readOnly", "writeOnly", "type",
        "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
        "minLength", "pattern", "format", "items", "additionalItems", "maxItems", "minItems", "uniqueItems",
        "contains", "maxProperties", "minProperties", "required", "properties", "patternProperties",
        "additionalProperties", "dependencies", "propertyNames", "if", "then", "else", "allOf", "anyOf", "oneOf",
        "not", "discriminator", "externalDocs", "deprecated",
    }
    doc = await fetch(api)

    def check(schema: Any, where: str) -> None:
        if not isinstance(schema, dict):
            return
        assert set(schema) <= allowed, (where, set(schema) - allowed)
        if "$ref" in schema:
            assert set(schema) == {"$ref"}, (where, "siblings of $ref are ignored in draft 07")
            assert resolve(doc, schema) is not None
        for key, value in schema.items():
            if key in ("properties", "patternProperties"):
                for name, sub in value.items():
                    check(sub, f"{where}/{key}/{name}")
            elif key in ("allOf", "anyOf", "oneOf") or (key == "items" and isinstance(value, list)):
                for i, sub in enumerate(value):
                    check(sub, f"{where}/{key}/{i}")
            elif key in ("items", "not", "additionalProperties", "if", "then", "else", "contains", "propertyNames"):
                check(value, f"{where}/{key}")

    for name, schema in doc["components"]["schemas"].items():
        check(schema, name)


async def test_server_describes_the_socketio_endpoint_and_its_refusals(api):
    doc = await fetch(api)
    servers = doc["servers"].values()
    assert {srv["protocol"] for srv in servers} == {"ws", "http"}
    for srv in servers:
        assert srv["pathname"] == "/socket.io/"
        text = srv["description"]
        for words in ("Socket.IO protocol v5", "Engine.IO v4", "/chat", 'auth: {"token"', "connect_error"):
            assert words in text, words
        for reason in ("unauthorized", "rate_limited", "unavailable", "internal"):
            assert f"`{reason}`" in text, reason
        for requirement in srv["security"]:
            assert resolve(doc, requirement)["type"] in ("http", "httpApiKey")


async def test_openapi_document_and_swagger_ui_link_to_it(api, http):
    _, openapi = await api.request("GET", "/api/openapi.json")
    assert f"]({DOC})" in openapi["info"]["description"]  # Swagger UI renders it as a link at /api/docs
    async with http.get(api.base_url + "/api/docs") as response:
        assert response.status == 200
    assert (await fetch(api))["asyncapi"] == "3.0.0"


# -- the official parser -------------------------------------------------------------------


async def test_the_official_parser_accepts_the_document(api, parser, tmp_path):
    status, report = await run_parser(parser, await fetch(api), tmp_path)
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    for warning in (d for d in report["diagnostics"] if d["severity"] != "error"):
        print(f"{warning['severity']}: {warning['code']} at {warning['path'] or '/'}: {warning['message']}")
    assert errors == [] and status == 0 and report["valid"] is True, errors


def _without_version(doc: dict[str, Any]) -> None:
    del doc["asyncapi"]


def _dangling_ref(doc: dict[str, Any]) -> None:
    doc["components"]["messages"]["SendMessage"]["payload"] = {"$ref": "#/components/schemas/NoSuchShape"}


def _wrong_schema_type(doc: dict[str, Any]) -> None:
    doc["components"]["schemas"]["SendMessagePayload"]["properties"]["roomId"]["type"] = "text"


@pytest.mark.parametrize(("break_it", "where"), [
    (_without_version, ""),
    (_dangling_ref, "components/messages/SendMessage/payload"),
    (_wrong_schema_type, "components/schemas/SendMessagePayload"),
], ids=["no-asyncapi-version", "dangling-ref", "wrong-schema-type"])
async def test_the_parser_reports_a_broken_document(api, parser, tmp_path, break_it, where):
    doc = copy.deepcopy(await fetch(api))
    break_it(doc)
    status, report = await run_parser(parser, doc, tmp_path)
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert status == 1 and report["valid"] is False and report["errors"] == len(errors) >= 1, report
    assert any(e["path"].startswith(where) for e in errors), errors


# -- the wire ------------------------------------------------------------------------------


class WireCheck:
    """Checks real acks and events against the document's schemas (as JSON Schema draft 07)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.sends, self.receives = operations(doc, "send"), operations(doc, "receive")
        self._validators: dict[str, Any] = {}
        self.checked: set[str] = set()

    def _validator(self, schema_ref: dict[str, str]) -> Any:
        key = schema_ref["$ref"]
        if key not in self._validators:
            self._validators[key] = jsonschema_rs.Draft7Validator({**schema_ref, "components": self.doc["components"]})
        return self._validators[key]

    def _conforms(self, schema_ref: dict[str, str], value: Any) -> list[str]:
        """Problems of ``value`` against the schema (undeclared top-level keys included); empty when it conforms."""
        problems = [e.message for e in self._validator(schema_ref).iter_errors(value)]
        declared = set(resolve(self.doc, schema_ref).get("properties", {}))
        if isinstance(value, dict):
            problems += [f"undeclared key {k!r}" for k in set(value) - declared]
        return problems

    def ack(self, event: str, ack: Any) -> Any:
        replies = [resolve(self.doc, m)["payload"] for m in self.sends[event]["reply"]["messages"]]
        outcomes = [self._conforms(r, ack) for r in replies]
        assert any(not problems for problems in outcomes), (event, ack, outcomes)
        self.checked.add(f"ack:{event}:{'ok' if ack.get('ok') else ack['error']['code']}")
        return ack

    def events(self, *clients: Any) -> None:
        for client in clients:
            for name, data in client.received:
                payload = resolve(self.doc, self.receives[name]["messages"][0])["payload"]
                assert not self._conforms(payload, data), (name, data, self._conforms(payload, data))
                self.checked.add(name)


@pytest.mark.timeout(60)
async def test_acks_and_events_on_the_wire_match_the_document(api, connect):
    check = WireCheck(await fetch(api))
    alice, bob, carol = await api.register(), await api.register(), await api.register()
    lobby = await api.create_group(alice, [bob], name="lobby", is_public=True)
    a = await connect(alice)
    b = await connect(bob)
    await a.wait_for("UserOnline", lambda d: d["userId"] == bob.id)
    c = await connect(carol)
    room = lobby["id"]

    side = await api.create_group(alice, [bob], name="side")
    await b.wait_for("RoomCreated", lambda d: d["id"] == side["id"])
    sent = check.ack("SendMessage", await a.call("SendMessage", {"roomId": room, "content": "hello",
                                                                 "clientMessageId": "m1"}))["message"]
    await b.wait_for("ReceiveMessage", lambda d: d["id"] == sent["id"])
    check.ack("SendMessage", await a.call("SendMessage", {"roomId": "no-such-room", "content": "x"}))
    check.ack("SendMessage", await a.call("SendMessage", {"roomId": room, "content": "   "}))
    check.ack("SendTypingIndicator", await b.call("SendTypingIndicator", room, True))
    await a.wait_for("UserTyping", lambda d: d["isTyping"] is True)
    check.ack("MarkMessagesAsRead", await b.call("MarkMessagesAsRead", {"roomId": room}))
    await a.wait_for("MessagesRead", lambda d: d["userId"] == bob.id)
    check.ack("MarkMessagesAsRead", await a.call("MarkMessagesAsRead", {"roomId": side["id"]}))  # an empty room
    ref = {"roomId": room, "messageId": sent["id"]}
    check.ack("EditMessage", await a.call("EditMessage", {**ref, "content": "hello again"}))
    await b.wait_for("MessageUpdated", lambda d: d["content"] == "hello again")
    check.ack("AddReaction", await b.call("AddReaction", {**ref, "emoji": "👍"}))
    check.ack("RemoveReaction", await b.call("RemoveReaction", {**ref, "emoji": "👍"}))
    check.ack("EditMessage", await b.call("EditMessage", {**ref, "content": "not mine"}))  # forbidden
    check.ack("DeleteMessage", await a.call("DeleteMessage", ref))
    await b.wait_for("MessageDeleted", lambda d: d["id"] == sent["id"])

    check.ack("JoinChatRoom", await c.call("JoinChatRoom", room))
    await a.wait_for("UserJoinedRoom", lambda d: d["user"]["id"] == carol.id)
    assert (await api.request("PATCH", f"/api/chat/rooms/{room}", token=alice.token, json={"topic": "t"}))[0] == 200
    await c.wait_for("RoomUpdated", lambda d: d["topic"] == "t")
    until = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    status, _ = await api.request("PATCH", f"/api/chat/rooms/{room}/members/{carol.id}", token=alice.token,
                                  json={"mutedUntil": until})
    assert status == 200
    await c.wait_for("MemberUpdated", lambda d: d["userId"] == carol.id)
    check.ack("LeaveChatRoom", await c.call("LeaveChatRoom", room))
    await c.wait_for("RemovedFromRoom", lambda d: d["roomId"] == room)
    await a.wait_for("UserLeftRoom", lambda d: d["userId"] == carol.id)
    status, _ = await api.request("POST", f"/api/chat/rooms/{room}/members", token=alice.token,
                                  json={"userIds": [carol.id]})
    assert status == 200
    await c.wait_for("AddedToRoom", lambda d: d["id"] == room)
    await a.wait_for("UserJoinedRoom", lambda d: d["user"]["id"] == carol.id and d.get("addedBy") == alice.id)
    assert (await api.request("PATCH", "/api/auth/me", token=bob.token, json={"displayName": "Bob"}))[0] == 200
    await a.wait_for("UserUpdated", lambda d: d["id"] == bob.id)
    assert (await api.request("DELETE", f"/api/chat/rooms/{side['id']}", token=alice.token))[0] == 204
    await b.wait_for("RoomDeleted", lambda d: d["roomId"] == side["id"])
    await b.close()
    await a.wait_for("UserOffline", lambda d: d["userId"] == bob.id)

    check.events(a, b, c)
    # Every receive operation was seen and checked, but Resync (it needs a broken Redis link: tests/cluster).
    assert set(check.receives) - check.checked == {"Resync"}, set(check.receives) - check.checked
    assert {f"ack:{e}:ok" for e in check.sends} <= check.checked, check.checked
    assert {"ack:SendMessage:not_found", "ack:SendMessage:invalid", "ack:EditMessage:forbidden"} <= check.checked
