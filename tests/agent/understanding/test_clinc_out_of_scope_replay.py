"""Every out-of-scope line of CLINC150's validation split (its 146 non-billing intents and ``oos_val``:
3,020 lines), sent as the first message of a verified portal thread through the real graph, writes
nothing: no plan, no payment link, no staff ticket (issue 15). The data is read from
``../shared/data/clinc150`` (CC BY 3.0, Larson et al. 2019); the test skips when it is absent."""

from __future__ import annotations

from functools import cache

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy import text

from agent.understanding import clinc
from tests.agent.harness import Env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(clinc.data_dir() is None, reason="CLINC150 not found at ../shared/data/clinc150"),
]

WRITES = ("payment_plans", "payment_links", "tickets")


@cache
def _out_of_scope_lines() -> list[str]:
    lines = clinc.load("val") + clinc.load("oos_val")
    return [t for t, label in lines if label not in clinc.BILL_INTENTS]


async def _rows(env: Env) -> dict[str, int]:
    async with env.engine.connect() as conn:
        return {t: int((await conn.execute(text(f"select count(*) from {t}"))).scalar_one()) for t in WRITES}


# The lines in 20 shares, one test each: pytest-xdist hands out the modules with the most tests first, so
# the suite's longest test no longer starts last and finishes alone on one worker.
SHARES = 20


def test_the_shares_are_every_out_of_scope_line_once() -> None:
    lines = _out_of_scope_lines()
    assert len(lines) == 3020  # 146 intents x 20 lines, and 100 out-of-scope queries
    assert sorted(i for share in range(SHARES) for i in range(share, len(lines), SHARES)) == list(range(3020))


# On SQLite only, and on LangGraph's in-memory saver: whether a line writes is decided by understanding and
# the write rule, not by the stores (each store and saver is tested on both databases elsewhere), and the
# saver's file is a third of each of these 3,020 turns. One thread a line: nothing to prune.
@pytest.mark.parametrize("share", range(SHARES))
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_out_of_scope_line_of_the_validation_split_writes_a_row(env: Env, share: int) -> None:
    lines = _out_of_scope_lines()
    patient = env.patient("copay_only")
    agent = env.make_agent(InMemorySaver(), prune=False)
    before = await _rows(env)
    written: list[tuple[str, str | None]] = []
    for i in range(share, len(lines), SHARES):
        line = lines[i]
        said = await env.say(f"clinc-val-{i}", line, patient, agent=agent)
        if said.handoff is not None or (said.message is not None and said.message.actions):
            written.append((line, said.message.intent if said.message else "handoff"))
    after = await _rows(env)
    assert written == []
    assert after == before, f"rows written: { {t: after[t] - before[t] for t in WRITES} }"
