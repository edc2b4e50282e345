"""Real-browser tests: Playwright driving the machine's Chromium against a live ``blue-gateway serve``.

Every page a test opens is watched for the whole test, and the watch is checked when the test ends:
no request may leave the gateway's origin (each one is refused and recorded), the console may log no
error, and every document the browser loaded must have passed an axe-core check with no serious or
critical violation (``Tab.audit``). With ``BLUE_GATEWAY_SCREENSHOTS=1`` the tests also write the pictures
the portal's docs show (docs/images/portal/<page>.png).

Without a browser (no Playwright package, no Chromium, or axe-core not installed by ``npm ci``) the tests
skip with the reason; under CI=true a skip is a failure (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from pytest_asyncio import is_async_test
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.engine import make_engine
from gateway.services.tokens import TokenService, hash_token, new_token
from tests.conftest import Receiver, free_port, running_receiver
from tests.integration.processes import gateway_env, start_serve, wait_healthy

try:  # the test modules take `expect` from here, so that without Playwright they skip (missing_browser)
    from playwright.async_api import expect
except ImportError:
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Request, Response, Route

HERE = Path(__file__).parent
REPO = HERE.parent.parent
CHROMIUM = Path(os.environ.get("BLUE_GATEWAY_CHROMIUM", "/usr/bin/chromium"))
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "docs" / "images" / "portal"
VIEWPORT = {"width": 1280, "height": 800}
# A busy 2-core machine renders slowly; a wait only lasts this long when the test fails anyway.
WAIT_MS = 30_000
SERIOUS = ("serious", "critical")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``browser`` and ``slow`` every test here, and run them on one event loop (one browser)."""
    for item in items:
        if not item.path.is_relative_to(HERE):
            continue
        item.add_marker(pytest.mark.browser)
        item.add_marker(pytest.mark.slow)
        if is_async_test(item):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


def missing_browser() -> str | None:
    """Why no browser test can run here, or None when one can."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (make install)"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set BLUE_GATEWAY_CHROMIUM)"
    if not AXE.is_file():
        return f"axe-core is not installed in {HERE} (npm ci there; make test does it)"
    return None


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium for the browser tests, closed after them; each test opens contexts (cookies) of its own."""
    reason = missing_browser()
    if reason is not None:
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    expect.set_options(timeout=WAIT_MS)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        await chromium.close()


@dataclass
class LiveGateway:
    """A ``blue-gateway serve`` process on its own SQLite file (embedded broker and worker)."""

    url: str
    cwd: Path
    client: httpx.AsyncClient
    db: AsyncEngine  # the tests' own connection to the gateway's database

    async def token(self, company: str, user: str = "admin") -> dict[str, str]:
        """A company-admin token (scopes manage and ingest), stored as ``blue-gateway tokens create`` does."""
        token = new_token()
        await TokenService(self.db).create(
            hash_token(token),
            company=company,
            user=user,
            role="company-admin",
            projects=(),
            scopes=("manage", "ingest"),
            expires_at=None,
        )
        return {"Authorization": f"Bearer {token}"}

    async def post(self, path: str, auth: dict[str, str], body: Any, expect: int = 201) -> Any:
        resp = await self.client.post(path, json=body, headers=auth)
        assert resp.status_code == expect, f"{path}: {resp.status_code} {resp.text}"
        return resp.json()

    async def todo_created(self, auth: dict[str, str], title: str) -> Any:
        """Post a ``TODO_CREATED`` event with this title through the API; its answer (id, deliveries made)."""
        event = {"event": "TODO_CREATED", "currentValue": {"title": title}}
        return await self.post("/v1/events", auth, event, expect=202)

    async def get(self, path: str, auth: dict[str, str], **params: Any) -> Any:
        resp = await self.client.get(path, params=params, headers=auth)
        assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.text}"
        return resp.json()


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveGateway]:
    """One gateway process for the browser tests; each test keeps apart by using companies of its own."""
    cwd = tmp_path_factory.mktemp("portal")
    # Two quick attempts, then `failed`: a delivery to a failing receiver settles within a second.
    env = gateway_env(cwd, BLUE_GATEWAY_RETRY_SCHEDULE="0,0.3s")
    port = free_port()
    proc = start_serve(cwd, port, env, log=cwd / "serve.log")
    url = f"http://127.0.0.1:{port}"
    db = make_engine(env["BLUE_GATEWAY_DATABASE_URL"])
    try:
        await wait_healthy(url)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield LiveGateway(url, cwd, client, db)
    finally:
        await db.dispose()
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def live_receiver() -> AsyncIterator[Receiver]:
    """A real local HTTP receiver; a test sets ``default`` to make it fail (and sets it back)."""
    async with running_receiver() as rec:
        yield rec


