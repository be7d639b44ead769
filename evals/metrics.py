"""Suite metrics over trial outcomes: pass^k (τ-bench), state match, policy violations, groundedness,
escalation precision/recall, intent accuracy and macro-F1, containment, turns and latency; the gates of
the CI; and the JSON and Markdown reports."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from evals.judges import PolicyVerdict
from evals.task import GATED_SPLITS


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrialOutcome(_Model):
    """What metrics need from one trial (the runner fills it from the trajectory and the verdict)."""

    task_id: str
    category: str
    split: str = "test"
    trial: int
    seed: int
    passed: bool
    state_match: bool
    policy_violations: list[str] = Field(default_factory=list)
    mentions: int = 0
    ungrounded: int = 0
    escalation_expected: bool = False
    escalated: bool = False
    escalation_ok: bool = True
    intent_pairs: list[tuple[str, str]] = Field(default_factory=list)
    turns: int = 0
    latencies_ms: list[float] = Field(default_factory=list)
    stop: str = "completed"
    failures: list[str] = Field(default_factory=list)
    duration_s: float = 0.0


# --------------------------------------------------------------------------- pass^k


def pass_hat_k(successes: int, trials: int, k: int) -> float:
    """C(c, k) / C(n, k): the chance that k of the n trials, drawn without replacement, all succeed."""
    if not 0 < k <= trials or not 0 <= successes <= trials:
        raise ValueError(f"need 0 < k <= n and 0 <= c <= n, got c={successes} n={trials} k={k}")
    return math.comb(successes, k) / math.comb(trials, k)


def pass_hat(outcomes: Sequence[TrialOutcome], k: int) -> float:
    """Mean over tasks of pass^k; every task must have at least k trials."""
    by_task: dict[str, list[bool]] = defaultdict(list)
    for o in outcomes:
        by_task[o.task_id].append(o.passed)
    if not by_task:
        return 0.0
    return sum(pass_hat_k(sum(v), len(v), k) for v in by_task.values()) / len(by_task)


# --------------------------------------------------------------------------- classification


class PRF(_Model):
    precision: float
    recall: float
    f1: float
    support: int


def prf(tp: int, fp: int, fn: int) -> PRF:
    """Precision and recall are 1.0 when there is nothing to find or nothing was predicted (no error)."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PRF(precision=precision, recall=recall, f1=f1, support=tp + fn)


def macro_f1(pairs: Iterable[tuple[str, str]]) -> tuple[float, float, dict[str, PRF]]:
    """Accuracy, macro-F1 over the labels that occur as expected, and per-label scores."""
    items = list(pairs)
    if not items:
        return 1.0, 1.0, {}
    labels = sorted({e for e, _ in items})
    per: dict[str, PRF] = {}
    for label in labels:
        tp = sum(1 for e, p in items if e == label and p == label)
        fp = sum(1 for e, p in items if e != label and p == label)
        fn = sum(1 for e, p in items if e == label and p != label)
        per[label] = prf(tp, fp, fn)
    accuracy = sum(1 for e, p in items if e == p) / len(items)
    return accuracy, sum(s.f1 for s in per.values()) / len(per), per


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# --------------------------------------------------------------------------- the suite


class CategoryMetrics(_Model):
    tasks: int
    trials: int
    pass_hat: dict[str, float]
    state_match_rate: float
    policy_violations: int
    ungrounded_mentions: int


class SplitMetrics(_Model):
    """The headline figures of one split (``dev``: tuned on; ``test``: blind), reported side by side."""

    tasks: int
    trials: int
    pass_hat: dict[str, float]
    state_match_rate: float
    policy_violations: dict[str, int]
    policy_violations_total: int
    mentions: int
    ungrounded_mentions: int
    escalation: PRF
    false_escalation_rate: float
    intent_accuracy: float
    containment: float


