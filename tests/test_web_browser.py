"""The status pages in a real headless Chromium: follow a run, watch its live tail, cancel it."""

from __future__ import annotations

import os
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.store.runs import RunState
from tests.fake_forge import FakeForge
from tests.harness import make_settings
from tests.web_world import (
    ADMIN_TOKEN,
    LEAKED,
    Seeded,
    seed,
    services_of,
    serving,
    with_admin_token,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGUMENTS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

if not CHROMIUM.exists():
    if os.environ.get("REQUIRE_BROWSER") == "1":  # CI installs it: a missing one is a failure
        raise RuntimeError(f"{CHROMIUM} is missing but REQUIRE_BROWSER=1")
    MISSING = (
        f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing; install it with "
        "`apt-get install -y chromium` (CI does)"
    )
    warnings.warn(MISSING, stacklevel=1)
    pytest.skip(MISSING, allow_module_level=True)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGUMENTS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def site(tmp_path: Path, fake_forge: FakeForge) -> AsyncIterator[tuple[str, Seeded, object]]:
    settings = with_admin_token(make_settings(tmp_path, fake_forge.url, concurrency={"claude": 1}))
    async with serving(settings) as client:
        seeded = await seed(services_of(client), tmp_path)
        yield str(client.make_url("")).rstrip("/"), seeded, services_of(client)


async def open_page(browser: Browser, viewport: dict, problems: list[str]) -> Page:
    """A page that records script errors, console errors and any dialog (an injected script)."""
    context = await browser.new_context(viewport=viewport, is_mobile=viewport is PHONE)
    page = await context.new_page()
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )

    async def dialog(opened) -> None:  # noqa: ANN001
        problems.append(f"dialog: {opened.message}")
        await opened.dismiss()

    page.on("dialog", dialog)
    return page


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


async def fits_the_screen(page: Page) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


async def test_status_page_lists_runs_queue_and_pools(browser: Browser, site) -> None:
    base, seeded, services = site
    problems: list[str] = []
    page = await open_page(browser, DESKTOP, problems)
    await page.goto(base + "/")
    await expect(page.locator("#run-list tr.run")).to_have_count(8)
    await expect(page.locator("#queue")).to_contain_text("pool claude is at its limit of 1")
    await expect(page.locator("#queue")).to_contain_text("another run of this issue is active")
    await expect(page.locator("#pools")).to_contain_text("gemini")
    await expect(page.locator("#run-list")).to_contain_text("<script>alert('owned')</script>")
    await expect(page.locator("#freeze-state")).to_have_text("dispatch running")
    await screenshot(page, "index.png")
    await page.select_option("select[name=state]", "blocked")
    await page.click("form.filters button")
    await expect(page.locator("#run-list tr.run")).to_have_count(1)
    await page.goto(base + "/")
    await page.fill("#freeze-form input[name=token]", ADMIN_TOKEN)
    await page.click("#freeze-form button")
    await expect(page.locator("#freeze-state")).to_have_text("dispatch frozen")
    await expect(page.locator("#queue")).to_contain_text("dispatch is frozen")
    assert await services.flags.is_frozen()
    phone = await open_page(browser, PHONE, problems)
    await phone.goto(base + "/")
    await expect(phone.locator("#run-list tr.run")).to_have_count(8)
    assert await fits_the_screen(phone)
    await screenshot(phone, "index-phone.png")
    assert problems == []


async def test_follow_a_running_run_and_watch_its_live_tail(browser: Browser, site) -> None:
    base, seeded, services = site
    problems: list[str] = []
    page = await open_page(browser, DESKTOP, problems)
    await page.goto(base + "/")
    await page.click(f"a[href='/runs/{seeded.running.id}']")
    await page.wait_for_url(f"{base}/runs/{seeded.running.id}")
    log = page.locator("#log")
    await expect(log).to_contain_text("reading README.md")
    await expect(page.locator("#live-indicator")).to_have_text("live")
    seeded.append("step 1: editing docs/index.md\n")
    await expect(log).to_contain_text("step 1: editing docs/index.md")
    seeded.append(f"step 2: pushing with {LEAKED}\n")
    await expect(log).to_contain_text("step 2: pushing with ***")
    await screenshot(page, "run.png")
    await services.runs.update(seeded.running.id, state=RunState.COMPLETED)
    await expect(page.locator("#live-indicator")).to_have_text("ended")
    await expect(page.locator("#run-state")).to_have_text("completed")
    text = await log.inner_text()
    assert text.count("step 1: editing docs/index.md") == 1 and LEAKED not in text
    assert LEAKED not in await page.content()
    phone = await open_page(browser, PHONE, problems)
    await phone.goto(f"{base}/runs/{seeded.completed.id}")
    await expect(phone.locator("#final-message")).to_contain_text("All done.")
    assert await fits_the_screen(phone)
    await screenshot(phone, "run-phone.png")
    assert problems == []


async def test_cancel_a_run_with_the_token_and_be_refused_without(browser: Browser, site) -> None:
    base, seeded, services = site
    problems: list[str] = []
    page = await open_page(browser, DESKTOP, problems)
    run_id = seeded.behind_pause.id
    await page.goto(f"{base}/runs/{run_id}")
    await page.fill("#cancel-form input[name=token]", "not-the-token")
    await page.click("#cancel-form button")
    await expect(page.locator("#message")).to_have_text("the admin token is wrong")
    await screenshot(page, "refused.png")
    assert (await services.runs.get(run_id)).state is RunState.QUEUED
    await page.goto(f"{base}/runs/{run_id}")
    await page.fill("#cancel-form input[name=token]", ADMIN_TOKEN)
    await page.click("#cancel-form button")
    await page.wait_for_url(f"{base}/runs/{run_id}")
    await expect(page.locator("#run-state")).to_have_text("cancelled")
    await expect(page.locator("#reason")).to_contain_text("cancelled by an admin")
    await expect(page.locator("#cancel-form")).to_have_count(0)
    assert ADMIN_TOKEN not in await page.content()
    await screenshot(page, "run-cancelled.png")
    assert (await services.runs.get(run_id)).state is RunState.CANCELLED
    refused = "console: Failed to load resource: the server responded with a status of 403"
    assert problems == [f"{refused} (Forbidden)"]  # no script error, no injected dialog
