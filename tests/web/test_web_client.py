"""The web chat client in a real browser: two users in two browser contexts against a real server.

Each test drives the page only through the DOM the client promises (ids,
classes, data attributes) and waits with Playwright's expectations, never with
sleeps. Set-up that is not under test (a second room, a message from another
device) goes through the REST and Socket.IO test clients.
"""

from __future__ import annotations

import asyncio
import collections
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.conftest import Api, RunningServer
from tests.web.conftest import LOOP, WebUser, client_message_id, expect

if TYPE_CHECKING:
    from playwright.async_api import Dialog, Locator, Page, Route

pytestmark = pytest.mark.asyncio(loop_scope=LOOP)

PHONE = {"width": 390, "height": 844}


async def group_with(api: Api, owner: WebUser, members: list[WebUser], name: str) -> str:
    """A group made over REST; waits until every page lists it (live, through RoomCreated)."""
    status, room = await api.request("POST", "/api/chat/rooms", token=owner.token, json={
        "type": "group", "name": name, "memberIds": [m.id for m in members]})
    assert status == 201, room
    for user in (owner, *members):
        await expect(user.room(room["id"]).locator(".room-name")).to_have_text(name)
    return room["id"]


async def two_in_a_group(users, api: Api, name: str, **options) -> tuple[WebUser, WebUser, str]:
    """Alice and Bob, each on a page, in a group Alice made, both with the room open."""
    alice = await users("alice", **options)
    bob = await users("bob", **options)
    room = await group_with(api, alice, [bob], name)
    await alice.open_room(room, name)
    await bob.open_room(room, name)
    return alice, bob, room


async def stored_contents(api: Api, user: WebUser, room_id: str) -> dict[str, str]:
    """The room's history as the server stored it: ``{id: content}``."""
    status, page = await api.request("GET", f"/api/chat/rooms/{room_id}/messages", token=user.token,
                                     params={"limit": "100"})
    assert status == 200, page
    return {m["id"]: m["content"] for m in page["messages"]}


def is_room_list(url: str) -> bool:
    return urlsplit(url).path == "/api/chat/rooms"


async def hover_and_click(message: Locator, selector: str) -> None:
    """Message actions may show only on hover: hover the message, then click the action."""
    await message.hover()
    await message.locator(selector).click()


# -- (a) rooms and chat both ways ---------------------------------------------------------------


async def test_two_users_register_create_a_group_in_the_dialog_and_chat_both_ways(users, web_api) -> None:
    alice = await users("alice")
    bob = await users("bob")

    page = alice.page
    await page.locator("#new-room-button").click()
    dialog = page.locator("dialog#new-room-dialog")
    await expect(dialog).to_be_visible()
    await dialog.locator("#room-kind").select_option("group")
    await dialog.locator("#room-name-input").fill("Project room")
    await dialog.locator("#user-search").fill(bob.username[:8])
    await dialog.locator(f'#user-results li[data-user-id="{bob.id}"] button.pick-user').click()
    await expect(dialog.locator(f'#picked-users li[data-user-id="{bob.id}"]')).to_have_count(1)
    await dialog.locator("#create-room-button").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#room-title")).to_have_text("Project room")

    status, rooms = await web_api.request("GET", "/api/chat/rooms", token=alice.token)
    assert status == 200 and [r["name"] for r in rooms] == ["Project room"], rooms
    room_id = rooms[0]["id"]
    assert sorted(m["id"] for m in rooms[0]["members"]) == sorted([alice.id, bob.id])

    await expect(bob.room(room_id).locator(".room-name")).to_have_text("Project room")   # live, no reload
    await bob.open_room(room_id, "Project room")

    hello = await alice.send("Hello Bob, this is Alice")
    at_bob = bob.message("Hello Bob, this is Alice")
    await expect(at_bob).to_have_count(1)
    await expect(at_bob.locator(".message-author")).to_contain_text(alice.username)

    await bob.send("Hi Alice, Bob here")
    at_alice = alice.message("Hi Alice, Bob here")
    await expect(at_alice).to_have_count(1)
    await expect(at_alice.locator(".message-author")).to_contain_text(bob.username)

    stored = await stored_contents(web_api, alice, room_id)
    hello_id = await hello.get_attribute("data-message-id")
    assert stored == {hello_id: "Hello Bob, this is Alice",
                      await at_alice.get_attribute("data-message-id"): "Hi Alice, Bob here"}
    await expect(at_bob).to_have_attribute("data-message-id", hello_id)
    await expect(alice.page.locator(".seen-by")).to_have_text(f"Seen by {bob.username}")   # Bob's page read it
    for user in (alice, bob):
        await expect(user.messages).to_have_count(2)


