"""The browser suite's fixtures: Debian's Chromium driven by Playwright against a real server.

Playwright's async API, because the server under test runs in this process on
the test's event loop (so that a test can stop it and start it again on the same
port and database) and the Socket.IO test client is async too; the sync API
refuses to run inside a running event loop. Every fixture and test here shares
one event loop per module, since the browser lives as long as the module.

Chromium is Debian's ``/usr/bin/chromium`` (``scripts/test.sh`` installs it);
Playwright is pointed at it and never downloads a browser. Without it the tests
skip, except under CI (``CI`` set), where they fail.

Every test saves one screenshot per page to
``build/web-screenshots/<test>-<user>.png``; a failed test's report ends with
those paths and each page's console log. An uncaught error in a page fails the
test that caused it (reported at teardown).
"""

from __future__ import annotations

import dataclasses
import os
import re
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import pytest_asyncio

from tests.conftest import Api, ChatClient, RunningServer, make_settings, unique_name

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
try:
    from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect
except ImportError:  # reported by the ``browser`` fixture: a skip, or a failure under CI
    async_playwright = expect = None  # type: ignore[assignment]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "web-screenshots"
WAIT_MS = 10_000        # every Playwright action and expectation, unless a test says otherwise
PASSWORD = "correct horse battery"
LOOP = "module"         # the loop every async fixture and test of this suite runs in

if async_playwright is not None:
    expect.set_options(timeout=WAIT_MS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so the ``users`` fixture knows at teardown whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"_web_report_{report.when}", report)


def _missing_browser() -> str | None:
    if async_playwright is None:
        return "the playwright package is not installed: .venv/bin/python -m pip install -e '.[test]'"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; scripts/test.sh does)"
    return None


@pytest_asyncio.fixture(scope="module", loop_scope=LOOP)
async def browser() -> AsyncIterator["Browser"]:
    """One headless Chromium for the module; each user gets a context of its own."""
    missing = _missing_browser()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run: {missing}", pytrace=False)
        pytest.skip(missing)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope=LOOP)
async def web_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server on a fresh SQLite file; ``stop()`` and ``start()`` bring it back on the same port and file.

    Typing expires after the production 10 s here: the client refreshes it at
    its own pace, and the indicator must stay up while the test looks at it.
    """
    srv = RunningServer(make_settings(f"sqlite:///{tmp_path / 'kallemny.db'}", typing_ttl_seconds=10.0))
    await srv.start()
    yield srv
    await srv.stop()


@pytest_asyncio.fixture(loop_scope=LOOP)
async def web_api(web_server: RunningServer) -> AsyncIterator[Api]:
    """The REST test client, for setting up rooms and checking what the server stored."""
    async with aiohttp.ClientSession() as session:
        yield Api(web_server.url, session)


@dataclasses.dataclass
class WebUser:
    """One user in a browser context of their own, seen through the page's DOM (the web client's contract)."""

    label: str
    username: str
    context: "BrowserContext"
    page: "Page"
    api: Api
    log: list[str] = dataclasses.field(default_factory=list)
    page_errors: list[str] = dataclasses.field(default_factory=list)
    token: str = ""
    id: str = ""

    # -- signing in -----------------------------------------------------------

    async def open(self, path: str = "/") -> None:
        await self.page.goto(self.api.base_url + path)

    async def register(self) -> "WebUser":
        """Register through the sign-in form and wait until the page is signed in and connected."""
        await self.open()
        await self.page.locator("#username").fill(self.username)
        await self.page.locator("#password").fill(PASSWORD)
        await self.page.locator("#register-button").click()
        await self.expect_signed_in()
        return self

    async def expect_signed_in(self) -> None:
        """Wait for the signed-in header and the live connection; learn the token and the user id."""
        await expect(self.page.locator("#me")).to_contain_text(self.username)
        await expect(self.status).to_have_attribute("data-state", "connected")
        self.token = await self.stored_token() or ""
        assert self.token, "signed in, but sessionStorage has no 'kallemny.token'"
        status, me = await self.api.request("GET", "/api/auth/me", token=self.token)
        assert status == 200, me
        self.id = me["id"]

    async def stored_token(self) -> str | None:
        return await self.page.evaluate("() => sessionStorage.getItem('kallemny.token')")

    # -- the room list and the room view ------------------------------------------------

    @property
    def status(self) -> "Locator":
        return self.page.locator("#connection-status")

    def room(self, room_id: str) -> "Locator":
        """The room's entry in the room list."""
        return self.page.locator(f'#room-list li.room[data-room-id="{room_id}"]')

    async def open_room(self, room_id: str, title: str) -> None:
        """Click the room in the list and wait for its view (title and composer)."""
        await self.room(room_id).click()
        await expect(self.page.locator("#room-title")).to_contain_text(title)
        await expect(self.page.locator("#message-input")).to_be_editable()

    @property
    def messages(self) -> "Locator":
        return self.page.locator("#messages li.message")

    def message(self, text: str) -> "Locator":
        """The message whose content shows ``text`` (texts are unique within a test)."""
        return self.messages.filter(has=self.page.locator(".message-content", has_text=text))

    async def send(self, text: str, *, wait_sent: bool = True) -> "Locator":
        """Type into the composer, press Enter; the new message (waited until ``sent`` unless told not to)."""
        box = self.page.locator("#message-input")
        await box.fill(text)
        await box.press("Enter")
        await expect(box).to_have_value("")
        mine = self.message(text)
        await expect(mine).to_have_count(1)
        if wait_sent:
            await expect(mine).to_have_attribute("data-state", "sent")
            await expect(mine).to_have_attribute("data-message-id", re.compile(r"."))
        return mine

    async def shown_messages(self) -> list[dict[str, str]]:
        """Every li.message as ``{"id", "cid", "state", "content"}``, in page order."""
        return await self.messages.evaluate_all("""items => items.map(li => ({
            id: li.dataset.messageId || "", cid: li.dataset.clientMessageId || "",
            state: li.dataset.state || "",
            content: (li.querySelector('.message-content') || {}).textContent?.trim() ?? ""}))""")


