"""The casework pages in a real browser: headless Chromium driven by Playwright's sync API.

A caseworker logs in through the form, opens the riskiest alert of the queue, takes it through every
state to closed with the page's own forms, and exports the queue to XLSX; a caseworker of another
township gets the 404 page for that alert. Any console error or uncaught page error fails the test.
Full-page screenshots of every step are kept in ``var/test-artefacts/browser/``.

Chromium is Debian's (``make system-deps``): without it the tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

REPO = Path(__file__).resolve().parents[2]
ARTEFACTS = REPO / "var" / "test-artefacts" / "browser"
PASSWORD = "casework-test-pw-1"  # the users' password, as in tests/casework/conftest.py
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One headless Chromium for the module; skips (or fails in CI) when it cannot be launched."""
    pw = playwright_api.sync_playwright().start()
    try:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, chromium_sandbox=False, args=CHROMIUM_ARGS
        )
    except Exception as exc:  # missing binary, missing libraries, no /dev/shm…
        pw.stop()
        why = f"Chromium cannot be launched from {CHROMIUM}: {str(exc).splitlines()[0] if str(exc) else exc!r}"
        if os.environ.get("CI"):
            pytest.fail(f"a browser is required in CI: {why}")
        pytest.skip(f"{why} (install it with `make system-deps`)")
    yield chromium
    chromium.close()
    pw.stop()


@dataclass
class Tab:
    """A page in its own browser context (own cookies), with the errors its scripts and console reported."""

    page: object
    user: str
    step: str  # the test's part of the screenshots' names
    errors: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    def shot(self, name: str) -> None:
        path = ARTEFACTS / f"{self.step}-{self.user}-{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)


@pytest.fixture
def open_tab(browser) -> Iterator[Callable[[str, str], Tab]]:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    contexts = []

    def open_(user: str, step: str) -> Tab:
        context = browser.new_context(accept_downloads=True, locale="zh-CN", viewport={"width": 1400, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        tab = Tab(page=page, user=user, step=step)
        page.on(
            "console", lambda m: tab.errors.append(f"console: {m.text} @ {m.location}") if m.type == "error" else None
        )
        page.on("pageerror", lambda e: tab.errors.append(f"pageerror: {e}"))
        return tab

    yield open_
    for context in contexts:
        context.close()


def log_in(tab: Tab, server, username: str) -> None:
    page = tab.page
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))  # the queue needs a login
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    tab.shot("login")
    page.locator("main form").get_by_role("button", name="登录").click()
    expect(page).to_have_url(server.url + "/")
    expect(page.locator("header .who")).to_contain_text(f"测试{username}")


def history_rows(page):
    """The rows of the alert's history table (without the 暂无记录 placeholder)."""
    return page.locator("table.history tbody tr").filter(has_not=page.locator("td.muted"))


def move(tab: Tab, to: str, label: str, comment: str, outcome: str | None = None) -> None:
    """Submit the page's transition form to ``to`` and check the new status and the new history row."""
    page = tab.page
    before = history_rows(page).count()
    form = page.locator(f"form.transition[data-to={to}]")
    expect(form).to_have_count(1)
    if outcome:
        form.locator("select[name=outcome]").select_option(outcome)
    form.locator("input[name=comment]").fill(comment)
    form.locator("button[type=submit]").click()
    expect(page.locator("#status")).to_have_text(label)
    expect(page.locator("ul.messages li.success")).to_have_text("已保存")
    rows = history_rows(page)
    expect(rows).to_have_count(before + 1)
    expect(rows.last).to_contain_text(f"测试{tab.user}")
    expect(rows.last).to_contain_text(f"→ {label}")  # the history names states in Chinese
    expect(rows.last).to_contain_text(comment)
    tab.shot(to)


def open_count(page) -> int:
    return int(page.locator("#count-open").inner_text().strip())


