"""The support console in a real browser (headless Chromium) against the local stack.

The tests click and type as a support person would, and check each page with axe-core.
Chromium is Debian's ``chromium`` (``make test`` installs it when it is missing); set
CONSOLE_TEST_CHROMIUM to use another binary. With UPDATE_SCREENSHOTS=1 the screenshots
the tests take replace those in docs/console/.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page, Playwright, expect, sync_playwright

from query_service.storage.dynamo import to_item
from tests.e2e.conftest import Stack
from tests.support import command

pytestmark = [pytest.mark.e2e, pytest.mark.cost(12)]

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "console"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
XSS_TITLE = "<img src=x onerror=alert(1)>"


def chromium_binary() -> str:
    binary = os.environ.get("CONSOLE_TEST_CHROMIUM") or shutil.which("chromium")
    if not binary:
        pytest.fail(
            "Chromium is not installed: `make test` installs Debian's chromium package when "
            "run as root (apt-get install -y chromium); or set CONSOLE_TEST_CHROMIUM to a "
            "Chromium binary",
            pytrace=False,
        )
    return binary


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


def open_browser(playwright: Playwright, profile: Path, **options: Any) -> BrowserContext:
    """Chromium with a fresh user-data dir of its own, as the suite's notes require."""
    profile.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {
        "viewport": {"width": 1280, "height": 800},
        "timezone_id": "Asia/Singapore",
        "locale": "en-GB",
        **options,
    }
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium_binary(),
        headless=True,
        args=CHROMIUM_ARGS,
        **settings,
    )


@pytest.fixture(scope="module")
def browser(
    playwright: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    context = open_browser(
        playwright,
        tmp_path_factory.mktemp("chromium-profile"),
        permissions=["clipboard-read", "clipboard-write"],
    )
    yield context
    context.close()


def is_a_fault(kind: str, text: str) -> bool:
    """A console error that is a fault of the page (a CSP refusal is one); a 4xx page the
    test asked for on purpose is logged as a failed load, which is not."""
    return kind == "error" and not text.startswith("Failed to load resource: the server")


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    tab = browser.new_page()
    dialogs: list[str] = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on(
        "console", lambda msg: errors.append(msg.text) if is_a_fault(msg.type, msg.text) else None
    )
    yield tab
    tab.close()
    assert dialogs == [], f"a page opened a dialog: {dialogs}"
    assert errors == [], f"the page logged errors (CSP violations are among them): {errors}"


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()


def check_accessibility(axe: Axe, page: Page) -> None:
    results = axe.run(page)
    severe = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
    assert severe == [], f"axe-core on {page.url}:\n" + "\n".join(severe)


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    """Every page is photographed; the pictures go to docs/console/ on request."""
    target = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=True)


def test_the_support_journey_by_clicking_and_typing(
    stack: Stack, page: Page, axe: Axe, tmp_path: Path
) -> None:
    """search test_user_001 → its deliveries → filter FAILED: tx_002, "Device token
    invalid" → its details: the timeline SENT → FAILED with the reason → tx_002's page: its
    funnel and deliveries → back to the filtered list."""
    response = page.goto(f"{stack.ecs}/console/")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", name="Find deliveries")).to_be_visible()
    check_accessibility(axe, page)
    screenshot(page, "search", tmp_path)

    page.get_by_label("User id or transaction id").fill("test_user_001")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/console/users/test_user_001\?via=search$"))
    expect(page.get_by_text("as a user id")).to_be_visible()
    rows = page.locator("#deliveries tbody tr")
    expect(rows.filter(has_text="Delivered").first).to_be_visible()  # unfiltered: not only failures
    check_accessibility(axe, page)
    screenshot(page, "user", tmp_path)

    page.get_by_role("group", name="Status").get_by_label("Failed").check()
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"/console/users/test_user_001\?.*status=FAILED"))
    expect(rows).to_have_count(1)
    failed = rows.first
    expect(failed).to_contain_text("tx_002")
    expect(failed).to_contain_text("Failed")
    expect(failed).to_contain_text("Device token invalid")
    expect(failed).to_contain_text("mobile-app-002")
    check_accessibility(axe, page)
    screenshot(page, "user-failed", tmp_path)

    failed.get_by_role("link", name=re.compile("^Details")).click()
    expect(page).to_have_url(re.compile(r"/console/deliveries/tx_002/test_user_001$"))
    steps = page.locator(".timeline li")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_contain_text("Sent")
    expect(steps.nth(1)).to_contain_text("Failed")
    expect(steps.nth(1)).to_contain_text("Why: Device token invalid")
    check_accessibility(axe, page)
    screenshot(page, "delivery", tmp_path)

    page.locator(".breadcrumbs").get_by_role("link", name="tx_002").click()
    expect(page).to_have_url(re.compile(r"/console/transactions/tx_002$"))
    funnel = page.locator(".funnel")
    expect(funnel.get_by_role("heading", name="How the send went")).to_be_visible()
    expect(funnel).to_contain_text("2 deliveries, counted at")
    expect(funnel.locator(".top-errors")).to_contain_text("Device token invalid: 1")
    expect(page.locator("#deliveries tbody tr")).to_have_count(2)
    check_accessibility(axe, page)
    screenshot(page, "transaction", tmp_path)

    page.go_back()
    page.go_back()
    expect(page).to_have_url(re.compile(r"/console/users/test_user_001\?.*status=FAILED"))
    expect(rows).to_have_count(1)


