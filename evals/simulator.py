"""The scripted user: answers from the task only, one line at a time, varied by the trial's seed.

It reads the structured metadata of the agent's last message (``expecting``) rather than its prose:
when the agent waits for identity, a plan choice or consent, the matching answer of the script is
sent; otherwise the next scripted line; when the script is exhausted the conversation is complete.

Trials differ by seed so that pass^k means something for a deterministic engine: the paraphrase
chosen, the order of volunteered facts, date formats ("02/11/84" vs "Feb 11 1984"), casing and a
typo, and (where the task allows it) an interjected emotional sentence.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from evals.task import Script

DOB_FORMATS: tuple[str, ...] = ("%m/%d/%Y", "%m/%d/%y", "%b %d %Y", "%B %d, %Y", "%-m/%-d/%Y")

IDENTITY_TEMPLATES: tuple[str, ...] = (
    "{dob}, zip {zip}",
    "my birthday is {dob} and my zip code is {zip}",
    "zip is {zip}, born {dob}",
    "dob {dob} / zip {zip}",
    "I was born on {dob}. ZIP {zip}",
)

EMOTIONAL: tuple[str, ...] = (
    "It's been a long week, sorry.",
    "I'm honestly a bit confused by all of this.",
    "Sorry if this is a silly question.",
    "Thanks for bearing with me.",
)

_WORD = re.compile(r"\b[a-z]{6,}\b")


@dataclass(frozen=True)
class UserLine:
    text: str
    kind: str  # "opening", "turn", "answer:<expecting>"
    intent: str | None = None
    wait_minutes: int = 0
    after_hand_back: bool = False


def format_dob(dob: date, rng: random.Random) -> str:
    return dob.strftime(rng.choice(DOB_FORMATS))


def _typo(text: str, rng: random.Random) -> str:
    """Swap two inner letters of one long word (never digits, amounts or codes)."""
    words = list(_WORD.finditer(text))
    if not words:
        return text
    m = rng.choice(words)
    w = m.group(0)
    i = rng.randrange(1, len(w) - 2)
    swapped = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    return text[: m.start()] + swapped + text[m.end() :]


@dataclass
class ScriptedUser:
    script: Script
    values: Mapping[str, str]
    dob: date
    rng: random.Random
    _next_turn: int = 0
    _answered: dict[str, int] = field(default_factory=dict)
    _started: bool = False

    def _render(self, template: str) -> str:
        values = dict(self.values)
        values["dob"] = format_dob(self.dob, self.rng)
        try:
            return template.format_map(values)
        except KeyError as exc:
            raise ValueError(f"user line {template!r} names {exc}, which this patient does not have") from exc

    def _vary(self, text: str, *, allow_typo: bool) -> str:
        if not self.script.noise:
            return text
        roll = self.rng.random()
        if roll < 0.25:
            text = text.lower()
        elif roll < 0.35:
            text = text[:1].upper() + text[1:]
        if allow_typo and self.rng.random() < 0.25:
            text = _typo(text, self.rng)
        return text

    def _identity(self) -> str:
        template = self.rng.choice(IDENTITY_TEMPLATES)
        return self._render(template)

    def next(self, expecting: str | None) -> UserLine | None:
        """The user's next line given what the agent waits for; ``None`` when the script is done."""
        if not self._started:
            self._started = True
            text = self._render(self.rng.choice(self.script.opening.say))
            text = self._vary(text, allow_typo=True)
            if self.script.emotional and self.rng.random() < 0.5:
                extra = self.rng.choice(EMOTIONAL)
                text = f"{extra} {text}" if self.rng.random() < 0.5 else f"{text} {extra}"
            return UserLine(text, "opening", self.script.opening.intent)
        if expecting is not None:
            key = expecting if expecting in self.script.answers else None
            if key is not None:
                answers = self.script.answers[key]
                n = self._answered.get(key, 0)
                self._answered[key] = n + 1
                answer = answers[min(n, len(answers) - 1)]
                text = self._render(self.rng.choice(answer.say))
                return UserLine(self._vary(text, allow_typo=False), f"answer:{key}", answer.intent)
            if expecting == "identity" and self.script.auto_identity:
                n = self._answered.get("identity", 0)
                self._answered["identity"] = n + 1
                return UserLine(self._identity(), "answer:identity", None)
        if self._next_turn < len(self.script.turns):
            turn = self.script.turns[self._next_turn]
            self._next_turn += 1
            text = self._vary(self._render(self.rng.choice(turn.say)), allow_typo=True)
            return UserLine(text, "turn", turn.intent, turn.wait_minutes, turn.after_hand_back)
        return None

    def waits_for_hand_back(self) -> bool:
        """The next scripted line is written for after staff hand the thread back to the bot."""
        return self._next_turn < len(self.script.turns) and self.script.turns[self._next_turn].after_hand_back

    def answers_used(self, key: str) -> int:
        return self._answered.get(key, 0)
