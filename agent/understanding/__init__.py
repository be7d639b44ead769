"""Understanding port (``base``) and the offline local engine (``local``)."""

from agent.understanding.base import (
    Entities,
    Intent,
    LineRef,
    Understander,
    Understanding,
    UnderstandingContext,
)
from agent.understanding.local import LocalUnderstander, training_utterances

__all__ = [
    "Entities",
    "Intent",
    "LineRef",
    "LocalUnderstander",
    "Understander",
    "Understanding",
    "UnderstandingContext",
    "training_utterances",
]