async def test_a_private_room_made_in_the_dialog_is_named_after_the_other_user(users) -> None:
    alice = await users("alice")
    bob = await users("bob")

    page = alice.page
    await page.locator("#new-room-button").click()
    dialog = page.locator("dialog#new-room-dialog")
    await dialog.locator("#room-kind").select_option("private")
    await dialog.locator("#user-search").fill(bob.username)
    await dialog.locator(f'#user-results li[data-user-id="{bob.id}"] button.pick-user').click()
    await dialog.locator("#create-room-button").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#room-title")).to_contain_text(bob.username)

    await alice.send("Just between us")
    entry = bob.page.locator("#room-list li.room").filter(has_text=alice.username)
    await expect(entry).to_have_count(1)
    await expect(entry.locator(".presence-dot")).to_have_attribute("data-online", "true")
    await entry.click()
    await expect(bob.page.locator("#room-title")).to_contain_text(alice.username)
    await expect(bob.message("Just between us")).to_have_count(1)


async def test_a_room_created_while_the_room_list_loads_stays_listed(users, web_api) -> None:
    """The room list's answer can arrive after a RoomCreated that it does not hold yet: the room stays."""
    alice = await users("alice")
    bob = await users("bob")
    late = LateRoomList()
    page = bob.page
    await page.add_init_script(WATCH_ROOM_LISTS)
    await page.route(is_room_list, late.handle)
    try:
        await page.reload()                                   # the page asks for its room list again
        await expect(bob.status).to_have_attribute("data-state", "connected")
        asked = await page.evaluate("() => window.roomLists.asked")
        await late.answered_by_server(asked)

        status, room = await web_api.request("POST", "/api/chat/rooms", token=alice.token, json={
            "type": "group", "name": "Made meanwhile", "memberIds": [bob.id]})
        assert status == 201, room
        await expect(bob.room(room["id"])).to_have_count(1)   # live, through RoomCreated
    finally:
        late.deliver()                                        # answers from before the room existed
    await page.wait_for_function("asked => window.roomLists.read >= asked", arg=asked)
    await page.evaluate("() => new Promise(done => requestAnimationFrame(() => setTimeout(done)))")  # drawn
    await expect(bob.room(room["id"]).locator(".room-name")).to_have_text("Made meanwhile", timeout=1_000)
    await bob.open_room(room["id"], "Made meanwhile")


# Counts the page's room-list requests when it makes them (the route sees them a little later) and the
# answers it has read (counted in a task after the read, so after the code that awaited it has run).
WATCH_ROOM_LISTS = """(() => {
  const isRoomList = (url) => new URL(url, location.href).pathname === "/api/chat/rooms";
  window.roomLists = { asked: 0, read: 0 };
  const fetch = window.fetch;
  window.fetch = function (input, init) {
    const url = input instanceof Request ? input.url : String(input);
    if (isRoomList(url) && (init?.method ?? "GET") === "GET") window.roomLists.asked += 1;
    return fetch.apply(this, arguments);
  };
  const json = Response.prototype.json;
  Response.prototype.json = function () {
    const body = json.call(this);
    if (isRoomList(this.url)) {
      const read = () => setTimeout(() => { window.roomLists.read += 1; });
      body.then(read, read);
    }
    return body;
  };
})()"""


class LateRoomList:
    """Holds the page's room-list answers: each is read from the server at once and reaches the page later."""

    def __init__(self) -> None:
        self.answered = 0
        self.changed = asyncio.Condition()
        self.released = asyncio.Event()

    async def handle(self, route: Route) -> None:
        if route.request.method != "GET":
            await route.continue_()
            return
        response = await route.fetch()
        async with self.changed:
            self.answered += 1
            self.changed.notify_all()
        await self.released.wait()
        await route.fulfill(response=response)

    async def answered_by_server(self, requests: int) -> None:
        """Wait until the server has answered the first ``requests`` room-list requests."""
        assert requests >= 1, "the page did not ask for its room list"
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: self.answered >= requests), 10)

    def deliver(self) -> None:
        self.released.set()


