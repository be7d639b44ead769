"""Held-out discipline and an end-to-end run of a small subset through the real graph."""

from __future__ import annotations

import string

from agent.understanding.local import training_utterances
from agent.understanding.text import normalize
from evals.suite import run_suite
from evals.task import DEFAULT_TASKS_DIR, Task, load_task_file, load_tasks

# Work lists written fresh by someone who had not seen the engine (ids by prefix): split seen, no line
# shared with dev or test.
FRESH_SEEN_PREFIXES: tuple[str, ...] = (
    "h-",
    "i-",
    "j-",
    "k-",
    "l-",
    "m-",
    "n-",
    "o-",
    "p-",
    "q-",
    "r-",
    "s-",
    "u-",
    "v-",
    "w-",
    "x-",
    "y-",
    "z-",
)


def _lines_of(task: Task) -> list[str]:
    s = task.script
    lines = list(s.opening.say)
    lines += [line for turn in s.turns for line in turn.say]
    lines += [line for answers in s.answers.values() for a in answers for line in a.say]
    return lines


def _user_lines() -> list[str]:
    return [line for task in load_tasks() for line in _lines_of(task)]


def test_suite_user_lines_are_disjoint_from_training_utterances() -> None:
    trained = training_utterances()
    overlap = sorted({line for line in _user_lines() if normalize(line) in trained})
    # Short answers to a question ("yes", "option 2") are replies, not utterances the suite tests the
    # classifier on; everything longer than two words must be unseen.
    overlap = [line for line in overlap if len(line.split()) > 2]
    assert not overlap, f"eval lines copied from the training data: {overlap}"


def _split_of_file(name: str) -> str:
    if name.startswith("test_"):
        return "test"
    if name.startswith("blind_"):
        return "blind"
    if name.startswith("seen_"):
        return "seen"
    return "dev"


def test_the_held_out_splits_live_in_their_own_files_and_share_no_line_with_dev() -> None:
    # Every task in evals/tasks/test_*.yaml is ``split: test``, every task in blind_*.yaml is ``split:
    # blind``, in seen_*.yaml ``split: seen``, and every other task is ``dev``, so that a task someone
    # tuned on cannot stay labelled held-out by accident of where it was written.
    for path in sorted(DEFAULT_TASKS_DIR.glob("*.yaml")):
        want = _split_of_file(path.name)
        wrong = [t.id for t in load_task_file(path) if t.split != want]
        assert not wrong, f"{path.name}: tasks not marked split: {want}: {wrong}"
    tasks = load_tasks()
    dev = {normalize(line) for t in tasks if t.split == "dev" for line in _lines_of(t)}
    copied = sorted(
        line
        for t in tasks
        if t.split == "test"
        for line in _lines_of(t)
        if len(line.split()) > 2 and normalize(line) in dev
    )
    assert not copied, f"blind test lines that repeat dev lines: {copied}"
    # The blind split is the second held-out set: none of its lines repeats a dev or a test line.
    earlier = dev | {normalize(line) for t in tasks if t.split == "test" for line in _lines_of(t)}
    repeated = sorted(
        line
        for t in tasks
        if t.split == "blind"
        for line in _lines_of(t)
        if len(line.split()) > 2 and normalize(line) in earlier
    )
    assert not repeated, f"blind split lines that repeat dev or test lines: {repeated}"
    # The h-, i-, j-, k-, l-, m- and o- tasks (split seen: written fresh on 2026-12-07 as work lists) repeat
    # no dev or test line either.
    fresh = sorted(
        line
        for t in tasks
        if t.id.startswith(FRESH_SEEN_PREFIXES)
        for line in _lines_of(t)
        if len(line.split()) > 2 and normalize(line) in earlier
    )
    assert not fresh, f"{FRESH_SEEN_PREFIXES} lines that repeat dev or test lines: {fresh}"
    for prefix in FRESH_SEEN_PREFIXES:
        assert all(t.split == "seen" for t in tasks if t.id.startswith(prefix)), prefix


