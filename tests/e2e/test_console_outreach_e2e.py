"""The console's outreach page in a real browser against the real server: staff see the counters, the
call queue and the templates; an agent cannot approve a template or run a pass; a manager runs a pass,
opens a patient's timeline, pauses that patient, approves a template and records a call outcome."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.e2e_support import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.slow

TIMEOUT_MS = 20_000


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def _sign_in(
    browser: Browser, opened: list[BrowserContext], base_url: str, email: str, password: str
) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    opened.append(context)
    page = context.new_page()
    page.goto(base_url + "/console")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Outreach").click()
    return page


def _failed_requests(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url.split('/', 3)[-1]}") if r.status >= 400 else None,
    )
    return errors


def test_staff_work_the_outreach_page(
    server: LiveServer, browser: Browser, contexts: list[BrowserContext], artifacts: Path
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)

    # --- an agent sees the page but neither runs passes nor approves templates (the API's roles)
    agent = _sign_in(browser, contexts, server.base_url, server.staff_email, server.staff_password)
    expect(agent.locator("#counters dd[data-counter=sent]")).to_be_visible()
    expect(agent.get_by_role("button", name="Run a pass now")).to_be_hidden()
    drafts = agent.locator("#templates button[data-template]")
    expect(drafts.first).to_be_disabled()
    expect(agent.locator("#templates-hint")).to_contain_text("until a manager approves it")

    # --- a manager runs a pass: the accounts of the seeded practice are decided
    manager = _sign_in(browser, contexts, server.base_url, server.manager_email, server.staff_password)
    errors = _failed_requests(manager)
    manager.get_by_role("button", name="Run a pass now").click()
    expect(manager.locator("#status")).to_contain_text("Pass done:")
    patients = manager.locator("#outreach-patients button[data-patient]")
    expect(patients.first).to_be_visible()

    # --- a patient's timeline: what was decided, when and why, and what is next
    patients.first.click()
    expect(manager.locator("#timeline-title")).to_contain_text("Outreach timeline")
    entries = manager.locator("#timeline-steps li[data-step]")
    expect(entries.first).to_contain_text("Why:")
    expect(manager.locator("#timeline-next")).to_contain_text("Next:")
    expect(manager.locator("#timeline-meta")).to_have_text("Outreach is active for this patient.")
    manager.screenshot(path=str(artifacts / "outreach-01-timeline.png"))

    # --- pause that patient: nothing more is scheduled for them until resumed
    manager.get_by_role("button", name="Pause outreach for this patient").click()
    expect(manager.locator("#status")).to_contain_text("Outreach paused for this patient")
    expect(manager.locator("#timeline-meta")).to_have_text("Outreach is paused for this patient.")
    expect(manager.get_by_role("button", name="Resume outreach for this patient")).to_be_enabled()
    expect(manager.locator("#timeline-steps li.s-scheduled")).to_have_count(0)
    expect(manager.locator("#outreach-patients button[aria-current=true]")).to_contain_text("paused")

    # --- a manager proposes a new version of a template (checked by the API) and approves it
    manager.get_by_label("Template", exact=True).select_option("pay_link")
    manager.get_by_label("Language").select_option("en")
    manager.get_by_label("Text", exact=True).fill("Hi {first_name}, {practice} here: {amount} is due.")
    manager.get_by_role("button", name="Save as draft").click()
    expect(manager.locator("#status")).to_contain_text("how to opt out (STOP)")  # refused: no STOP wording
    manager.get_by_label("Text", exact=True).fill(
        "Hi {first_name}, {practice} here: your balance is {amount}. Pay at {link}. Reply STOP to opt out."
    )
    manager.get_by_role("button", name="Save as draft").click()
    expect(manager.locator("#status")).to_have_text("Template pay_link (en) v2 saved as a draft.")
    approve = manager.locator('#templates button[data-template="pay_link/en/2"]')
    approve.click()
    expect(manager.locator("#status")).to_have_text("Template pay_link (en) v2 approved.")
    row = manager.locator("#templates tr").filter(has_text="pay_link (en)").filter(has_text="v2")
    expect(row.locator("td").nth(1)).to_have_text("approved")
    expect(row).to_contain_text("by " + server.manager_email)
    expect(approve).to_have_count(0)

    # --- record the outcome of a staff call task: it leaves the queue and shows on the timeline
    calls = manager.locator("#calls li[data-call]")
    expect(calls.first).to_be_visible()
    before = calls.count()
    first = calls.first
    who = first.locator(".who").inner_text()
    first.get_by_role("button", name="Promise to pay").click()
    expect(manager.locator("#status")).to_have_text("Call recorded: promise to pay.")
    expect(calls).to_have_count(before - 1)
    expect(manager.locator("#calls-count")).to_have_text(f"({before - 1})")
    assert who  # the card named whom to call
    manager.screenshot(path=str(artifacts / "outreach-02-after-call.png"))

    # --- the counters are live figures read from the server
    expect(manager.locator("#counters dd[data-counter=call_tasks_open]")).to_have_text(re.compile(r"^\d+$"))
    assert errors == ["422 v1/console/outreach/templates"], errors  # the text without STOP