@dataclass
class Watch:
    """What one browser context did that a test must not: other origins, console errors, unchecked pages."""

    origin: str
    foreign: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (message, the address it names)
    documents: set[str] = field(default_factory=set)
    audited: set[str] = field(default_factory=set)
    # Answers a test provokes on purpose (path, status): Chromium logs each 4xx as a console error.
    refusals: set[tuple[str, int]] = field(default_factory=set)

    def problems(self) -> list[str]:
        found = [f"request to another origin: {url}" for url in self.foreign]
        found += [
            f"console error: {text} (at {url})" for text, url in self.errors if not self._provoked(text, url)
        ]
        found += [f"page loaded but never checked with axe-core: {path}" for path in self.documents - self.audited]
        return found

    def _provoked(self, text: str, url: str) -> bool:
        path = urlsplit(url).path
        return any(path == p and f"status of {status} " in text for p, status in self.refusals)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(eq=False)
class Tab:
    """A page in a context of its own (its own cookies), watched until the test ends."""

    page: Page
    context: BrowserContext
    watch: Watch
    base: str

    # With `record`, what the gateway answered, read as it arrived (a body is gone once the page moves on).
    record: bool = False
    answers: list[asyncio.Task[tuple[str, int, str]]] = field(default_factory=list)

    async def goto(self, path: str, *, audit: bool = True) -> Response | None:
        """Open ``path`` (or a full address) on the gateway, and check it with axe-core the first time it opens.

        A page whose state a test changes (an error shown, a new row) is checked again by calling ``audit``.
        """
        response = await self.page.goto(path if "://" in path else self.base + path)
        if audit and urlsplit(self.page.url).path not in self.watch.audited:
            await self.audit()
        return response

    async def audit(self, known: Mapping[str, str] | None = None) -> None:
        """axe-core on the page as it is now: no serious or critical violation.

        ``known`` names rules (id → why) a page may break, for third-party pages the gateway serves as
        they ship (Swagger UI at /schema); the portal's own pages pass with none.
        """
        await self.page.wait_for_load_state("load")
        if not await self.page.evaluate("() => typeof window.axe === 'object'"):
            # Evaluated rather than added as a <script>: the portal's Content-Security-Policy refuses inline
            # scripts, rightly, and the tests keep that policy in force instead of bypassing it.
            await self.page.evaluate(AXE.read_text(encoding="utf-8"))
        violations = await self.page.evaluate(
            """async (impacts) => {
                const result = await axe.run(document, {resultTypes: ['violations']});
                return result.violations.filter(v => impacts.includes(v.impact)).map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary),
                }));
            }""",
            list(SERIOUS),
        )
        path = urlsplit(self.page.url).path
        self.watch.audited.add(path)
        violations = [v for v in violations if v["id"] not in (known or {})]
        assert violations == [], f"axe-core on {path}: {violations}"

    async def fetch(
        self, path: str, *, form: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, str]:
        """A request from the page itself (its cookies, its origin): GET, or POST of ``form``; status and text.

        Redirects are not followed, and the browser hides their status: a redirect answers status 0 here.
        """
        return tuple(  # type: ignore[return-value]
            await self.page.evaluate(
                """async ([path, form, headers]) => {
                    const init = {headers: headers || {}, redirect: 'manual'};
                    if (form) { init.method = 'POST'; init.body = new URLSearchParams(form); }
                    const answer = await fetch(path, init);
                    return [answer.status, await answer.text()];
                }""",
                [path, dict(form) if form is not None else None, dict(headers or {})],
            )
        )

    async def received(self) -> list[tuple[str, int, str]]:
        """Every answer this tab got so far: address, status and text (empty for a redirect); needs ``record``."""
        assert self.record, "open the tab with record=True"
        return list(await asyncio.gather(*self.answers))

    async def csrf(self) -> str:
        """The session's CSRF token, as the page's forms carry it."""
        return await self.page.locator("input[name=_csrf]").first.input_value()

    def refuse(self, path: str, status: int) -> None:
        """The test expects ``path`` to answer ``status``: the console error Chromium logs for it is no fault."""
        self.watch.refusals.add((path, status))

    async def shot(self, name: str) -> None:
        """docs/images/portal/<name>.png, when BLUE_GATEWAY_SCREENSHOTS=1 (the docs' pictures, made by the run)."""
        if os.environ.get("BLUE_GATEWAY_SCREENSHOTS") != "1":
            return
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=SCREENSHOTS / f"{name}.png", animations="disabled", caret="hide")


