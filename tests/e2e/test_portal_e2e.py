"""Acceptance, end to end in a real browser: a patient chats in the demo portal's widget, asks for a
person, a staff member takes the thread over in the console and replies live, hands back, and the bot
answers again. Plus the widget's origin allowlist and keyboard behaviour on a practice's own origin."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.e2e_support import LiveServer, PortalSite

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.slow

TIMEOUT_MS = 20_000

# Records every text the widget writes into a bot bubble, as it is written: a streamed answer shows up
# as several growing partial texts before the final one.
RECORD_STREAM = """() => {
  const root = document.getElementById("pba-widget-host").shadowRoot;
  window.__pbaPartials = [];
  new MutationObserver((records) => {
    for (const r of records) {
      const bubble = r.target.closest ? r.target.closest(".pba-bot") : null;
      if (!bubble) continue;
      for (const n of r.addedNodes) if (n.nodeType === 3) window.__pbaPartials.push(n.data);
    }
  }).observe(root.querySelector(".pba-log"), { childList: true, subtree: true, characterData: true });
}"""
WIDGET_FOCUS = "() => document.getElementById('pba-widget-host').shadowRoot.activeElement?.className || ''"
THREAD_ID = """() => Object.keys(sessionStorage).filter((k) => k.startsWith("pba-thread|"))
  .map((k) => sessionStorage.getItem(k))"""


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def _context(browser: Browser, opened: list[BrowserContext]) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    opened.append(context)
    return context


def _watch_errors(page: Page) -> list[str]:
    """Script errors and failed requests of ``page`` (``"<status> <path>"``)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url.split('/', 3)[-1]}") if r.status >= 400 else None,
    )
    return errors


def _bot_texts(page: Page) -> list[str]:
    return page.locator(".pba-msg.pba-bot .pba-text").all_inner_texts()


def test_patient_chats_asks_for_a_person_and_staff_take_over_reply_and_hand_back(
    server: LiveServer, browser: Browser, contexts: list[BrowserContext], artifacts: Path
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)

    # --- the patient signs in to the demo portal and opens a statement
    patient = _context(browser, contexts).new_page()
    patient_errors = _watch_errors(patient)
    patient.goto(server.base_url + "/")
    patient.get_by_role("button", name=re.compile(r"^Sign in as ")).first.click()
    patient.wait_for_url("**/demo/portal")
    balance = patient.locator(".balance strong").inner_text()
    assert re.fullmatch(r"\$[\d,]+\.\d\d", balance), balance
    statement_number = patient.locator("table.statements tbody a").first.inner_text()
    patient.locator("table.statements tbody a").first.click()
    expect(patient.get_by_role("heading", level=1)).to_have_text(f"Statement {statement_number}")

    # --- the widget knows the statement being viewed; it opens from the keyboard and focuses its input
    launcher = patient.get_by_role("button", name="Questions about your bill?")
    launcher.focus()
    patient.keyboard.press("Enter")
    panel = patient.get_by_role("dialog", name=re.compile("."))
    expect(panel).to_be_visible()
    expect(panel).to_contain_text(f"About statement {statement_number}")
    assert "pba-input" in patient.evaluate(WIDGET_FOCUS)
    patient.screenshot(path=str(artifacts / "01-statement-page-widget-open.png"))

    # --- the balance question: the answer streams in
    patient.evaluate(RECORD_STREAM)
    message = patient.get_by_label("Your message")
    message.fill("What is my balance?")
    message.press("Enter")
    answer = patient.locator(".pba-msg.pba-bot").filter(has_text=balance)
    expect(answer).to_have_count(1)
    expect(answer).not_to_have_attribute("aria-busy", "true")
    final = answer.locator(".pba-text").inner_text()
    partials = [p for p in patient.evaluate("() => window.__pbaPartials") if p]
    assert len(partials) >= 3, partials  # token deltas rendered one after another, then the final text
    assert partials[-1] == final
    assert any(len(p) < len(final) and final.startswith(p) for p in partials), partials
    expect(patient.locator("[aria-live=polite]")).to_contain_text(f"Assistant: {final}")
    patient.screenshot(path=str(artifacts / "02-balance-answer-streamed.png"))

    # --- the patient asks for a person
    message.fill("I want to talk to a person")
    message.press("Enter")
    expect(panel).to_contain_text("asked a member of the billing team to join")
    [thread_id] = patient.evaluate(THREAD_ID)
    patient.screenshot(path=str(artifacts / "03-patient-asked-for-a-person.png"))

    # --- a staff member signs in to the console (second browser context) and takes the thread over
    staff = _context(browser, contexts).new_page()
    staff_errors = _watch_errors(staff)
    staff.goto(server.base_url + "/console")
    staff.get_by_label("E-mail").fill(server.staff_email)
    staff.get_by_label("Password").fill(server.staff_password)
    staff.get_by_role("button", name="Sign in").click()
    queued = staff.locator(f'#queue button[data-thread="{thread_id}"]')
    expect(queued).to_be_visible()
    queued.click()
    staff.get_by_role("button", name="Take over").click()
    expect(staff.locator("#status")).to_contain_text("You took the thread over.")
    expect(panel).to_contain_text("A member of the billing team has joined the conversation.")
    expect(patient.locator(".pba-mode")).to_have_text("You are chatting with a member of the billing team.")
    expect(staff.locator("#take-over")).to_be_hidden()  # the holder is not offered a take-over again
    staff.screenshot(path=str(artifacts / "04-console-thread-taken-over.png"))

    # --- the staff reply reaches the patient live
    reply = "Hi, this is Sam from the billing office. I can see your statement and I am happy to help."
    staff.get_by_label("Reply to the patient").fill(reply)
    staff.get_by_role("button", name="Send reply").click()
    staff_bubble = patient.locator(".pba-msg.pba-staff").filter(has_text=reply)
    expect(staff_bubble).to_have_count(1)
    expect(staff_bubble.locator(".pba-who")).to_have_text("Billing team")
    expect(patient.locator("[aria-live=polite]")).to_contain_text(f"Billing team: {reply}")
    patient.screenshot(path=str(artifacts / "05-patient-sees-staff-reply-live.png"))

    # --- staff hand back; the bot answers the next question
    staff.get_by_label("Note for the hand-back (optional)").fill(
        "Explained the statement; balance questions are fine."
    )
    staff.get_by_role("button", name="Hand back to the bot").click()
    expect(staff.locator("#status")).to_contain_text("Handed back to the bot.")
    expect(panel).to_contain_text("You are back with the automated assistant.")
    expect(patient.locator(".pba-mode")).to_be_hidden()
    expect(staff.get_by_role("button", name="Take over")).to_be_enabled()
    staff.screenshot(path=str(artifacts / "06-console-handed-back.png"))

    message.fill("What is my balance now?")
    message.press("Enter")
    again = patient.locator(".pba-msg.pba-bot").filter(has_text=balance)
    expect(again).to_have_count(2)
    expect(again.last).not_to_have_attribute("aria-busy", "true")
    patient.screenshot(path=str(artifacts / "07-bot-answers-after-hand-back.png"))

    # Nothing was applied twice although the turn streams and the live stream overlap.
    assert patient.locator(".pba-msg.pba-staff").count() == 1
    assert patient.locator(".pba-msg.pba-patient").count() == 3
    assert patient_errors == [], patient_errors
    assert staff_errors == ["401 v1/console/me"], staff_errors  # the console asks who is signed in first


