"""Restart safety: a new process resumes a thread from its checkpoint, and a process SIGKILLed inside a
write node (after its side effect, before its checkpoint) never causes a second plan, link or ticket."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from agent.checkpoint import checkpoint_bytes, open_checkpointer, stored_bytes
from tests.agent.harness import Env
from tools.platforms.models import PlanStatus

ROOT = Path(__file__).resolve().parents[2]


async def _run_worker(env: Env, cp: Path, thread: str, pid: str, kill_at: str, *texts: str) -> None:
    url = env.engine.url.render_as_string(hide_password=False)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.agent.crash_worker", url, str(cp), thread, pid, kill_at, *texts,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, out.decode(), err.decode()[-3000:])


async def _plan_patient(env: Env, *, above_ceiling: bool) -> str:
    policy = env.agent.ports.policy
    for p in env.data.patients:
        s = await env.platform.get_account_summary(p.id)
        if s.has_active_plan or s.has_defaulted_plan:
            continue
        if above_ceiling and s.balance_cents > policy.auto_approve_ceiling_cents:
            return p.id
        if (
            not above_ceiling
            and policy.min_plan_balance_cents <= s.balance_cents <= policy.auto_approve_ceiling_cents
        ):
            return p.id
    raise LookupError


async def test_new_process_resumes_a_negotiation_stopped_after_the_offer(env: Env, tmp_path: Path) -> None:
    pid = await _plan_patient(env, above_ceiling=False)
    cp = tmp_path / "restart.db"
    await _run_worker(env, cp, "r-1", pid, "after-turns", "I'd like to set up a payment plan")
    async with open_checkpointer(str(cp)) as saver:
        agent = env.make_agent(saver)
        state = await agent.state("r-1")
        pending = state.get("pending")
        assert pending is not None
        assert state.get("expecting") == "plan_choice"
        patient = await env.platform.get_patient(pid)
        await env.say("r-1", "option 1", patient, agent=agent)
        done = await env.say("r-1", "yes", patient, agent=agent)
    assert done.message is not None
    assert "created_plan" in done.message.actions
    plans = await env.platform.list_payment_plans(pid)
    assert len(plans) == 1
    assert plans[0].status is PlanStatus.ACTIVE
    assert plans[0].months == pending["options"][0]["months"]
    assert sum(i.amount_cents for i in plans[0].installments) == pending["balance_cents"]


@pytest.mark.slow
@pytest.mark.parametrize("node", ["create_plan", "payment_link", "escalate_ticket", "apply_plan_decision"])
async def test_sigkill_inside_a_write_node_never_duplicates(env: Env, tmp_path: Path, node: str) -> None:
    cp = tmp_path / f"crash-{node}.db"
    thread = f"c-{node}"
    texts: tuple[str, ...]
    if node in ("create_plan", "apply_plan_decision"):
        pid = await _plan_patient(env, above_ceiling=node == "apply_plan_decision")
        texts = ("set up a payment plan", "option 1", "yes")
    elif node == "payment_link":
        pid = env.patient("copay_only").id
        texts = ("I want to pay my bill now",)
    else:
        pid = env.patient("copay_only").id
        texts = ("I want to talk to a real person",)
    kill_at = f"approve:{node}" if node == "apply_plan_decision" else node
    await _run_worker(env, cp, thread, pid, kill_at, *texts)

    # The side effect happened exactly once before the crash.
    before_plans = await env.platform.list_payment_plans(pid)
    before_links = await env.gateway.list_links(pid)
    before_tickets = await env.platform.list_tickets(pid)
    async with open_checkpointer(str(cp)) as saver:
        agent = env.make_agent(saver)
        if node == "apply_plan_decision":
            message = await agent.resume_plan_decision(thread, approved=True, approver="staff.crash")
            assert message.text.startswith(("Good news", "Buenas noticias"))
        else:
            snapshot = await agent.graph.aget_state({"configurable": {"thread_id": thread}})
            assert snapshot.next == (node,)  # the crash left the write node in flight
            replies = [e async for e in agent.recover(thread)]
            assert any(e.type == "message" for e in replies)
        # Another turn after recovery works normally.
        patient = await env.platform.get_patient(pid)
        await env.say(thread, "thanks", patient, agent=agent)
    plans = await env.platform.list_payment_plans(pid)
    links = await env.gateway.list_links(pid)
    tickets = await env.platform.list_tickets(pid)
    assert [p.id for p in plans] == [p.id for p in before_plans]
    assert [lk.id for lk in links] == [lk.id for lk in before_links]
    assert [t.id for t in tickets] == [t.id for t in before_tickets]
    if node == "create_plan":
        assert len(plans) == 1
        assert plans[0].status is PlanStatus.ACTIVE
    elif node == "apply_plan_decision":
        assert len(plans) == 1
        assert plans[0].status is PlanStatus.ACTIVE
        assert plans[0].approver == "staff.crash"
        comms = await env.platform.list_communications(pid, thread, 100)
        assert sum(1 for c in comms if c.external_id == f"plan-decision:{plans[0].id}") == 1
    elif node == "payment_link":
        assert len(links) == 1
    else:
        assert len([t for t in tickets if t.thread_id == thread]) == 1


async def test_checkpoint_stays_bounded(env: Env) -> None:
    patient = env.patient("copay_only")
    script = ["what is my balance?", "explain my statement", "what payment methods do you accept?", "thanks"]
    sizes: dict[int, tuple[int, int]] = {}
    for turn in range(1, 101):
        await env.say("b-1", script[turn % len(script)], patient)
        if turn in (10, 100):
            sizes[turn] = (
                await checkpoint_bytes(env.checkpointer, "b-1"),
                await stored_bytes(env.checkpointer, "b-1"),
            )
    (latest10, stored10), (latest100, stored100) = sizes[10], sizes[100]
    assert latest100 <= latest10 * 1.1, sizes
    assert stored100 <= stored10 * 1.1, sizes
    assert len((await env.agent.state("b-1")).get("messages") or []) == 12