def test_the_i_work_list_is_seen_and_its_out_of_scope_tasks_write_nothing() -> None:
    # The i- split (written from the outside before its engine failures were read) is a seen work list of
    # at least 60 tasks; what is not about this bill writes nothing and hands nothing to staff.
    fresh = [t for t in load_tasks() if t.id.startswith("i-")]
    assert len(fresh) >= 60
    assert {t.split for t in fresh} == {"seen"}
    out_of_scope = [t for t in fresh if t.category == "out_of_scope"]
    assert len(out_of_scope) >= 15
    for t in out_of_scope:
        assert {"create_link", "create_plan", "open_ticket"} <= set(t.evaluation.forbidden_actions), t.id
        assert any(a.kind == "no_write" for a in t.evaluation.assertions), t.id
        assert not t.evaluation.escalation.required, t.id


def test_the_blind_split_covers_the_issue_15_defect_classes_and_out_of_scope() -> None:
    blind = [t for t in load_tasks() if t.split == "blind"]
    assert len(blind) >= 60
    ids = {t.id for t in blind}
    for n in range(1, 11):
        assert any(i.startswith(f"g-d{n}-") for i in ids), f"no blind task for defect class {n}"
    out_of_scope = [t for t in blind if t.category == "out_of_scope"]
    assert len(out_of_scope) >= 8
    for t in out_of_scope:  # no write and no hand-off, whatever the text asks
        assert {"create_link", "create_plan"} <= set(t.evaluation.forbidden_actions), t.id
        assert any(a.kind == "no_write" for a in t.evaluation.assertions), t.id
        assert not t.evaluation.escalation.required, t.id


async def test_a_subset_runs_end_to_end_through_the_real_graph() -> None:
    wanted = {"balance-copay-portal", "dispute-already-paid-posted", "plan-deductible-longest"}
    tasks = [t for t in load_tasks() if t.id in wanted]
    assert len(tasks) == 3
    result = await run_suite(tasks, trials=1, seed=3)
    by_id = {o.task_id: o for o in result.outcomes}
    assert by_id["balance-copay-portal"].passed, by_id["balance-copay-portal"].failures
    assert by_id["dispute-already-paid-posted"].escalated
    assert by_id["plan-deductible-longest"].state_match, by_id["plan-deductible-longest"].failures
    assert result.metrics.policy_violations_total == 0
    assert result.metrics.ungrounded_mentions == 0


def test_the_j_work_list_is_large_and_keeps_out_of_scope_and_other_people_write_free() -> None:
    # The j- split (2026-12-07): at least 60 tasks; out-of-scope text, another creditor's bill and
    # someone else's account never get a link or a plan (a forbidden action, a policy violation) nor a
    # ticket (no_write, no escalation).
    j = [t for t in load_tasks() if t.id.startswith("j-")]
    assert len(j) >= 60
    for t in j:
        if t.category in ("out_of_scope", "adversarial"):
            assert {"create_link", "create_plan"} <= set(t.evaluation.forbidden_actions), t.id
            assert any(a.kind == "no_write" for a in t.evaluation.assertions), t.id
            assert not t.evaluation.escalation.required, t.id


def test_the_k_work_list_is_large_and_out_of_scope_and_money_traps_write_nothing() -> None:
    # The k- split (2026-12-07, money safety first): at least 60 seen tasks. Another creditor, another
    # person, an invented amount or injected text never gets a link or a plan; out-of-scope text writes
    # nothing at all and hands nothing to staff.
    k = [t for t in load_tasks() if t.id.startswith("k-")]
    assert len(k) >= 60
    assert {t.split for t in k} == {"seen"}
    out_of_scope = [t for t in k if t.category == "out_of_scope"]
    assert len(out_of_scope) >= 15
    for t in k:
        if t.category in ("out_of_scope", "adversarial"):
            assert {"create_link", "create_plan", "open_ticket"} <= set(t.evaluation.forbidden_actions), t.id
            assert any(a.kind == "no_write" for a in t.evaluation.assertions), t.id
            assert not t.evaluation.escalation.required, t.id


def test_every_user_line_is_a_well_formed_template() -> None:
    # Lines are templates ("born {dob}"): a bare brace (pasted JSON) must be doubled, or the simulator
    # fails the whole run on the seed that picks that phrasing.
    broken = []
    for task in load_tasks():
        for line in _lines_of(task):
            try:
                names = [name for _, name, _, _ in string.Formatter().parse(line) if name is not None]
            except ValueError:
                names = ["?"]
            if not all(name.isidentifier() for name in names):
                broken.append((task.id, line))
    assert not broken, broken