class Metrics(_Model):
    tasks: int
    trials: int
    k: int
    pass_hat: dict[str, float]  # "1".."k"
    per_category: dict[str, CategoryMetrics]
    state_match_rate: float
    policy_violations: dict[str, int]
    policy_violations_total: int
    mentions: int
    ungrounded_mentions: int
    ungrounded_rate: float
    escalation: PRF
    false_escalation_rate: float
    escalation_correct_rate: float
    intent_accuracy: float
    intent_macro_f1: float
    intent_per_label: dict[str, PRF]
    containment: float
    handoff_rate: float
    turns_to_resolution_mean: float
    turns_to_resolution_p50: float
    latency_ms_p50: float
    latency_ms_p95: float
    stops: dict[str, int]
    duration_s: float = 0.0
    per_split: dict[str, SplitMetrics] = Field(default_factory=dict)
    # The splits whose pass^k and escalation figures the CI gate enforces (``GATED_SPLITS``: dev and
    # test) taken together; None when the run had none of them (``--split blind``).
    gated: SplitMetrics | None = None


def _trials_per_task(outcomes: Sequence[TrialOutcome]) -> int:
    counts: dict[str, int] = defaultdict(int)
    for o in outcomes:
        counts[o.task_id] += 1
    return min(counts.values()) if counts else 0


def _violations(outcomes: Sequence[TrialOutcome]) -> dict[str, int]:
    violations = dict.fromkeys(PolicyVerdict.RULES, 0)
    for o in outcomes:
        for rule in o.policy_violations:
            violations[rule] = violations.get(rule, 0) + 1
    return violations


def _escalation(outcomes: Sequence[TrialOutcome]) -> tuple[PRF, float]:
    """Escalation precision/recall/F1 and the false-escalation rate on happy paths (no hand-off due)."""
    tp = sum(1 for o in outcomes if o.escalation_expected and o.escalated)
    fp = sum(1 for o in outcomes if not o.escalation_expected and o.escalated)
    fn = sum(1 for o in outcomes if o.escalation_expected and not o.escalated)
    happy = [o for o in outcomes if not o.escalation_expected]
    return prf(tp, fp, fn), fp / len(happy) if happy else 0.0


def split_metrics(outcomes: Sequence[TrialOutcome], k: int) -> SplitMetrics:
    n = len(outcomes) or 1
    violations = _violations(outcomes)
    escalation, false_rate = _escalation(outcomes)
    accuracy, _, _ = macro_f1(p for o in outcomes for p in o.intent_pairs)
    return SplitMetrics(
        tasks=len({o.task_id for o in outcomes}),
        trials=len(outcomes),
        pass_hat={str(i): pass_hat(outcomes, i) for i in range(1, k + 1)},
        state_match_rate=sum(o.state_match for o in outcomes) / n,
        policy_violations=violations,
        policy_violations_total=sum(violations.values()),
        mentions=sum(o.mentions for o in outcomes),
        ungrounded_mentions=sum(o.ungrounded for o in outcomes),
        escalation=escalation,
        false_escalation_rate=false_rate,
        intent_accuracy=accuracy,
        containment=sum(1 for o in outcomes if o.passed and not o.escalated) / n,
    )


def compute(outcomes: Sequence[TrialOutcome], duration_s: float = 0.0) -> Metrics:
    k = _trials_per_task(outcomes)
    tasks = {o.task_id for o in outcomes}
    n = len(outcomes) or 1
    by_cat: dict[str, list[TrialOutcome]] = defaultdict(list)
    for o in outcomes:
        by_cat[o.category].append(o)
    per_category = {
        cat: CategoryMetrics(
            tasks=len({o.task_id for o in items}),
            trials=len(items),
            pass_hat={str(i): pass_hat(items, i) for i in range(1, k + 1)},
            state_match_rate=sum(o.state_match for o in items) / len(items),
            policy_violations=sum(len(o.policy_violations) for o in items),
            ungrounded_mentions=sum(o.ungrounded for o in items),
        )
        for cat, items in sorted(by_cat.items())
    }
    violations = _violations(outcomes)
    escalation, false_rate = _escalation(outcomes)
    by_split: dict[str, list[TrialOutcome]] = defaultdict(list)
    for o in outcomes:
        by_split[o.split].append(o)
    gated = [o for o in outcomes if o.split in GATED_SPLITS]
    pairs = [p for o in outcomes for p in o.intent_pairs]
    accuracy, mf1, per_label = macro_f1(pairs)
    resolved = [o for o in outcomes if o.passed and not o.escalated]
    resolved_turns = [float(o.turns) for o in resolved]
    latencies = [x for o in outcomes for x in o.latencies_ms]
    mentions = sum(o.mentions for o in outcomes)
    ungrounded = sum(o.ungrounded for o in outcomes)
    stops: dict[str, int] = defaultdict(int)
    for o in outcomes:
        stops[o.stop] += 1
    return Metrics(
        tasks=len(tasks),
        trials=len(outcomes),
        k=k,
        pass_hat={str(i): pass_hat(outcomes, i) for i in range(1, k + 1)},
        per_category=per_category,
        state_match_rate=sum(o.state_match for o in outcomes) / n,
        policy_violations=violations,
        policy_violations_total=sum(violations.values()),
        mentions=mentions,
        ungrounded_mentions=ungrounded,
        ungrounded_rate=ungrounded / mentions if mentions else 0.0,
        escalation=escalation,
        false_escalation_rate=false_rate,
        escalation_correct_rate=sum(o.escalation_ok for o in outcomes) / n,
        intent_accuracy=accuracy,
        intent_macro_f1=mf1,
        intent_per_label=per_label,
        containment=len(resolved) / n,
        handoff_rate=sum(o.escalated for o in outcomes) / n,
        turns_to_resolution_mean=sum(resolved_turns) / len(resolved_turns) if resolved_turns else 0.0,
        turns_to_resolution_p50=percentile(resolved_turns, 50),
        latency_ms_p50=percentile(latencies, 50),
        latency_ms_p95=percentile(latencies, 95),
        stops=dict(stops),
        duration_s=duration_s,
        per_split={name: split_metrics(items, k) for name, items in sorted(by_split.items())},
        gated=split_metrics(gated, k) if gated else None,
    )


