"""The server API, ``/api/server/*`` (contract section 8): the host application's backend, behind ``KALLEMNY_API_KEY``.

Users are named by their ``externalId``, rooms by their Kallemny id. The
app's users get Kallemny tokens from ``POST …/tokens`` and use the chat
like anyone else, over real sockets.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kallemny_sio.schemas import MessageOut, ReportItemOut, RoomOut, UserOut
from tests.api.conftest import CheckedApi
from tests.conftest import Account

from .helpers import (
    API_KEY,
    assert_conforms,
    assert_error,
    assert_iso,
    assert_token_refused,
    cut_within,
    message_path,
    on_disconnect,
    room_path,
    send,
    server_path,
)

pytestmark = pytest.mark.timeout(30)

ENDPOINTS = [
    ("PUT", server_path("users", "ext-1"), {"displayName": "One"}),
    ("DELETE", server_path("users", "ext-1"), None),
    ("POST", server_path("users", "ext-1", "tokens"), {}),
    ("POST", server_path("rooms"), {"type": "group", "name": "g", "createdBy": "ext-1", "memberIds": []}),
    ("POST", server_path("rooms", "r1", "members"), {"userIds": ["ext-1"]}),
    ("DELETE", server_path("rooms", "r1", "members", "ext-1"), None),
    ("POST", server_path("rooms", "r1", "messages"), {"content": "hello"}),
    ("GET", server_path("reports"), None),
]


@pytest.fixture
async def server(server_factory):
    """This suite's server has the server API on."""
    return await server_factory(api_key=API_KEY)


def ext() -> str:
    return f"app-user-{uuid.uuid4().hex[:8]}"


async def call(api, method: str, path: str, json: Any = None, params: Any = None) -> tuple[int, Any]:
    """A server API call with the right key."""
    return await api.request(method, path, token=API_KEY, json=json, params=params)


async def app_user(api, external_id: str | None = None, **fields: Any) -> Account:
    """Create the app's user over the server API and get a Kallemny token for it."""
    external_id = external_id or ext()
    status, user = await call(api, "PUT", server_path("users", external_id), fields)
    assert status == 201, user
    status, token = await call(api, "POST", server_path("users", external_id, "tokens"), {})
    assert status == 201, token
    return Account(token["token"], user)


async def server_room(api, creator: Account, members: list[Account], **fields: Any) -> dict[str, Any]:
    body = {"type": "group", "name": "app room", "createdBy": creator.user["externalId"],
            "memberIds": [m.user["externalId"] for m in members], **fields}
    status, room = await call(api, "POST", server_path("rooms"), body)
    assert status == 201, room
    return room


# -- the key --------------------------------------------------------------------------


async def test_without_the_setting_every_endpoint_is_404(server_factory, http):
    plain = await server_factory()
    api = CheckedApi(plain.url, http)
    for method, path, body in ENDPOINTS:
        for key in (None, API_KEY):
            status, answer = await api.request(method, path, token=key, json=body)
            assert_error(status, answer, 404, "not_found")


@pytest.mark.parametrize("header", [None, "Bearer ", "Bearer wrong-key-" + "w" * 40, f"Bearer {API_KEY}x",
                                    f"Bearer {API_KEY[:-1]}", f"Basic {API_KEY}", API_KEY],
                         ids=["missing", "empty", "wrong", "longer", "shorter", "basic", "no-scheme"])
async def test_a_missing_or_wrong_key_is_401_everywhere(api, header):
    headers = {"Authorization": header} if header is not None else {}
    for method, path, body in ENDPOINTS:
        status, answer = await api.request(method, path, json=body, headers=headers)
        assert_error(status, answer, 401, "unauthorized")
        assert API_KEY not in str(answer)


async def test_a_users_token_is_not_the_key(api):
    alice = await api.register()
    for method, path, body in ENDPOINTS:
        status, answer = await api.request(method, path, token=alice.token, json=body)
        assert_error(status, answer, 401, "unauthorized")


async def test_every_endpoint_is_in_the_openapi_document_with_its_own_security(api):
    status, doc = await api.request("GET", "/api/openapi.json")
    assert status == 200
    for method, path, _ in ENDPOINTS:
        template = (path.replace("/ext-1", "/{externalId}").replace("/r1", "/{roomId}"))
        matches = [p for p in doc["paths"] if p.replace("external_id", "externalId").replace("room_id", "roomId")
                   == template]
        assert matches, f"{method} {template} is not in the OpenAPI document"
        operation = doc["paths"][matches[0]][method.lower()]
        assert operation.get("security"), f"{method} {template} declares no security"


# -- users ---------------------------------------------------------------------------


