"""``billing-agent platform check``: what a practice runs first. Connects with the configured settings,
reads the practice, one page of patients, and one patient's account and statement, and says in plain
words what works and what does not (never a patient's name or figures: ids and counts only)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tools.errors import BillingError
from tools.platforms.base import BillingPlatform
from tools.platforms.http import platform_state


@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    ms: float


async def _step(name: str, run: Callable[[], Awaitable[str]], steps: list[Step]) -> bool:
    started = time.perf_counter()
    try:
        detail = await run()
        ok = True
    except BillingError as exc:
        detail, ok = exc.detail, False
    except Exception as exc:  # a check reports every failure in words, whatever raised it
        detail, ok = f"{type(exc).__name__}: {exc}", False
    steps.append(Step(name, ok, detail, (time.perf_counter() - started) * 1000))
    return ok


async def check_platform(
    platform: BillingPlatform, sample_patient_ids: Callable[[int], Awaitable[list[str]]]
) -> list[Step]:
    steps: list[Step] = []
    found: list[str] = []
    context: dict[str, Any] = {}

    async def practice() -> str:
        p = await platform.get_practice()
        return f"practice {p.id} ({p.name})"

    async def patients() -> str:
        found.extend(await sample_patient_ids(10))
        if not found:
            raise BillingError("the platform returned no patients")
        return f"{len(found)} patient(s) on the first page"

    async def account() -> str:
        summary = await platform.get_account_summary(found[0])
        statements = await platform.list_statements(found[0])
        context["statements"] = statements
        return f"patient {found[0]}: {len(statements)} statement(s), {summary.open_statement_count} open"

    async def statement() -> str:
        statements = context.get("statements") or []
        if not statements:
            return "no statement to read for that patient (nothing to check)"
        st = await platform.get_statement(found[0], statements[0].id)
        lines, payments = len(st.line_items), len(st.payments)
        return f"statement {st.number}: {lines} line(s), {payments} payment(s), figures consistent"

    if await _step("connect and read the practice", practice, steps) and await _step(
        "read one page of patients", patients, steps
    ):
        await _step("read a patient's account", account, steps) and await _step(
            "read one statement", statement, steps
        )
    return steps


def report(platform: BillingPlatform, steps: list[Step]) -> str:
    state = platform_state(platform)
    lines = [f"Platform: {state.name}"]
    for s in steps:
        mark = "ok  " if s.ok else "FAIL"
        lines.append(f"  [{mark}] {s.name}: {s.detail} ({s.ms:.0f} ms)")
    if state.state != "embedded":
        lines.append(f"  calls made: {state.calls}; circuit breaker: {state.state}")
    ok = all(s.ok for s in steps)
    lines.append(
        "Everything the agent needs works." if ok else "Some reads failed: see above, then docs/platforms.md."
    )
    return "\n".join(lines)