async def _read(response: Response) -> tuple[str, int, str]:
    if 300 <= response.status < 400:
        return response.url, response.status, ""
    return response.url, response.status, (await response.body()).decode("utf-8", "replace")


TabFactory = Callable[..., Awaitable[Tab]]


@pytest_asyncio.fixture(loop_scope="session")
async def tabs(browser: Browser, live: LiveGateway) -> AsyncIterator[TabFactory]:
    """``await tabs()``: a new watched page with its own cookies; every watch is checked at the end.

    ``await tabs(record=True)`` also keeps every answer's body, for :meth:`Tab.received`.
    """
    opened: list[Tab] = []
    origin = _origin(live.url)

    async def open_tab(*, record: bool = False) -> Tab:
        context = await browser.new_context(viewport=VIEWPORT, locale="en-GB", timezone_id="UTC")
        context.set_default_timeout(WAIT_MS)
        watch = Watch(origin)

        async def route(route: Route, request: Request) -> None:
            if _origin(request.url) == origin:
                await route.continue_()
            else:
                watch.foreign.append(request.url)
                await route.abort("blockedbyclient")

        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                watch.errors.append((message.text, message.location.get("url", "")))

        def document(response: Response) -> None:
            if tab.record:
                tab.answers.append(asyncio.ensure_future(_read(response)))
            request = response.request
            if (
                request.resource_type == "document"
                and request.frame.parent_frame is None
                and not 300 <= response.status < 400
            ):
                watch.documents.add(urlsplit(response.url).path)

        await context.route("**/*", route)
        context.on("console", console)
        context.on("weberror", lambda error: watch.errors.append((f"page error: {error.error}", "")))
        page = await context.new_page()
        tab = Tab(page, context, watch, live.url, record)
        context.on("response", document)
        opened.append(tab)
        return tab

    yield open_tab
    problems: list[str] = []
    for tab in opened:
        await asyncio.gather(*tab.answers, return_exceptions=True)
        await tab.context.close()
        problems += tab.watch.problems()
    assert problems == [], "\n".join(problems)


async def sign_in_with_link(
    tabs: TabFactory, live: LiveGateway, auth: dict[str, str], *, record: bool = False, **link: Any
) -> Tab:
    """A new tab signed in through a fresh portal link (``link``: the link's fields) of the token's company."""
    made = await live.post("/v1/portal/links", auth, link)
    tab = await tabs(record=record)
    await tab.goto(made["url"])
    await expect(tab.page.get_by_test_id("signout")).to_be_visible()
    return tab