def test_caseworker_takes_an_alert_to_closed_and_exports_the_queue(casework_server, open_tab):
    server = casework_server()
    tab = open_tab("a1", "lifecycle")
    page = tab.page

    log_in(tab, server, "a1")
    queue = page.locator("table#queue")
    expect(queue).to_be_visible()
    rows = queue.locator("tbody tr[data-alert]")
    assert rows.count() > 0, "a1's queue is empty"
    open_before = open_count(page)
    assert open_before > 0
    expect(page.locator("main")).to_contain_text(f"共 {open_before} 条")  # the default filter: not closed
    tab.shot("queue")

    top = rows.first
    alert_pk = top.get_attribute("data-alert")
    rule_name = top.locator("a.alert-link").inner_text().strip()
    top.locator("a.alert-link").click()
    expect(page).to_have_url(f"{server.url}/alerts/{alert_pk}/")
    expect(page.locator("h2")).to_contain_text(rule_name)
    expect(page.locator("#status")).to_have_text("新预警")
    expect(page.locator("table.evidence")).to_have_count(1)
    tab.shot("alert-new")

    move(tab, "assigned", "已分派", "浏览器测试：分派给本人")
    expect(page.locator("#actions")).to_contain_text("改派")
    move(tab, "verifying", "入户核查中", "浏览器测试：开始入户核查")
    move(tab, "closed", "已办结", "浏览器测试：入户核查后办结", outcome="false_alarm")
    expect(page.locator("main .card").first).to_contain_text("（误报）")
    expect(page.locator("#actions")).to_have_count(0)  # no transition out of closed

    page.locator("header").get_by_role("link", name="预警队列").click()
    expect(page).to_have_url(server.url + "/")
    open_after = open_count(page)
    assert open_after == open_before - 1
    expect(page.locator(f"table#queue tr[data-alert='{alert_pk}']")).to_have_count(0)  # closed leaves the queue
    tab.shot("queue-after-close")

    with page.expect_download() as info:
        page.click("#export-queue")
    download = info.value
    assert download.failure() is None
    assert re.fullmatch(r"预警队列_\d{8}\.xlsx", download.suggested_filename), download.suggested_filename
    saved = ARTEFACTS / "lifecycle-a1-queue-export.xlsx"
    download.save_as(saved)

    workbook = openpyxl.load_workbook(saved, read_only=True)
    try:
        sheet = workbook["预警队列"]
        table = list(sheet.iter_rows(values_only=True))
    finally:
        workbook.close()
    headers = list(table[0])
    assert headers[:3] == ["序号", "预警编号", "规则"], headers
    body = table[1:]
    assert len(body) == open_after, f"export has {len(body)} rows, queue shows {open_after} open"
    assert [r[0] for r in body] == list(range(1, open_after + 1))
    status = headers.index("办理状态")
    assert "已办结" not in {r[status] for r in body}  # the export follows the default filter (not closed)

    assert tab.errors == [], "\n".join(tab.errors)


def test_other_township_gets_404_for_the_alert(casework_server, open_tab):
    server = casework_server()
    a1 = open_tab("a1", "scope")
    log_in(a1, server, "a1")
    alert_pk = a1.page.locator("table#queue tbody tr[data-alert]").first.get_attribute("data-alert")
    assert alert_pk
    assert server.users["a1"]["township"] != server.users["b1"]["township"]

    b1 = open_tab("b1", "scope")
    log_in(b1, server, "b1")
    expect(b1.page.locator(f"table#queue tr[data-alert='{alert_pk}']")).to_have_count(0)
    url = f"{server.url}/alerts/{alert_pk}/"
    response = b1.page.goto(url)
    assert response is not None and response.status == 404
    expect(b1.page.locator("main")).to_contain_text("没有找到此页面，或您无权访问")
    expect(b1.page.locator("table.evidence")).to_have_count(0)
    expect(b1.page.locator("#status")).to_have_count(0)
    expect(b1.page.locator("table.history")).to_have_count(0)
    b1.shot("alert-of-other-township-404")

    # the only console error allowed is Chromium's own report of the 404 document itself
    unexpected = [e for e in b1.errors if not ("status of 404" in e and f"'url': '{url}'" in e)]
    assert unexpected == [], "\n".join(unexpected)
    assert len(b1.errors) <= 1, "\n".join(b1.errors)
    assert a1.errors == [], "\n".join(a1.errors)