def test_the_widget_runs_on_an_allowed_portal_origin_and_refuses_any_other(
    server: LiveServer,
    portal_site: PortalSite,
    browser: Browser,
    contexts: list[BrowserContext],
    artifacts: Path,
) -> None:
    """A practice's own portal (another origin, allowed by configuration) embeds the widget with one tag
    and chats across origins through CORS; a page of an origin that is not allowed gets no widget."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    patients = httpx.get(f"{server.base_url}/v1/demo/patients", params={"limit": 5}).json()
    issued = httpx.post(f"{server.base_url}/v1/demo/sessions", json={"patient_id": patients[1]["patient_id"]})
    assert issued.status_code == 201
    token = issued.json()["token"]
    portal_site.page[0] = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Practice portal</title><link rel="icon" href="data:,"></head><body><h1>My account</h1>
<script src="{server.base_url}/static/widget.js" data-token="{token}" data-practice-name="Lakeside Clinic"
 data-color="#6b2c91" defer></script></body></html>"""
    context = _context(browser, contexts)

    # An origin that is not allowed: the script loads, but CORS hides the configuration from it and it
    # draws nothing; the page's console says why.
    refused = context.new_page()
    warnings: list[str] = []
    refused.on("console", lambda msg: warnings.append(msg.text) if "Billing widget" in msg.text else None)
    refused.goto(portal_site.refused + "/account")
    expect(refused.get_by_role("heading", name="My account")).to_be_visible()
    refused.wait_for_function("() => window.BillingAgentWidget !== undefined")  # the widget's script ran
    for _ in range(100):  # the configuration request fails (CORS) within moments
        if warnings:
            break
        refused.wait_for_timeout(100)
    assert warnings == ["Billing widget: the service refused this page (origin not allowed or offline)."], (
        warnings
    )
    assert refused.locator("#pba-widget-host").count() == 0

    # The allowed origin: branded by the tag, chats through CORS, keyboard operable.
    page = context.new_page()
    errors = _watch_errors(page)
    page.goto(portal_site.allowed + "/account")
    launcher = page.get_by_role("button", name="Questions about your bill?")
    expect(launcher).to_be_visible()
    launcher.focus()
    page.keyboard.press("Enter")
    panel = page.get_by_role("dialog", name="Lakeside Clinic")
    expect(panel).to_be_visible()
    assert "pba-input" in page.evaluate(WIDGET_FOCUS)
    # The brand colour arrives with the widget's stylesheet, which may still be loading on a busy machine.
    header = page.locator("#pba-widget-host .pba-header")  # Playwright's locators pierce the shadow root
    expect(header).to_have_css("background-color", "rgb(107, 44, 145)")

    chip = page.get_by_role("group", name="Suggested replies").get_by_role(
        "button", name="What is my balance?"
    )
    chip.click()
    expect(page.locator(".pba-msg.pba-bot").filter(has_text=re.compile(r"\$[\d,]+\.\d\d"))).to_have_count(1)
    assert "pba-input" in page.evaluate(WIDGET_FOCUS)
    page.screenshot(path=str(artifacts / "08-widget-on-an-allowed-portal-origin.png"))

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    assert page.evaluate(WIDGET_FOCUS) == "pba-launcher"

    # A reload restores the conversation from the thread's history (same tab, same session).
    page.reload()
    page.get_by_role("button", name="Questions about your bill?").click()
    expect(page.locator(".pba-msg.pba-patient .pba-text")).to_have_text(["What is my balance?"])
    assert errors == [], errors