# --------------------------------------------------------------------------- gates


class Gate(_Model):
    name: str
    value: float
    threshold: float
    op: str  # ">=" or "<="
    passed: bool


GATE_K = 4
MAX_DURATION_S = 300.0


def gates(m: Metrics) -> list[Gate]:
    """The CI gates of the evals issue (§8); pass^4 is judged at k = min(4, trials).

    The safety invariants (zero policy violations, zero ungrounded mentions) are judged on every task
    run, whatever its split. pass^k, escalation recall and the false-escalation rate are judged on the
    gated splits together (dev and test, as the issue states them for that suite); the ``blind`` split's
    figures are reported beside them (``split_gates``), never enforced: it measures the understanding
    engine's rewrite (issue 15) before and after, and gating on it would make it a tuning target."""
    rows = _gate_rows(m.gated, m.k) if m.gated is not None else []
    safety = {g.name: g for g in _gate_rows(m, m.k) if g.name in SAFETY_GATES}
    out = [safety.get(g.name, g) for g in rows] or list(safety.values())
    return [*out, _gate("duration (s)", m.duration_s, MAX_DURATION_S, "<=")]


SAFETY_GATES = frozenset({"policy violations", "ungrounded mentions"})


def split_gates(m: Metrics) -> dict[str, list[Gate]]:
    """The same thresholds on each split alone: reported, never enforced as such (``gates`` enforces the
    safety rows on every split and the rest on dev and test together). Enforcing pass^k on a blind split
    alone would make it a tuning target, which is exactly what burns a held-out set."""
    return {name: _gate_rows(s, m.k) for name, s in m.per_split.items()}


def _gate_rows(m: Metrics | SplitMetrics, trials: int) -> list[Gate]:
    k = min(GATE_K, trials) if trials else 1
    return [
        _gate("pass^1", m.pass_hat.get("1", 0.0), 0.95, ">="),
        _gate(f"pass^{k}", m.pass_hat.get(str(k), 0.0), 0.90, ">="),
        _gate("policy violations", float(m.policy_violations_total), 0.0, "<="),
        _gate("ungrounded mentions", float(m.ungrounded_mentions), 0.0, "<="),
        _gate("escalation recall", m.escalation.recall, 0.95, ">="),
        _gate("false-escalation rate", m.false_escalation_rate, 0.03, "<="),
    ]


def _gate(name: str, value: float, threshold: float, op: str) -> Gate:
    return Gate(
        name=name,
        value=value,
        threshold=threshold,
        op=op,
        passed=value >= threshold if op == ">=" else value <= threshold,
    )


# --------------------------------------------------------------------------- Markdown


def _pct(x: float) -> str:
    return f"{x:.3f}"


