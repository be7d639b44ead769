"""Prometheus metrics of the runtime, on a registry of the app's own (two apps in one process — tests —
never collide).

The language-model figures are not counted here: ``LlmUnderstander`` and ``LlmPhraser`` keep their own
counters (``agent.llm_usage``) and ``LlmCollector`` reads them at scrape time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from agent.llm_usage import LlmUsageSource, PhrasingUsageSource, Role, Tally

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class LlmCollector(Collector):
    """``billing_llm_*``: calls, fallbacks by reason, provider tokens and tokens per turn, per role."""

    def __init__(self, sources: Sequence[tuple[Role, LlmUsageSource]]) -> None:
        self._sources = list(sources)

    def collect(self) -> Iterable[Metric]:
        calls = CounterMetricFamily(
            "billing_llm_calls", "Turns on which the language model was asked", labels=["role"]
        )
        fallbacks = CounterMetricFamily(
            "billing_llm_fallbacks",
            "Turns answered by the local engine or the template instead of the model, by reason",
            labels=["role", "reason"],
        )
        tokens = CounterMetricFamily(
            "billing_llm_tokens", "Tokens reported by the provider", labels=["role", "kind"]
        )
        per_turn = HistogramMetricFamily(
            "billing_llm_turn_tokens",
            "Tokens (input + output) one turn spent on the model, per role",
            labels=["role"],
        )
        replaced = CounterMetricFamily(
            "billing_llm_replies_replaced",
            "Phrased replies replaced with the template by the grounding check",
            labels=["role"],
        )
        cut = CounterMetricFamily(
            "billing_llm_streams_cut",
            "Phrasing streams stopped at an unverified figure (their tokens are not in billing_llm_tokens)",
            labels=["role"],
        )
        first_token = HistogramMetricFamily(
            "billing_llm_first_token_seconds",
            "Time from the request to the model's first streamed token",
            labels=["role"],
        )
        for role, source in self._sources:
            calls.add_metric([role], source.calls)
            for reason, n in sorted(source.fallbacks.items()):
                fallbacks.add_metric([role, reason], n)
            tokens.add_metric([role, "input"], source.usage["input_tokens"])
            tokens.add_metric([role, "output"], source.usage["output_tokens"])
            _histogram(per_turn, role, source.turn_tokens)
            if isinstance(source, PhrasingUsageSource):
                replaced.add_metric([role], source.replacements)
                cut.add_metric([role], source.streams_cut)
                _histogram(first_token, role, source.first_token_s)
        return [calls, fallbacks, tokens, per_turn, replaced, cut, first_token]


def _histogram(family: HistogramMetricFamily, role: str, tally: Tally) -> None:
    family.add_metric([role], [(b, float(n)) for b, n in tally.cumulative()], sum_value=tally.total)


class Metrics:
    def __init__(self, llm: Sequence[tuple[Role, LlmUsageSource]] = ()) -> None:
        self.registry = CollectorRegistry()
        if llm:
            self.registry.register(LlmCollector(llm))
        self.turns = Counter(
            "billing_turns",
            "Patient turns run, by channel and outcome",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.turn_seconds = Histogram(
            "billing_turn_seconds",
            "Wall time of a turn, message stored to done",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "billing_turn_errors",
            "Turns that failed and ended with an error event",
            ["channel"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "billing_turn_fallbacks",
            "Replies given without a confident understanding (no intent or confidence < 0.45)",
            ["channel"],
            registry=self.registry,
        )
        self.handoffs = Counter(
            "billing_handoffs",
            "Turns that handed the thread to a person",
            ["channel"],
            registry=self.registry,
        )
        self.sse_clients = Gauge("billing_sse_clients", "Open SSE streams", registry=self.registry)
        self.messages_sent = Counter(
            "billing_outbound_messages",
            "Messages delivered through the Messaging port",
            ["kind"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