# -- (b) typing and unread badges -----------------------------------------------------------------


async def test_typing_and_unread_badges_are_seen_by_the_other_user(users, web_api) -> None:
    alice = await users("alice")
    bob = await users("bob")
    busy = await group_with(web_api, alice, [bob], "Busy room")
    quiet = await group_with(web_api, alice, [bob], "Quiet room")
    await alice.open_room(busy, "Busy room")
    await bob.open_room(busy, "Busy room")

    await alice.page.locator("#message-input").press_sequentially("I am wri")
    await expect(bob.page.locator("#typing")).to_contain_text(f"{alice.username} is typing")
    await expect(alice.page.locator("#typing")).not_to_contain_text(alice.username)     # not one's own
    await alice.page.locator("#message-input").press("Enter")
    await expect(bob.message("I am wri")).to_have_count(1)
    await expect(bob.page.locator("#typing")).not_to_contain_text(alice.username)       # sending ends typing

    await bob.open_room(quiet, "Quiet room")
    badge = bob.room(busy).locator(".unread-badge")
    await expect(badge).to_be_hidden()          # the first message arrived while Bob had the room open
    await alice.send("first while Bob is away")
    await alice.send("second while Bob is away")
    await expect(badge).to_have_text("2")
    await expect(badge).to_be_visible()
    await expect(bob.page.locator("#room-list li.room").first).to_have_attribute("data-room-id", busy)
    await expect(alice.room(busy).locator(".unread-badge")).to_be_hidden()               # one's own messages

    await bob.open_room(busy, "Busy room")
    await expect(badge).to_be_hidden()
    await expect(bob.message("second while Bob is away")).to_have_count(1)
    status, rooms = await web_api.request("GET", "/api/chat/rooms", token=bob.token)
    assert status == 200
    assert {r["id"]: r["unreadCount"] for r in rooms}[busy] == 0, "opening the room should mark it read"


# -- (c) reactions, edits and deletion live ---------------------------------------------------------


async def test_a_reaction_an_edit_and_a_deletion_appear_live_at_the_other_user(users, web_api) -> None:
    alice, bob, room = await two_in_a_group(users, web_api, "Live changes")
    mine = await alice.send("A first draft")
    theirs = bob.message("A first draft")
    await expect(theirs).to_have_count(1)
    await expect(theirs.locator("button.edit-button")).to_have_count(0)      # only one's own messages

    await hover_and_click(theirs, "button.react-button")
    await bob.page.locator('button.emoji-choice[data-emoji="👍"]').first.click()
    at_bob = theirs.locator('.reactions button.reaction[data-emoji="👍"]')
    at_alice = mine.locator('.reactions button.reaction[data-emoji="👍"]')
    await expect(at_bob).to_have_text("👍 1")
    await expect(at_bob).to_have_attribute("aria-pressed", "true")
    await expect(at_alice).to_have_text("👍 1")
    await expect(at_alice).not_to_have_attribute("aria-pressed", "true")

    await hover_and_click(mine, "button.edit-button")
    editor = mine.locator("input.edit-input")
    await editor.fill("The final version")
    await editor.press("Enter")
    edited = bob.message("The final version")
    await expect(edited).to_have_count(1)
    await expect(edited.locator(".edited-mark")).to_have_text("(edited)")
    await expect(edited.locator(".reactions button.reaction")).to_have_count(1)     # the edit keeps reactions
    await expect(alice.message("The final version").locator(".edited-mark")).to_have_text("(edited)")

    alice.page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    mine = alice.message("The final version")
    message_id = await mine.get_attribute("data-message-id")
    await hover_and_click(mine, "button.delete-button")
    for user in (alice, bob):
        tombstone = user.page.locator(f'#messages li.message[data-message-id="{message_id}"]')
        await expect(tombstone).to_have_class(re.compile(r"\bdeleted\b"))
        await expect(tombstone.locator(".message-content")).to_have_text("This message was deleted")
        await expect(tombstone.locator(".reactions button.reaction")).to_have_count(0)
        await expect(tombstone.locator(".edited-mark")).to_have_count(0)


# -- (d) a restart while both sides send ------------------------------------------------------------