async def test_put_user_creates_then_updates(api):
    external_id = ext()
    status, user = await call(api, "PUT", server_path("users", external_id), {"displayName": "Ann"})
    assert status == 201, user
    assert_conforms(UserOut, user)
    assert user["externalId"] == external_id and user["displayName"] == "Ann" and user["username"] == external_id
    status, again = await call(api, "PUT", server_path("users", external_id),
                               {"displayName": "Ann B", "username": "ann_b_" + external_id[-4:]})
    assert status == 200, again
    assert again == {**user, "displayName": "Ann B", "username": "ann_b_" + external_id[-4:]}


async def test_put_user_without_names_derives_them_from_the_external_id(api):
    external_id = "auth0|" + uuid.uuid4().hex
    status, user = await call(api, "PUT", server_path("users", external_id), {})
    assert status == 201, user
    assert user["displayName"] == external_id and user["externalId"] == external_id
    assert 3 <= len(user["username"]) <= 32 and user["username"] != external_id


async def test_put_user_with_a_taken_username_is_409(api):
    alice = await api.register()
    status, body = await call(api, "PUT", server_path("users", ext()), {"username": alice.username.upper()})
    assert_error(status, body, 409, "conflict")


@pytest.mark.parametrize("external_id,body,field", [
    ("ok-id", {"username": "a"}, "username"),
    ("ok-id", {"username": "has space"}, "username"),
    ("ok-id", {"displayName": ""}, "displayName"),
    ("ok-id", {"displayName": "x" * 65}, "displayName"),
    ("x" * 129, {}, "externalId"),
])
async def test_put_user_validates(api, external_id, body, field):
    status, answer = await call(api, "PUT", server_path("users", external_id), body)
    assert_error(status, answer, 400, "invalid", field=field)


async def test_a_renamed_user_reaches_contacts_as_user_updated(api, connect):
    ann, ben = await app_user(api, displayName="Ann"), await app_user(api)
    await server_room(api, ann, [ben])
    b = await connect(ben)
    status, user = await call(api, "PUT", server_path("users", ann.user["externalId"]), {"displayName": "Annie"})
    assert status == 200, user
    got = await b.wait_for("UserUpdated", lambda u: u["id"] == ann.id)
    assert got["displayName"] == "Annie" and got["externalId"] == ann.user["externalId"]


async def test_issued_tokens_work_for_rest_and_socket_and_expire_as_asked(api, connect):
    ann = await app_user(api)
    status, me = await api.request("GET", "/api/auth/me", token=ann.token)
    assert status == 200 and me["id"] == ann.id and me["externalId"] == ann.user["externalId"]
    room = await server_room(api, ann, [])
    client = await connect(ann)
    await send(client, room["id"], "hello")
    status, short = await call(api, "POST", server_path("users", ann.user["externalId"], "tokens"),
                               {"expiresInMinutes": 5})
    assert status == 201 and set(short) == {"token", "expiresAt"}, short
    left = assert_iso(short["expiresAt"]) - datetime.now(timezone.utc)
    assert timedelta(minutes=4) < left <= timedelta(minutes=5, seconds=1), left
    assert (await api.request("GET", "/api/auth/me", token=short["token"]))[0] == 200


@pytest.mark.parametrize("body", [{"expiresInMinutes": 0}, {"expiresInMinutes": 525_601}, {"expiresInMinutes": "5"}])
async def test_token_lifetime_is_validated(api, body):
    ann = await app_user(api)
    status, answer = await call(api, "POST", server_path("users", ann.user["externalId"], "tokens"), body)
    assert_error(status, answer, 400, "invalid", field="expiresInMinutes")


async def test_a_token_for_an_unknown_user_is_404(api):
    status, answer = await call(api, "POST", server_path("users", ext(), "tokens"), {})
    assert_error(status, answer, 404, "not_found")


async def test_deleting_a_user_refuses_its_tokens_cuts_it_and_ends_its_memberships(api, server, connect):
    ann, ben = await app_user(api), await app_user(api)
    room = await server_room(api, ann, [ben])
    a, b = await connect(ann), await connect(ben)
    message = await send(a, room["id"], "before I go")
    ended = on_disconnect(a)

    status, body = await call(api, "DELETE", server_path("users", ann.user["externalId"]))
    assert status == 204, body
    await cut_within(ended, "the deleted user's socket")
    await assert_token_refused(api, server.url, ann.token)
    left = await b.wait_for("UserLeftRoom", lambda d: d["roomId"] == room["id"])
    assert left == {"roomId": room["id"], "userId": ann.id, "reason": "removed"}
    history = await api.history(ben, room["id"])
    assert [m["id"] for m in history["messages"]] == [message["id"]]
    status, body = await call(api, "DELETE", server_path("users", ann.user["externalId"]))
    assert_error(status, body, 404, "not_found")
    status, body = await call(api, "POST", server_path("users", ann.user["externalId"], "tokens"), {})
    assert_error(status, body, 404, "not_found")
    status, again = await call(api, "PUT", server_path("users", ann.user["externalId"]), {})
    assert status == 201 and again["id"] != ann.id, again