def all_records(public: httpx.Client, user_id: str) -> list[dict[str, Any]]:
    records, cursor = [], None
    while True:
        body = {"user_id": user_id, "limit": 100, **({"cursor": cursor} if cursor else {})}
        answer = public.post("/query/user", json=body).json()
        records += answer["data"]
        cursor = answer["next_cursor"]
        if cursor is None:
            return records


def test_more_pages_to_the_end_without_a_reload(
    stack: Stack, public: httpx.Client, page: Page
) -> None:
    expected = all_records(public, "test_user_001")
    page.goto(f"{stack.ecs}/console/users/test_user_001?limit=2")
    page.evaluate("window.sameDocument = true")
    rows = page.locator("#deliveries tbody tr")
    expect(rows).to_have_count(2)
    more = page.get_by_role("link", name="More deliveries")
    shown = 2
    while more.count():
        more.click()
        shown = min(shown + 2, len(expected))
        expect(rows).to_have_count(shown)
    assert page.evaluate("window.sameDocument") is True  # appended in place, no navigation
    expect(page.locator("#page-status")).to_contain_text("that is all")
    links = rows.locator("a[href^='/console/deliveries/']")
    seen = [
        href.rsplit("/", 2)[-2] for href in (a.get_attribute("href") or "" for a in links.all())
    ]
    assert seen == [r["transaction_id"] for r in expected]


def test_paging_works_without_javascript(
    stack: Stack, playwright: Playwright, tmp_path: Path
) -> None:
    context = open_browser(playwright, tmp_path / "profile", java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{stack.ecs}/console/users/test_user_001?limit=2")
        first = page.locator("#deliveries tbody tr").first.inner_text()
        assert "UTC" in first  # no script: the time is shown in UTC
        page.get_by_role("link", name="More deliveries").click()
        expect(page).to_have_url(re.compile(r"cursor="))
        expect(page.locator("#deliveries tbody tr")).to_have_count(2)
        assert page.locator("#deliveries tbody tr").first.inner_text() != first
        expect(page.get_by_role("button", name="Copy user id")).to_be_hidden()
    finally:
        context.close()


def test_times_are_local_with_utc_on_hover_and_ids_copy(stack: Stack, page: Page) -> None:
    page.goto(f"{stack.ecs}/console/users/test_user_001")
    when = page.locator("#deliveries time").first
    expect(when).to_contain_text(re.compile(r"GMT\+8|SGT"))
    assert (when.get_attribute("title") or "").endswith(" UTC")
    page.get_by_role("button", name="Copy user id").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == "test_user_001"


def test_stored_markup_shows_as_text_and_runs_nothing(
    stack: Stack, public: httpx.Client, page: Page
) -> None:
    user = "console_xss_user"
    written = command(
        transaction_id="tx_console_xss",
        user_id=user,
        created_at=int(time.time() * 1000),
        notification_title=XSS_TITLE,
    )
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.dynamodb, region_name="ap-southeast-1")
    dynamodb.put_item(TableName="command-records", Item=to_item(written))
    deadline = time.monotonic() + 15
    while not public.post("/query/user", json={"user_id": user}).json()["data"]:
        assert time.monotonic() < deadline, "the record never reached the read side"
        time.sleep(0.1)

    response = page.goto(f"{stack.ecs}/console/users/{user}")
    assert response is not None
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    cell = page.locator("#deliveries td.title-cell")
    expect(cell).to_have_text(XSS_TITLE)
    expect(cell.locator("img")).to_have_count(0)
    # the page fixture fails the test if any dialog (alert) opened or an error was logged


def test_the_messages_for_nothing_found_a_bad_id_and_an_unknown_page(
    stack: Stack, page: Page, axe: Axe, tmp_path: Path
) -> None:
    page.goto(f"{stack.ecs}/console/")
    page.get_by_label("User id or transaction id").fill("nobody_at_all")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Nothing found for nobody_at_all")).to_be_visible()
    check_accessibility(axe, page)

    page.get_by_label("User id or transaction id").fill("not an id")
    page.keyboard.press("Enter")
    expect(page.get_by_text("That is not an id this service knows")).to_be_visible()
    expect(page.get_by_label("User id or transaction id")).to_have_attribute("aria-invalid", "true")
    check_accessibility(axe, page)

    response = page.goto(f"{stack.ecs}/console/users/bad%20id")
    assert response is not None and response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("User id: must be 1-128 characters")
    check_accessibility(axe, page)
    screenshot(page, "bad-id", tmp_path)

    response = page.goto(f"{stack.ecs}/console/nowhere")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


def test_the_keyboard_alone_goes_from_search_to_a_user(stack: Stack, page: Page) -> None:
    page.goto(f"{stack.ecs}/console/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("User id or transaction id")).to_be_focused()
    page.keyboard.type("tx_002")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/transactions/tx_002\?via=search$"))
    user = page.locator("#deliveries tbody a[href^='/console/users/']").first
    for _ in range(40):
        page.keyboard.press("Tab")
        if user.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the first user link")
    outline = user.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none", "the focused link shows no focus indicator"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/users/test_user_00\d$"))


def test_a_narrow_window_needs_no_sideways_scrolling(
    stack: Stack, browser: BrowserContext, tmp_path: Path
) -> None:
    page = browser.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        for path in ("/console/", "/console/users/test_user_001", "/console/transactions/tx_002"):
            page.goto(f"{stack.ecs}{path}")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} is {overflow}px wider than a 390px window"
        screenshot(page, "transaction-narrow", tmp_path)
    finally:
        page.close()
