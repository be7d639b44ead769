"""Demo practice generator: a deterministic practice covering every billing scenario."""

from tools.demo.generator import DEMO_TODAY, generate_practice
from tools.demo.scenarios import SCENARIOS

__all__ = ["DEMO_TODAY", "SCENARIOS", "generate_practice"]