@pytest.mark.timeout(90)
async def test_after_a_server_restart_both_pages_hold_every_message_exactly_once(
        users, web_api, web_server: RunningServer, sockets) -> None:
    alice, bob, room = await two_in_a_group(users, web_api, "Through a restart")
    await alice.send("before the restart, from Alice")
    await bob.send("before the restart, from Bob")
    await expect(alice.messages).to_have_count(2)

    await web_server.stop()
    for user in (alice, bob):
        await expect(user.status).not_to_have_attribute("data-state", "connected")
    pending = await alice.send("sent by Alice while the server is down", wait_sent=False)
    await expect(pending).to_have_attribute("data-state", "pending")

    # Alice's tab stays offline until Bob's other device has sent: she has to catch up on that message.
    await alice.context.set_offline(True)
    await web_server.start()              # same port, same database file
    other_device = await sockets(bob)
    ack = await other_device.call("SendMessage", {"roomId": room, "content": "from Bob's other device",
                                                  "clientMessageId": client_message_id()})
    assert ack["ok"], ack

    # Her room list answers only after her message's ack has come back (a REST answer slower than the
    # socket): what she missed is still what came after what she held when the connection dropped.
    acked = asyncio.Event()

    async def slow_room_list(route: Route) -> None:
        await acked.wait()
        await route.continue_()

    await alice.page.route(is_room_list, slow_room_list)
    await alice.context.set_offline(False)
    try:
        await expect(pending).to_have_attribute("data-state", "sent", timeout=30_000)
    finally:
        acked.set()
    await expect(bob.status).to_have_attribute("data-state", "connected", timeout=30_000)
    await bob.send("after the restart, from Bob's page")

    stored = await stored_contents(web_api, alice, room)
    assert sorted(stored.values()) == sorted([
        "before the restart, from Alice", "before the restart, from Bob", "sent by Alice while the server is down",
        "from Bob's other device", "after the restart, from Bob's page"]), stored
    for user in (alice, bob):
        await expect_exactly_once(user, stored)


async def expect_exactly_once(user: WebUser, stored: dict[str, str]) -> None:
    """Wait until the page shows as many messages as the history holds; then each of them, once, sent."""
    try:
        await expect(user.messages).to_have_count(len(stored), timeout=15_000)
    except AssertionError:
        raise AssertionError(f"{user.label}'s page shows {await user.shown_messages()}; the history holds {stored}")
    shown = await user.shown_messages()
    counts = collections.Counter(m["id"] for m in shown)
    assert all(n == 1 for n in counts.values()), f"{user.label}'s page shows a message twice: {shown}"
    assert {m["id"]: m["content"] for m in shown} == stored, f"{user.label}'s page differs from history: {shown}"
    assert {m["state"] for m in shown} == {"sent"}, shown


# -- (e, f) signing in and out ----------------------------------------------------------------------


async def test_a_token_in_the_address_fragment_signs_in_and_leaves_the_address(users, web_api) -> None:
    account = await web_api.register()
    carol = await users("carol", register=False)
    carol.username = account.username

    await carol.open(f"/#token={account.token}")
    await carol.expect_signed_in()
    assert carol.token == account.token
    await expect(carol.page).not_to_have_url(re.compile("token"))

    await carol.page.reload()             # the token stays for the tab's session
    await expect(carol.page.locator("#me")).to_contain_text(account.username)
    await expect(carol.status).to_have_attribute("data-state", "connected")


async def test_sign_out_then_sign_in_again(users, web_api) -> None:
    alice = await users("alice")
    page = alice.page
    old_token = alice.token

    async with page.expect_response(lambda r: r.url.endswith("/api/auth/logout")) as logout:
        await page.locator("#logout-button").click()
    assert (await logout.value).status == 204
    await expect(page.locator("#auth-form")).to_be_visible()
    await expect(page.locator("#me")).not_to_be_visible()
    assert await alice.stored_token() is None
    status, _ = await web_api.request("GET", "/api/auth/me", token=old_token)
    assert status == 401, "the signed-out token should be refused by the server"
    await page.reload()
    await expect(page.locator("#auth-form")).to_be_visible()

    await page.locator("#username").fill(alice.username)
    await page.locator("#password").fill("not the password")
    await page.locator("#login-button").click()
    await expect(page.locator("#auth-error")).to_have_text(re.compile(r"\w"))
    await expect(page.locator("#me")).not_to_be_visible()

    await page.locator("#password").fill("correct horse battery")
    await page.locator("#login-button").click()
    await alice.expect_signed_in()
    assert alice.token != old_token
    await expect(page.locator("#auth-error")).to_have_text("")