async def test_deleting_an_unknown_user_is_404(api):
    status, body = await call(api, "DELETE", server_path("users", ext()))
    assert_error(status, body, 404, "not_found")


# -- rooms -----------------------------------------------------------------------------


async def test_create_a_group_named_by_external_ids(api, connect):
    ann, ben = await app_user(api), await app_user(api)
    b = await connect(ben)
    room = await server_room(api, ann, [ben], name="launch", isPublic=True)
    assert_conforms(RoomOut, room)
    assert room["type"] == "group" and room["name"] == "launch" and room["isPublic"] is True
    assert room["createdBy"] == ann.id
    assert {m["id"]: (m["role"], m["externalId"]) for m in room["members"]} == {
        ann.id: ("owner", ann.user["externalId"]), ben.id: ("member", ben.user["externalId"])}
    created = await b.wait_for("RoomCreated", lambda r: r["id"] == room["id"])
    assert {m["id"] for m in created["members"]} == {ann.id, ben.id}


async def test_a_private_room_is_created_once(api):
    ann, ben = await app_user(api), await app_user(api)
    body = {"type": "private", "createdBy": ann.user["externalId"], "memberIds": [ben.user["externalId"]]}
    status, first = await call(api, "POST", server_path("rooms"), body)
    assert status == 201, first
    assert first["type"] == "private" and {m["id"] for m in first["members"]} == {ann.id, ben.id}
    status, again = await call(api, "POST", server_path("rooms"), body)
    assert status == 200 and again["id"] == first["id"], again


async def test_an_unknown_member_external_id_is_invalid(api):
    ann = await app_user(api)
    missing = ext()
    status, body = await call(api, "POST", server_path("rooms"), {
        "type": "group", "name": "g", "createdBy": ann.user["externalId"], "memberIds": [missing]})
    message = assert_error(status, body, 400, "invalid", field="externalId")
    assert missing in message


async def test_add_members_needs_no_role_and_announces(api, connect):
    ann, ben, cal = await app_user(api), await app_user(api), await app_user(api)
    room = await server_room(api, ann, [ben])
    a, c = await connect(ann), await connect(cal)
    status, body = await call(api, "POST", server_path("rooms", room["id"], "members"),
                              {"userIds": [cal.user["externalId"]]})
    assert status == 200, body
    assert_conforms(RoomOut, body)
    assert cal.id in {m["id"] for m in body["members"]}
    added = await c.wait_for("AddedToRoom", lambda r: r["id"] == room["id"])
    assert added["myRole"] == "member"
    joined = await a.wait_for("UserJoinedRoom", lambda d: d["roomId"] == room["id"])
    assert joined["user"]["id"] == cal.id and joined["addedBy"] is None
    status, body = await call(api, "POST", server_path("rooms", room["id"], "members"), {"userIds": [ext()]})
    assert_error(status, body, 400, "invalid", field="externalId")


async def test_remove_member_needs_no_role_and_announces(api, connect):
    ann, ben = await app_user(api), await app_user(api)
    room = await server_room(api, ann, [ben])
    a, b = await connect(ann), await connect(ben)
    status, body = await call(api, "DELETE", server_path("rooms", room["id"], "members", ann.user["externalId"]))
    assert status == 204, body  # the owner, which no member could remove
    removed = await a.wait_for("RemovedFromRoom", lambda d: d["roomId"] == room["id"])
    assert removed == {"roomId": room["id"], "reason": "removed"}
    left = await b.wait_for("UserLeftRoom", lambda d: d["roomId"] == room["id"])
    assert left == {"roomId": room["id"], "userId": ann.id, "reason": "removed"}
    status, body = await call(api, "DELETE", server_path("rooms", room["id"], "members", ann.user["externalId"]))
    assert_error(status, body, 404, "not_found")
    status, body = await call(api, "DELETE", server_path("rooms", room["id"], "members", ext()))
    assert_error(status, body, 404, "not_found")


async def test_unknown_room_is_404(api):
    ann = await app_user(api)
    for method, parts, body in [("POST", ("members",), {"userIds": [ann.user["externalId"]]}),
                                ("DELETE", ("members", ann.user["externalId"]), None),
                                ("POST", ("messages",), {"content": "hello"})]:
        status, answer = await call(api, method, server_path("rooms", "no-such-room", *parts), body)
        assert_error(status, answer, 404, "not_found")


# -- messages ----------------------------------------------------------------------------


