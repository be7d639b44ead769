"""What a language-model component (``LlmUnderstander``, ``LlmPhraser``) spent and how it failed, kept on
the component itself and read at scrape time by ``/metrics`` (``api.runtime.metrics.LlmCollector``) and,
turn by turn, by the eval report. Nothing here is counted twice: the component counts, readers read.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

# Tokens (input + output, from the provider's usage data) one turn spent on one role.
TOKEN_BUCKETS: tuple[float, ...] = (50, 100, 200, 400, 800, 1600, 3200, 6400)
# Seconds from the request to the first streamed token of a phrased reply.
FIRST_TOKEN_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)

Role = Literal["understanding", "phrasing"]


@dataclass
class Tally:
    """A histogram's state: per-bucket counts (not cumulative; the last one is ``+Inf``), sum and count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """``(upper bound, observations <= it)`` pairs, ending with ``+Inf``, as Prometheus writes them."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, n in zip([*map(_go_float, self.bounds), "+Inf"], self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


def _go_float(value: float) -> str:
    """A bucket bound as Prometheus client libraries write it (``50.0``, ``0.25``)."""
    return repr(float(value))


def token_tally() -> Tally:
    return Tally(TOKEN_BUCKETS)


def first_token_tally() -> Tally:
    return Tally(FIRST_TOKEN_BUCKETS)


@runtime_checkable
class LlmUsageSource(Protocol):
    """The counters an LLM component keeps (the attributes of ``LlmUnderstander`` and ``LlmPhraser``)."""

    @property
    def calls(self) -> int:
        """Turns on which the provider was asked (a tool round is part of its turn's call)."""
        ...

    @property
    def fallbacks(self) -> Counter[str]:
        """Turns answered without the model, by reason (``timeout``, ``server_error``, ``circuit_open``)."""
        ...

    @property
    def usage(self) -> Counter[str]:
        """``input_tokens`` and ``output_tokens`` reported by the provider, summed."""
        ...

    @property
    def turn_tokens(self) -> Tally:
        """Tokens per turn that asked the provider."""
        ...


@runtime_checkable
class PhrasingUsageSource(LlmUsageSource, Protocol):
    """A phraser's counters besides the common ones."""

    @property
    def replacements(self) -> int:
        """Replies ``guard_out`` replaced with the template (an unverified figure, placeholder, advice)."""
        ...

    @property
    def first_token_s(self) -> Tally:
        """Seconds from the request to the first streamed token."""
        ...

    @property
    def streams_cut(self) -> int:
        """Streams stopped before their end (an unverified figure): no usage was reported for them."""
        ...


def total_tokens(source: LlmUsageSource) -> int:
    return source.usage["input_tokens"] + source.usage["output_tokens"]
