"""Browser tests of the panel: the real app under uvicorn, on the test database, driven by Chromium.

Chromium is the system's (`apt-get install chromium`; CHROMIUM_PATH names another one): Playwright's own
browser download is not used. Without it these tests are skipped, unless PANEL_BROWSER_REQUIRED=1 (CI).
Screenshots go to artifacts/screenshots/ (not committed).
"""

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Response,
    async_playwright,
)

from backend.tests.test_server import free_port, start, stop
from bot.tests.bot_api_double import BotAPIDouble
from bot.tests.conftest import BOT_ID, BOT_TOKEN
from conftest import ADMIN_PASSWORD
from shared.database import PROJECT_ROOT

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS_DIR = PROJECT_ROOT / "artifacts" / "screenshots"
AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = [("desktop", DESKTOP), ("phone", PHONE)]
# Playwright waits for conditions up to this long; nothing here sleeps.
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("PANEL_BROWSER_REQUIRED") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    return CHROMIUM


# A loaded machine (several test runs at once) can take this long just to import the app.
STARTUP_TIMEOUT_SECONDS = 180


@contextlib.asynccontextmanager
async def panel_server(tmp_path_factory: pytest.TempPathFactory, **settings: str) -> AsyncIterator[str]:
    """The app under uvicorn on a free port, on the test run's database and settings (these changed)."""
    port = free_port()
    log = tmp_path_factory.mktemp("panel-server") / "server.log"
    process = start(os.environ | {"PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING", **settings}, port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        # Awaited, not slept: this loop may serve the Bot API double, which the starting app asks about
        # its bot.
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"server exited with {process.returncode}:\n{log.read_text(errors='replace')}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{url}/health")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"server not healthy after {STARTUP_TIMEOUT_SECONDS} s:\n{log.read_text()}")
                await asyncio.sleep(0.1)
        yield url
    finally:
        await asyncio.to_thread(stop, process)


@pytest.fixture(scope="module")
async def base_url(
    tmp_path_factory: pytest.TempPathFactory,
    chromium_path: str,  # noqa: ARG001 (skips without Chromium)
) -> AsyncIterator[str]:
    """The panel's server, with the bot off."""
    async with panel_server(tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="module")
async def telegram() -> AsyncIterator[BotAPIDouble]:
    """The Bot API double, for a module's server with the bot on (its recorded calls kept until reset)."""
    async with BotAPIDouble(bot_id=BOT_ID) as api:
        yield api


@pytest.fixture(scope="module")
async def bot_base_url(
    tmp_path_factory: pytest.TempPathFactory,
    chromium_path: str,  # noqa: ARG001 (skips without Chromium)
    telegram: BotAPIDouble,
) -> AsyncIterator[str]:
    """The panel's server with the bot on, talking to the double (refunds and answers reach it). A module
    uses it by overriding base_url with it."""
    async with panel_server(
        tmp_path_factory, TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=telegram.base_url
    ) as url:
        yield url


@pytest.fixture(scope="module")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path, headless=True)
        yield browser
        await browser.close()


async def new_context(browser: Browser, base_url: str, **options: object) -> BrowserContext:
    context = await browser.new_context(base_url=base_url, locale="en-US", **options)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
async def context(browser: Browser, base_url: str) -> AsyncIterator[BrowserContext]:
    context = await new_context(browser, base_url, viewport=DESKTOP)
    yield context
    await context.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    """A page that fails the test on a script error, a script or style the policy refused, or an asset
    that did not load (a page's own status, such as a refused login's 401, is what tests check)."""
    page = await context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Chromium logs every 4xx as "Failed to load resource"; assets are checked by on_response.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", on_response)
    yield page
    assert errors == [], errors


async def follow(page: Page, target: Locator) -> None:
    """Click what leads to another page (a link, a form's button) and wait until that page has loaded.
    Its deferred scripts (HTMX, the panel's own) have run only then: a click or a typed text that came
    before them, as on a loaded machine, would miss them (no preview, no confirmation question)."""
    async with page.expect_navigation():
        await target.click()


async def sign_in(page: Page, password: str = ADMIN_PASSWORD) -> None:
    await page.goto("/admin")
    await page.get_by_label("User name").fill("admin")
    await page.get_by_label("Password").fill(password)
    await follow(page, page.get_by_role("button", name="Sign in"))


async def check_page(
    browser: Browser,
    base_url: str,
    open_page: Callable[[Page], Awaitable[None]],
    name: str,
    viewport: dict[str, int],
) -> None:
    """Open a page (open_page signs in and goes there) at this screen size, save its screenshot as
    artifacts/screenshots/<name>.png, and check it: nothing wider than the screen, and no serious or critical
    accessibility violation (axe-core)."""
    # axe is injected as a script: this context alone lets it past the page's Content-Security-Policy.
    context = await new_context(browser, base_url, viewport=viewport, bypass_csp=True)
    try:
        page = await context.new_page()
        await open_page(page)
        await page.wait_for_load_state("load")
        # A capture asked for before the page's first frame has been drawn fails in Chromium ("Unable to
        # capture screenshot"), which a loaded machine made happen: the second animation frame comes only
        # after the first has been drawn.
        await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=SCREENSHOTS_DIR / f"{name}.png", full_page=True)
        # Nothing wider than the screen: no sideways scrolling on a phone.
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than the screen"
        await page.add_script_tag(path=AXE_JS)
        results = await page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
            for v in results["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], "\n".join(serious)
    finally:
        await context.close()
