"""Prometheus metrics of the runtime, on a registry of the app's own (two apps in one process — tests —
never collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