async def test_a_system_message_reaches_every_member(api, connect):
    ann, ben = await app_user(api), await app_user(api)
    room = await server_room(api, ann, [ben])
    a, b = await connect(ann), await connect(ben)
    status, message = await call(api, "POST", server_path("rooms", room["id"], "messages"),
                                 {"content": "Ben joined the project", "customData": {"kind": "joined"},
                                  "clientMessageId": "sys-1"})
    assert status == 201, message
    assert_conforms(MessageOut, message)
    assert (message["type"], message["senderId"], message["senderUsername"]) == ("system", None, None)
    assert message["customData"] == {"kind": "joined"} and message["clientMessageId"] == "sys-1"
    for client in (a, b):
        assert await client.wait_for("ReceiveMessage", lambda m: m["id"] == message["id"]) == message
    assert (await api.history(ben, room["id"]))["messages"] == [message]


async def test_a_message_on_behalf_of_a_member(api, connect):
    ann, ben = await app_user(api), await app_user(api)
    room = await server_room(api, ann, [ben])
    b = await connect(ben)
    status, message = await call(api, "POST", server_path("rooms", room["id"], "messages"),
                                 {"senderExternalId": ann.user["externalId"], "content": "from Ann's backend"})
    assert status == 201, message
    assert (message["type"], message["senderId"], message["senderUsername"]) == ("user", ann.id, ann.username)
    assert await b.wait_for("ReceiveMessage", lambda m: m["id"] == message["id"]) == message


async def test_a_sender_who_is_not_a_member_is_forbidden(api):
    ann, ben, cal = await app_user(api), await app_user(api), await app_user(api)
    room = await server_room(api, ann, [ben])
    status, body = await call(api, "POST", server_path("rooms", room["id"], "messages"),
                              {"senderExternalId": cal.user["externalId"], "content": "let me in"})
    assert_error(status, body, 403, "forbidden")
    assert (await api.history(ann, room["id"]))["messages"] == []


@pytest.mark.parametrize("body,field", [({"content": "   "}, "content"), ({"content": "x" * 4001}, "content"),
                                        ({}, "content"), ({"content": "hi", "customData": [1]}, "customData")])
async def test_message_body_is_validated(api, body, field):
    ann = await app_user(api)
    room = await server_room(api, ann, [])
    status, answer = await call(api, "POST", server_path("rooms", room["id"], "messages"), body)
    assert_error(status, answer, 400, "invalid", field=field)


# -- reports -----------------------------------------------------------------------------


async def test_reports_are_listed_oldest_first_with_the_message_as_reported(api, connect):
    alice, bob = await api.register(), await api.register()
    room = await api.create_group(alice, [bob], name="reported")
    a = await connect(alice)
    messages = [await send(a, room["id"], f"rude {i}") for i in range(3)]
    report_ids = []
    for i, message in enumerate(messages):
        status, body = await api.request("POST", message_path(room["id"], message["id"]) + "/reports",
                                         token=bob.token, json={"reason": f"reason {i}"})
        assert status == 202, body
        report_ids.append(body["id"])
    status, edited = await api.request("PATCH", message_path(room["id"], messages[0]["id"]), token=alice.token,
                                       json={"content": "polite now"})
    assert status == 200, edited

    status, page = await call(api, "GET", server_path("reports"), params={"limit": "2"})
    assert status == 200, page
    assert set(page) == {"reports", "hasMore"} and page["hasMore"] is True
    assert [r["id"] for r in page["reports"]] == report_ids[:2]
    first = page["reports"][0]
    assert_conforms(ReportItemOut, first)
    assert (first["roomId"], first["messageId"], first["reporterId"], first["reason"]) == (
        room["id"], messages[0]["id"], bob.id, "reason 0")
    assert first["message"] == messages[0]  # as it was when reported, not as edited
    assert_iso(first["createdAt"])

    status, rest = await call(api, "GET", server_path("reports"), params={"after": report_ids[1], "limit": "2"})
    assert status == 200 and rest["hasMore"] is False, rest
    assert [r["id"] for r in rest["reports"]] == report_ids[2:]
    status, everything = await call(api, "GET", server_path("reports"))
    assert [r["id"] for r in everything["reports"]] == report_ids and everything["hasMore"] is False


@pytest.mark.parametrize("limit", ["0", "501", "many"])
async def test_reports_limit_is_validated(api, limit):
    status, body = await call(api, "GET", server_path("reports"), params={"limit": limit})
    assert_error(status, body, 400, "invalid", field="limit")


async def test_no_reports_is_an_empty_page(api):
    status, page = await call(api, "GET", server_path("reports"))
    assert (status, page) == (200, {"reports": [], "hasMore": False})


async def test_the_server_api_does_not_open_the_chat_api(api):
    status, body = await api.request("GET", "/api/chat/rooms", token=API_KEY)
    assert_error(status, body, 401, "unauthorized")
    status, body = await api.request("GET", room_path("any"), token=API_KEY)
    assert status == 401, body