# -- (g, h) a phone-width screen and the keyboard ----------------------------------------------------------


async def test_on_a_phone_width_screen_a_room_opens_and_a_message_is_sent(users, web_api) -> None:
    alice = await users("alice", viewport=PHONE, is_mobile=True, has_touch=True)
    bob = await users("bob")
    room = await group_with(web_api, bob, [alice], "Pocket room")
    await bob.open_room(room, "Pocket room")
    page = alice.page
    width = await page.evaluate("() => [window.innerWidth, document.documentElement.scrollWidth]")
    assert width == [390, 390], f"page width, scroll width on a 390 px phone: {width}"

    await alice.room(room).click()
    await expect(page.locator("#room-title")).to_have_text("Pocket room")
    await expect(page.locator("#room-list")).not_to_be_in_viewport()     # the list and the room are two views
    await expect(page.locator("#message-input")).to_be_in_viewport()
    await page.locator("#message-input").fill("Sent from a phone")
    await page.locator("#send-button").click()
    await expect(alice.message("Sent from a phone")).to_have_attribute("data-state", "sent")
    await expect(bob.message("Sent from a phone")).to_have_count(1)

    await page.locator("#back-button").click()
    await expect(alice.room(room)).to_be_in_viewport()


async def test_a_message_is_sent_with_the_keyboard_only(users, web_api) -> None:
    alice = await users("alice")
    bob = await users("bob")
    room = await group_with(web_api, bob, [alice], "Keyboard room")
    await bob.open_room(room, "Keyboard room")
    page = alice.page
    await page.evaluate("() => document.activeElement && document.activeElement.blur()")

    await tab_to(page, f'li.room[data-room-id="{room}"], li.room[data-room-id="{room}"] *')
    await page.keyboard.press("Enter")
    await expect(page.locator("#room-title")).to_have_text("Keyboard room")
    await tab_to(page, "#message-input")
    await page.keyboard.type("typed with keys")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("on two lines")
    await page.keyboard.press("Enter")

    await expect(page.locator("#message-input")).to_have_value("")
    await expect(bob.message("on two lines")).to_have_count(1)
    assert list((await stored_contents(web_api, alice, room)).values()) == ["typed with keys\non two lines"]


async def tab_to(page: Page, selector: str, presses: int = 40) -> None:
    """Press Tab until the focused element matches ``selector`` (or fail after ``presses``)."""
    for _ in range(presses):
        if await page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{presses} presses of Tab never reached {selector}")


# -- (i-l) managing a group, blocks and reports (contract section 7) ----------------------------------------------


def answer_next_dialog(page: Page, *, accept: bool = True, text: str | None = None) -> asyncio.Future[str]:
    """Accept (with ``text`` for a prompt) or dismiss the page's next dialog; the future says its kind."""
    kind: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def answer(dialog: Dialog) -> None:
        kind.set_result(dialog.type)
        if not accept:
            await dialog.dismiss()
        elif text is not None:
            await dialog.accept(text)
        else:
            await dialog.accept()

    page.once("dialog", lambda dialog: asyncio.ensure_future(answer(dialog)))
    return kind


async def open_settings(user: WebUser) -> Locator:
    await user.page.locator("#room-settings-button").click()
    dialog = user.page.locator("dialog#room-settings")
    await expect(dialog).to_be_visible()
    return dialog


def member_item(dialog: Locator, user: WebUser) -> Locator:
    return dialog.locator(f'#member-list li[data-user-id="{user.id}"]')


async def member_of(api: Api, viewer: WebUser, room_id: str, user: WebUser) -> dict | None:
    """``user`` as a member of the room, as the server lists it to ``viewer`` (None: not a member)."""
    status, rooms = await api.request("GET", "/api/chat/rooms", token=viewer.token)
    assert status == 200, rooms
    room = next(r for r in rooms if r["id"] == room_id)
    return next((m for m in room["members"] if m["id"] == user.id), None)