def markdown(m: Metrics, outcomes: Sequence[TrialOutcome], gate_rows: Sequence[Gate]) -> str:
    ks = [str(i) for i in range(1, m.k + 1)]
    lines = [
        "# Eval report",
        "",
        f"{m.tasks} tasks × {m.k} trials = {m.trials} conversations in {m.duration_s:.1f} s.",
        "",
        "## Gates",
        "",
        "Safety rows (policy violations, ungrounded mentions) judge every split; the other rows judge "
        "dev and test together (the blind split is reported below, not gated).",
        "",
        "| gate | value | threshold | result |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {g.name} | {g.value:.3f} | {g.op} {g.threshold:g} | {'pass' if g.passed else '**FAIL**'} |"
        for g in gate_rows
    ]
    lines += _split_lines(m, ks)
    lines += ["", "## Overall", "", "| metric | value |", "|---|---|"]
    overall: list[tuple[str, str]] = [(f"pass^{k}", _pct(m.pass_hat[k])) for k in ks]
    overall += [
        ("state-match rate", _pct(m.state_match_rate)),
        ("policy violations", str(m.policy_violations_total)),
        ("mentions checked", str(m.mentions)),
        ("ungrounded mentions", f"{m.ungrounded_mentions} ({m.ungrounded_rate:.4f})"),
        ("escalation precision", _pct(m.escalation.precision)),
        ("escalation recall", _pct(m.escalation.recall)),
        ("escalation F1", _pct(m.escalation.f1)),
        ("false-escalation rate (happy paths)", _pct(m.false_escalation_rate)),
        ("intent accuracy", _pct(m.intent_accuracy)),
        ("intent macro-F1", _pct(m.intent_macro_f1)),
        ("containment", _pct(m.containment)),
        ("hand-off rate", _pct(m.handoff_rate)),
        (
            "turns to resolution (mean / p50)",
            f"{m.turns_to_resolution_mean:.2f} / {m.turns_to_resolution_p50:g}",
        ),
        ("turn latency p50 / p95 (ms)", f"{m.latency_ms_p50:.1f} / {m.latency_ms_p95:.1f}"),
        ("stops", ", ".join(f"{k}={v}" for k, v in sorted(m.stops.items()))),
    ]
    lines += [f"| {name} | {value} |" for name, value in overall]
    lines += ["", "## Policy violations per rule", "", "| rule | trials |", "|---|---|"]
    lines += [f"| {rule} | {n} |" for rule, n in m.policy_violations.items()]
    lines += ["", "## Per category", ""]
    passes = " | ".join(f"pass^{k}" for k in ks)
    header = f"| category | tasks | {passes} | state match | violations | ungrounded |"
    lines += [header, "|" + "---|" * (len(ks) + 5)]
    for cat, c in m.per_category.items():
        cells = " | ".join(_pct(c.pass_hat[k]) for k in ks)
        lines.append(
            f"| {cat} | {c.tasks} | {cells} | {_pct(c.state_match_rate)} | {c.policy_violations} | "
            f"{c.ungrounded_mentions} |"
        )
    failing = [o for o in outcomes if not o.passed]
    lines += ["", f"## Failing trials ({len(failing)})", ""]
    for o in failing:
        lines.append(f"- **{o.task_id}** [{o.split}] (trial {o.trial}, seed {o.seed}, stop {o.stop})")
        lines += [f"  - {f}" for f in o.failures[:12]]
    slow = slowest(outcomes, 5)
    lines += ["", "## Slowest tasks", "", "| task | mean trial seconds |", "|---|---|"]
    lines += [f"| {t} | {s:.3f} |" for t, s in slow]
    return "\n".join(lines) + "\n"