@pytest_asyncio.fixture(loop_scope=LOOP)
async def users(browser: "Browser", web_server: RunningServer, web_api: Api,
                request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Awaitable[WebUser]]]:
    """``await users("alice")`` → a :class:`WebUser` registered through the page, in a fresh browser context.

    ``register=False`` leaves the page blank (the test signs in its own way);
    other keywords go to ``browser.new_context`` (``viewport=...``). After the
    test: a screenshot of each page, and on failure their paths and console logs
    in the report.
    """
    opened: list[WebUser] = []

    async def open_user(label: str, *, register: bool = True, **context_options: Any) -> WebUser:
        context = await browser.new_context(**context_options)
        context.set_default_timeout(WAIT_MS)
        page = await context.new_page()
        user = WebUser(label, unique_name(label), context, page, web_api)
        page.on("console", lambda msg: user.log.append(f"[{msg.type}] {msg.text}"))
        page.on("pageerror", lambda exc: (user.log.append(f"[pageerror] {exc}"), user.page_errors.append(str(exc))))
        opened.append(user)
        return await user.register() if register else user

    yield open_user

    test_failed = any(getattr(getattr(request.node, f"_web_report_{when}", None), "failed", False)
                      for when in ("setup", "call"))
    summary = [await _screenshot(user, request.node.name) for user in opened]
    if test_failed:
        report = getattr(request.node, "_web_report_call", None) or request.node._web_report_setup
        report.sections.append(("browser pages: screenshots and console logs", "\n\n".join(summary)))
    for user in opened:
        await user.context.close()
    errors = [f"{u.label}: {e}" for u in opened for e in u.page_errors]
    if errors and not test_failed:
        pytest.fail("uncaught errors in the page:\n" + "\n".join(errors) + "\n\n" + "\n\n".join(summary), pytrace=False)


async def _screenshot(user: WebUser, test_name: str) -> str:
    """Save the page's screenshot; its path and the console log, as the report shows them."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', test_name)}-{user.label}.png"
    try:
        await user.page.screenshot(path=str(path), full_page=True, timeout=5_000)
        shot = str(path)
    except Exception as exc:  # a crashed or closed page still gets its log reported
        shot = f"(no screenshot: {exc})"
    log = "\n".join(f"  {line}" for line in user.log) or "  (empty)"
    return f"{user.label} ({user.username}) at {user.page.url}\nscreenshot: {shot}\nconsole:\n{log}"


@pytest_asyncio.fixture(loop_scope=LOOP)
async def sockets(web_server: RunningServer) -> AsyncIterator[Callable[[WebUser], Awaitable[ChatClient]]]:
    """``await sockets(user)`` → a python-socketio client signed in as that user (another device of theirs)."""
    clients: list[ChatClient] = []

    async def connect(user: WebUser) -> ChatClient:
        client = ChatClient(user.username)
        clients.append(client)
        return await client.connect(web_server.url, user.token)

    yield connect
    for client in clients:
        await client.close()


def client_message_id() -> str:
    return uuid.uuid4().hex