async def test_an_owner_mutes_a_member_in_the_dialog_who_is_refused_until_unmuted(users, web_api) -> None:
    alice, bob, room = await two_in_a_group(users, web_api, "Quiet please", timezone_id="UTC")
    dialog = await open_settings(alice)
    await expect(member_item(dialog, alice).locator("button")).to_have_count(0)       # not on the owner (herself)
    bobs = member_item(dialog, bob)

    before = datetime.now(timezone.utc)
    await bobs.locator("button.mute-button").click()
    await expect(bobs.locator("button.unmute-button")).to_be_visible()
    muted = (await member_of(web_api, alice, room, bob))["mutedUntil"]
    until = datetime.fromisoformat(muted.replace("Z", "+00:00"))
    assert timedelta(minutes=59) <= until - before <= timedelta(minutes=61), (before, muted)
    await expect(bobs.locator(".muted-until")).to_have_text(f"Muted until {until:%H:%M}")
    notice = bob.page.locator("#muted-notice")
    await expect(notice).to_have_text(f"You are muted until {until:%H:%M}")          # live, from MemberUpdated

    refused = await bob.send("said while muted", wait_sent=False)
    await expect(refused).to_have_attribute("data-state", "failed")
    await expect(refused.locator(".message-error")).to_contain_text("muted")
    await expect(bob.page.locator("#message-input")).to_be_editable()

    await bobs.locator("button.unmute-button").click()
    await expect(notice).to_be_hidden()
    await expect(bobs.locator("button.mute-button")).to_be_visible()
    await expect(bobs.locator(".muted-until")).to_have_count(0)
    assert (await member_of(web_api, alice, room, bob))["mutedUntil"] is None
    await bob.send("said after the unmute")
    await expect(alice.message("said after the unmute")).to_have_count(1)
    assert list((await stored_contents(web_api, alice, room)).values()) == ["said after the unmute"]


async def test_an_owner_bans_a_member_who_loses_the_room(users, web_api) -> None:
    alice, bob, room = await two_in_a_group(users, web_api, "No trolls")
    dialog = await open_settings(alice)
    bobs = member_item(dialog, bob)

    dismissed = answer_next_dialog(alice.page, accept=False)
    await bobs.locator("button.ban-button").click()
    assert await asyncio.wait_for(dismissed, 10) == "confirm"
    await expect(alice.page.locator("#room-settings-status")).to_have_text("")
    assert await member_of(web_api, alice, room, bob) is not None, "a dismissed confirm must not ban"

    confirmed = answer_next_dialog(alice.page)
    await bobs.locator("button.ban-button").click()
    assert await asyncio.wait_for(confirmed, 10) == "confirm"
    await expect(bobs).to_have_count(0)
    await expect(bob.room(room)).to_have_count(0)                         # RemovedFromRoom
    await expect(bob.page.locator("#room-view")).to_be_hidden()
    await expect(bob.page.locator("#toast")).to_contain_text("banned")
    assert await member_of(web_api, alice, room, bob) is None
    status, answer = await web_api.request("POST", f"/api/chat/rooms/{room}/members", token=alice.token,
                                           json={"userIds": [bob.id]})
    assert status == 403, answer                                          # banned: not added again


async def test_an_owner_deletes_the_group_and_every_page_loses_it(users, web_api) -> None:
    alice, bob, room = await two_in_a_group(users, web_api, "Short lived")
    dialog = await open_settings(alice)
    confirmed = answer_next_dialog(alice.page)
    await dialog.locator("#delete-room-button").click()
    assert await asyncio.wait_for(confirmed, 10) == "confirm"
    await expect(dialog).to_be_hidden()
    for user in (alice, bob):
        await expect(user.room(room)).to_have_count(0)
        await expect(user.page.locator("#room-view")).to_be_hidden()
    await expect(bob.page.locator("#toast")).to_contain_text("Short lived was deleted")
    status, _ = await web_api.request("GET", f"/api/chat/rooms/{room}/messages", token=alice.token)
    assert status == 404


