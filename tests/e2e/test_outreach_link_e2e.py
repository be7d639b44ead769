"""Acceptance in a real browser: the link of an outreach email, opened signed out, goes through signing in
to the demo portal's chat on a new conversation that greets with the email's plan offer, and "YES" there
states the offered terms for the signed-in patient's yes, then sets the plan up (as a YES in reply to the
text does)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from pydantic import SecretStr

from guardrails.outreach import OfferTerms, offer_for
from guardrails.policy import default_policy
from tests.e2e.e2e_support import LiveServer
from tools.db import create_engine
from tools.outreach.links import offer_token
from tools.outreach.store import OutreachStore, PlannedStep
from tools.platforms.ledger import LedgerPlatform

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

pytestmark = pytest.mark.slow

TIMEOUT_MS = 20_000
PORTAL_SECRET = SecretStr("e2e-portal-secret-long-enough-for-hs256!")  # the server fixture's


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


async def _emailed_offer(db_url: str, candidates: list[tuple[str, str]]) -> tuple[str, int, OfferTerms]:
    """An outreach email with a plan offer, sent to the first demo patient whose balance allows a plan
    without staff approval: (name, step id, terms)."""
    engine = create_engine(db_url)
    try:
        ledger, store, policy = LedgerPlatform(engine), OutreachStore(engine), default_policy()
        for pid, name in candidates:
            balance = (await ledger.get_account_summary(pid)).balance_cents
            terms = offer_for(policy, balance, 4, date.today())
            if terms is None or balance > policy.auto_approve_ceiling_cents:
                continue
            now = datetime.now(UTC)
            planned = PlannedStep(
                key=f"outreach:{pid}:e2e:0", patient_id=pid, episode="e2e", sequence=0, step="plan_offer",
                channel="email", template_key="plan_offer", segment="plan_candidate", tone="standard",
                reason="send.first_contact.plan_candidate", due_at=now,
                offer={"total_cents": terms.total_cents, "down_payment_cents": terms.down_payment_cents,
                       "months": terms.months, "installment_cents": terms.installment_cents,
                       "final_cents": terms.final_cents, "label": terms.label},
            )  # fmt: skip
            await store.apply([planned], {})
            step = await store.claim("e2e", now, timedelta(minutes=5), ["email"])
            assert step is not None
            await store.mark_sent(step.id, "e2e", "e2e-message-id", 1, now)
            return name, step.id, terms
    finally:
        await engine.dispose()
    raise LookupError("no demo patient with a balance for a plan")


def test_an_emails_link_opens_the_portal_chat_with_the_offer_and_yes_takes_it(
    server: LiveServer, browser: Browser, contexts: list[BrowserContext], artifacts: Path
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    people = httpx.get(f"{server.base_url}/v1/demo/patients", params={"limit": 100}).json()
    candidates = [(p["patient_id"], p["name"]) for p in people if p["portal_user_id"]]
    db_url = f"sqlite+aiosqlite:///{server.log.parent / 'ledger.db'}"
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        name, step_id, terms = pool.submit(asyncio.run, _emailed_offer(db_url, candidates)).result()
    token = offer_token(PORTAL_SECRET, step_id, datetime.now(UTC) + timedelta(days=30))
    link = f"{server.base_url}/demo/portal?offer={token}"

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    contexts.append(context)
    page = context.new_page()
    page.goto(link)  # the patient clicks the email's button, not signed in to the portal yet
    expect(page.get_by_role("status")).to_contain_text("Sign in to open the offer from your message")
    page.get_by_role("button", name=f"Sign in as {name}").click()
    page.wait_for_url("**/demo/portal**")

    panel = page.get_by_role("dialog", name=re.compile("."))
    expect(panel).to_be_visible()  # the chat opens by itself, with the message's offer
    expect(panel).to_contain_text("You opened the payment plan offer in our message")
    assert "offer=" not in page.url  # and the token leaves the address bar
    message = page.get_by_label("Your message")
    message.fill("YES")
    message.press("Enter")
    expect(panel).to_contain_text("(yes/no)")
    expect(panel).to_contain_text(f"${terms.installment_cents / 100:,.2f}")
    page.screenshot(path=str(artifacts / "outreach-link-offer-in-chat.png"))
    message.fill("yes")
    message.press("Enter")
    expect(panel).to_contain_text(re.compile("plan is set up", re.IGNORECASE))