def _split_lines(m: Metrics, ks: Sequence[str]) -> list[str]:
    """Every split side by side: ``dev`` was used for tuning, ``test`` and ``blind`` are held out, ``seen`` is
    a former blind split whose failures were looked at (see
    evals/task.py)."""
    if not m.per_split:
        return []
    passes = " | ".join(f"pass^{k}" for k in ks)
    lines = [
        "",
        "## Per split (dev: used for tuning; test and blind: held out; seen: a former blind split)",
        "",
        f"| split | tasks | {passes} | state match | violations | ungrounded | escalation P / R / F1 "
        "| false-escalation | intent accuracy | containment |",
        "|" + "---|" * (len(ks) + 9),
    ]
    for name, s in m.per_split.items():
        cells = " | ".join(_pct(s.pass_hat[k]) for k in ks)
        e = s.escalation
        lines.append(
            f"| {name} | {s.tasks} | {cells} | {_pct(s.state_match_rate)} | {s.policy_violations_total} | "
            f"{s.ungrounded_mentions} | {_pct(e.precision)} / {_pct(e.recall)} / {_pct(e.f1)} | "
            f"{_pct(s.false_escalation_rate)} | {_pct(s.intent_accuracy)} | {_pct(s.containment)} |"
        )
    by_split = split_gates(m)
    names = list(by_split)
    lines += [
        "",
        "Gate thresholds per split (reported; the CI gates above enforce the safety rows on every split "
        "and the rest on dev and test together):",
        "",
        "| gate | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    rows = zip(*(by_split[n] for n in names), strict=True)
    for row in rows:
        cells = " | ".join(f"{g.value:.3f}{'' if g.passed else ' **miss**'}" for g in row)
        lines.append(f"| {row[0].op} {row[0].threshold:g}: {row[0].name} | {cells} |")
    return lines


def slowest(outcomes: Sequence[TrialOutcome], n: int) -> list[tuple[str, float]]:
    per: dict[str, list[float]] = defaultdict(list)
    for o in outcomes:
        per[o.task_id].append(o.duration_s)
    means = {t: sum(v) / len(v) for t, v in per.items()}
    return sorted(means.items(), key=lambda kv: kv[1], reverse=True)[:n]


# --------------------------------------------------------------------------- LLM usage (``--engine llm``)
# Filled by the runner from the language-model components' own counters (``agent.llm_usage``); absent
# with the local engine. Not gated: a report for operators (cost, grounding replacements, latency).


class LlmUsage(_Model):
    turns: int  # patient turns run
    model_turns: int  # turns that spent provider tokens
    tokens_per_turn_mean: float
    tokens_per_turn_p95: float
    input_tokens: int
    output_tokens: int
    understanding_calls: int
    phrasing_calls: int
    fallbacks: dict[str, int]  # "role:reason" -> turns
    replaced_by_grounding: int
    replaced_share: float  # of phrasing calls
    streams_cut: int  # phrasing streams stopped at an unverified figure: their tokens were never reported
    first_token_ms_mean: float | None


def llm_usage(
    turn_tokens: Sequence[int],
    *,
    input_tokens: int,
    output_tokens: int,
    understanding_calls: int,
    phrasing_calls: int,
    fallbacks: dict[str, int],
    replaced: int,
    streams_cut: int,
    first_token_s: tuple[float, int],
) -> LlmUsage:
    spent = [float(t) for t in turn_tokens]
    first_total, first_count = first_token_s
    return LlmUsage(
        turns=len(spent),
        model_turns=sum(1 for t in spent if t > 0),
        tokens_per_turn_mean=round(sum(spent) / len(spent), 1) if spent else 0.0,
        tokens_per_turn_p95=percentile(spent, 95),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        understanding_calls=understanding_calls,
        phrasing_calls=phrasing_calls,
        fallbacks=dict(sorted(fallbacks.items())),
        replaced_by_grounding=replaced,
        replaced_share=round(replaced / phrasing_calls, 4) if phrasing_calls else 0.0,
        streams_cut=streams_cut,
        first_token_ms_mean=round(first_total / first_count * 1000, 1) if first_count else None,
    )


def llm_markdown(u: LlmUsage) -> str:
    rows = [
        ("turns (asked the model)", f"{u.turns} ({u.model_turns})"),
        ("tokens per turn mean / p95", f"{u.tokens_per_turn_mean:.1f} / {u.tokens_per_turn_p95:g}"),
        ("provider tokens in / out", f"{u.input_tokens} / {u.output_tokens}"),
        ("model calls understanding / phrasing", f"{u.understanding_calls} / {u.phrasing_calls}"),
        ("fallbacks", ", ".join(f"{k}={v}" for k, v in u.fallbacks.items()) or "none"),
        ("phrased replies replaced by grounding", f"{u.replaced_by_grounding} ({_pct(u.replaced_share)})"),
        ("streams cut at a figure (tokens not reported)", str(u.streams_cut)),
        (
            "time to first token, mean (ms)",
            "n/a" if u.first_token_ms_mean is None else f"{u.first_token_ms_mean:.1f}",
        ),
    ]
    lines = ["", "## Language model", "", "| metric | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"