async def test_an_admin_cannot_mute_or_ban_another_admin_and_a_member_sees_no_delete(users, web_api) -> None:
    alice = await users("alice")
    bob = await users("bob")
    carol = await users("carol")
    room = await group_with(web_api, alice, [bob, carol], "Ranks")
    for who in (bob, carol):
        status, answer = await web_api.request("PATCH", f"/api/chat/rooms/{room}/members/{who.id}",
                                               token=alice.token, json={"role": "admin"})
        assert status == 200, answer
    await bob.open_room(room, "Ranks")
    dialog = await open_settings(bob)
    await expect(member_item(dialog, carol).locator("select.role-select")).to_have_value("admin")
    for other in (alice, carol):
        await expect(member_item(dialog, other).locator("button")).to_have_count(0)
    await expect(dialog.locator("#delete-room-button")).to_be_hidden()


async def test_blocking_in_a_private_room_refuses_the_others_send_in_words(users, web_api) -> None:
    alice = await users("alice")
    bob = await users("bob")
    status, room = await web_api.request("POST", "/api/chat/rooms", token=alice.token,
                                         json={"type": "private", "memberIds": [bob.id]})
    assert status == 201, room
    for user in (alice, bob):
        await expect(user.room(room["id"])).to_have_count(1)
    await alice.open_room(room["id"], bob.username)
    await bob.open_room(room["id"], alice.username)
    block = alice.page.locator("#block-button")
    await expect(block).to_have_text("Block")

    await block.click()
    await expect(block).to_have_text("Unblock")
    await expect(alice.page.locator("#blocked-notice")).to_have_text("You blocked this user")
    status, blocked = await web_api.request("GET", "/api/chat/blocks", token=alice.token)
    assert status == 200 and [u["id"] for u in blocked] == [bob.id], blocked

    refused = await bob.send("are you there?", wait_sent=False)
    await expect(refused).to_have_attribute("data-state", "failed")
    await expect(refused.locator(".message-error")).to_contain_text("block")
    await expect(bob.page.locator("#blocked-notice")).to_contain_text("block")
    await expect(bob.page.locator("#block-button")).to_have_text("Block")      # he did not block anyone

    await block.click()
    await expect(block).to_have_text("Block")
    await expect(alice.page.locator("#blocked-notice")).to_be_hidden()
    await refused.locator("button.retry-button").click()
    await expect(refused).to_have_attribute("data-state", "sent")
    await expect(bob.page.locator("#blocked-notice")).to_be_hidden()
    await expect(alice.message("are you there?")).to_have_count(1)


async def test_a_member_reports_someone_elses_message(users, web_api) -> None:
    alice, bob, room = await two_in_a_group(users, web_api, "Reports")
    mine = await alice.send("something rude")
    await expect(mine.locator("button.report-button")).to_have_count(0)        # not one's own
    theirs = bob.message("something rude")
    prompted = answer_next_dialog(bob.page, text="it is rude")
    async with bob.page.expect_response(lambda r: r.url.endswith("/reports")) as answer:
        await hover_and_click(theirs, "button.report-button")
    assert await asyncio.wait_for(prompted, 10) == "prompt"
    assert (await answer.value).status == 202
    assert (await answer.value).request.post_data_json == {"reason": "it is rude"}
    await expect(bob.page.locator("#toast")).to_have_text("Reported. Thank you.")


async def test_the_owner_hands_the_group_over_and_becomes_an_admin(users, web_api) -> None:
    alice = await users("alice")
    bob = await users("bob")
    room = await group_with(web_api, alice, [bob], "Hand over")
    await bob.open_room(room, "Hand over")
    await expect(bob.page.locator("#room-settings-button")).to_be_hidden()
    await alice.open_room(room, "Hand over")
    dialog = await open_settings(alice)
    confirmed = answer_next_dialog(alice.page)
    await member_item(dialog, bob).locator("button.make-owner-button").click()
    assert await asyncio.wait_for(confirmed, 10) == "confirm"
    await expect(member_item(dialog, bob).locator(".member-role")).to_have_text("Owner")
    await expect(member_item(dialog, bob).locator("button")).to_have_count(0)
    await expect(member_item(dialog, alice).locator("select.role-select")).to_have_value("admin")
    await expect(dialog.locator("#delete-room-button")).to_be_hidden()
    await expect(bob.page.locator("#room-settings-button")).to_be_visible()      # live, from MemberUpdated
    assert (await member_of(web_api, alice, room, bob))["role"] == "owner"
    assert (await member_of(web_api, alice, room, alice))["role"] == "admin"
