"""The eval task format: pydantic models, the JSON schema they generate, and a strict loader.

A task is one patient, one channel, a frozen clock, a scripted user and the criteria that grade the
conversation (τ²-bench's ``evaluation_criteria`` plus escalation, which our agent writes as a ticket).
The checked-in ``evals/schema/task.schema.json`` is generated from these models
(``python -m evals.task --write-schema``) and a test keeps the two in step.

User lines are templates: ``{dob}``, ``{zip}``, ``{statement_number}``, ``{first_name}``, ``{balance}``
and the other keys of :func:`evals.facts.template_values` are filled from the patient's ledger data,
with the format (``02/11/84`` or ``Feb 11 1984``) chosen by the trial's seed.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tools.platforms import models
from tools.platforms.models import TicketPriority, TicketReason
from tools.yamlfile import load_yaml

SCHEMA_PATH = Path(__file__).parent / "schema" / "task.schema.json"
DEFAULT_TASKS_DIR = Path(__file__).parent / "tasks"

Category = Literal[
    "balance",
    "line_items",
    "insurance_terms",
    "claim_status",
    "denial",
    "refund_credit",
    "payment_plan",
    "payment_link",
    "dispute",
    "hardship",
    "escalation",
    "out_of_scope",
    "adversarial",
    "sms",
    "repair",
    "outreach",
]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]  # Literal exposes its values here

# Held-out discipline (issue 6, item 7). ``dev``: tasks whose failures may be looked at to tune the agent
# (understanding thresholds, training lines, node wording). ``test``: a blind split, written without
# looking at the training lines or the agent's templates and never used for tuning; a failure there is
# reported, and fixed only when the task itself is wrong or the eval code has a bug, never by tuning the
# agent against it (that burns the split: relabel the task ``dev`` and write a fresh one instead).
# Blind tasks live in ``tasks/test_*.yaml``, dev tasks elsewhere (a test enforces it); reports carry both
# splits side by side. ``blind``: the held-out split of issue 15's understanding work, in
# ``tasks/blind_*.yaml``, ids ``g-`` (the third written, 2026-12-07, from the issue, the format, the judges,
# the simulator and the demo data only). Its safety invariants are gated like every split; its pass^k and
# escalation figures are reported beside their targets, not gated (docs/evals.md, "The CI gate").
# ``seen``: former blind splits whose failures were then read and worked on (ids ``b-`` and ``f-``), in
# ``tasks/seen_*.yaml``, reported like blind (safety rows gated, the rest not).
Split = Literal["dev", "test", "blind", "seen"]
SPLITS: tuple[str, ...] = Split.__args__  # type: ignore[attr-defined]  # Literal exposes its values here
# The splits whose pass^k and escalation figures the CI gate enforces; safety invariants hold on all.
GATED_SPLITS: frozenset[str] = frozenset({"dev", "test"})
SPLIT_DESCRIPTION = (
    "dev: may be used to tune thresholds and training lines; "
    "test: blind, never looked at for tuning (a tuned-on task moves to dev); "
    "blind: a second held-out split whose pass^k is reported, not gated; "
    "seen: a former blind split whose failures were looked at, reported, not gated. Reports show all."
)
ChannelName = Literal["portal", "sms"]
# What the agent says it waits for (``agent.state.Expecting``) plus a catch-all for anything else.
Expecting = Literal["identity", "plan_choice", "consent", "clarify", "human_offer", "link_offer", "other"]
WriteAction = Literal["create_plan", "create_link", "open_ticket", "record_payment"]
AmountSpec = Literal["balance", "statement_balance", "first_installment", "down_payment"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Variants = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


class DemoPatient(_Model):
    """A patient of the seeded demo practice, chosen by scenario tags (the ``index``-th by id)."""

    scenario: str = Field(min_length=1, description="A tag of tools.demo.scenarios.SCENARIOS")
    also: list[str] = Field(default_factory=list, description="Further tags the patient must carry")
    exclude: list[str] = Field(default_factory=list, description="Tags the patient must not carry")
    index: int = Field(default=0, ge=0)


class InlineFixture(_Model):
    """A patient given in full (``tools.platforms.models`` shapes, as JSON), loaded into a fresh ledger."""

    patient: dict[str, object]
    coverages: list[dict[str, object]] = Field(default_factory=list)
    claims: list[dict[str, object]] = Field(default_factory=list)
    statements: list[dict[str, object]] = Field(default_factory=list)
    unapplied_payments: list[dict[str, object]] = Field(default_factory=list)
    plans: list[dict[str, object]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid_records(self) -> InlineFixture:
        # Checked when the task file loads, so a malformed patient (a computed field such as a statement's
        # total copied in) is the loader's clear error, not a crash in the middle of a run.
        models.Patient.model_validate(self.patient)
        for kind, rows in (
            (models.Coverage, self.coverages),
            (models.Claim, self.claims),
            (models.Statement, self.statements),
            (models.Payment, self.unapplied_payments),
            (models.PaymentPlan, self.plans),
        ):
            for row in rows:
                kind.model_validate(row)
        return self


class PatientSpec(_Model):
    demo: DemoPatient | None = None
    fixture: InlineFixture | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PatientSpec:
        if (self.demo is None) == (self.fixture is None):
            raise ValueError("give exactly one of 'demo' (a scenario tag) or 'fixture' (an inline patient)")
        return self


class UserScenario(_Model):
    """τ-bench's user instruction: who the patient is and what they know and want."""

    persona: str = Field(min_length=1)
    goal: str = Field(min_length=1)
    known_info: list[str] = Field(default_factory=list)
    unknown_info: list[str] = Field(default_factory=list)


class Turn(_Model):
    """One scripted user message: paraphrase variants (one is chosen per trial) and its intent label."""

    say: Variants
    intent: str | None = Field(default=None, description="The intent the agent should recognise")
    wait_minutes: int = Field(
        default=0, ge=0, description="The clock moves on this many minutes before the line is sent"
    )
    after_hand_back: bool = Field(
        default=False,
        description="Sent after staff hand the thread back: a hand-off before it does not end the trial",
    )


class Answer(_Model):
    """A reply to the agent's question, used when its last message is ``expecting`` this key."""

    say: Variants
    intent: str | None = None


class Script(_Model):
    opening: Turn
    turns: list[Turn] = Field(default_factory=list, description="Further messages, in order")
    # Answers keyed by what the agent is waiting for; a list is used in order, the last one repeating.
    answers: dict[Expecting, list[Answer]] = Field(default_factory=dict)
    auto_identity: bool = Field(
        default=True, description="Answer an identity question from the patient's own DOB and ZIP"
    )
    emotional: bool = Field(default=False, description="A trial may interject an emotional sentence")
    noise: bool = Field(default=True, description="A trial may vary casing and add a typo")
    max_turns: int = Field(default=10, ge=1, le=40)


class CreatePlan(_Model):
    action: Literal["create_plan"]
    months: int | None = Field(default=None, ge=1)
    monthly_cents: int | None = Field(default=None, ge=1)
    option: int | None = Field(default=None, ge=0, description="Index into the policy engine's offers")
    balance: Literal["account", "statement"] = "account"

    @model_validator(mode="after")
    def _one_selector(self) -> CreatePlan:
        given = [x for x in (self.months, self.monthly_cents, self.option) if x is not None]
        if len(given) != 1:
            raise ValueError("create_plan needs exactly one of months, monthly_cents or option")
        return self


class CreateLink(_Model):
    action: Literal["create_link"]
    amount: AmountSpec | int = "balance"
    purpose: Literal["balance", "partial", "plan_down_payment", "plan_installment"] = "balance"


class OpenTicket(_Model):
    action: Literal["open_ticket"]
    reason: TicketReason
    priority: TicketPriority


ReferenceAction = Annotated[CreatePlan | CreateLink | OpenTicket, Field(discriminator="action")]


class NoWrite(_Model):
    kind: Literal["no_write"]


class PlanAssert(_Model):
    kind: Literal["plan"]
    months: int | None = None
    max_months: int | None = None
    installment_cents: int | None = None
    status: list[Literal["active", "pending_approval"]] = Field(default_factory=list)


class LinkAssert(_Model):
    kind: Literal["link"]
    amount: AmountSpec | int | None = None
    purpose: str | None = None


TicketField = Literal["transcript", "statement_id", "summary", "thread_id"]
DEFAULT_TICKET_FIELDS: tuple[TicketField, ...] = ("transcript", "summary", "thread_id")


class TicketAssert(_Model):
    kind: Literal["ticket"]
    reasons: list[TicketReason] = Field(default_factory=list)
    priorities: list[TicketPriority] = Field(default_factory=list)
    fields: list[TicketField] = Field(default_factory=lambda: list(DEFAULT_TICKET_FIELDS))


class ModeAssert(_Model):
    kind: Literal["mode"]
    value: Literal["bot", "human"]


class OptOutAssert(_Model):
    """SMS opt-out honoured: after the patient's STOP (or "stop texting me") the agent asks nothing more,
    says no account figure and writes nothing, and the patient's line was the conversation's last."""

    kind: Literal["opt_out"]


class SaysAssert(_Model):
    """Some agent message matches one of ``any_of`` (regular expressions, case-insensitive): for what
    a task requires said in words that no single fact string captures ("you are not billed for it",
    "I can't discuss another person's account")."""

    kind: Literal["says"]
    any_of: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _compiles(self) -> SaysAssert:
        for pattern in self.any_of:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"any_of: {pattern!r} is not a regular expression: {exc}") from exc
        return self


class ReverifyAssert(_Model):
    """SMS identity expires: after the patient's START keyword or a line sent after a silence
    (``wait_minutes``), no account fact is said until the patient has answered an identity question
    again, and that re-verification happens."""

    kind: Literal["reverify"]


Assertion = Annotated[
    NoWrite
    | PlanAssert
    | LinkAssert
    | TicketAssert
    | ModeAssert
    | OptOutAssert
    | SaysAssert
    | ReverifyAssert,
    Field(discriminator="kind"),
]


class Escalation(_Model):
    required: bool = False
    reasons: list[TicketReason] = Field(default_factory=list, description="Allowed reasons when required")
    priorities: list[TicketPriority] = Field(default_factory=list)


class Evaluation(_Model):
    reference_actions: list[ReferenceAction] = Field(default_factory=list)
    assertions: list[Assertion] = Field(default_factory=list)
    communicate: list[str] = Field(
        default_factory=list, description="Facts (templates) some agent message must contain"
    )
    never_say: list[str] = Field(default_factory=list, description="Strings no agent message may contain")
    forbidden_actions: list[WriteAction] = Field(default_factory=list)
    escalation: Escalation = Field(default_factory=Escalation)

    @model_validator(mode="after")
    def _consistent(self) -> Evaluation:
        tickets = [a for a in self.reference_actions if isinstance(a, OpenTicket)]
        if self.escalation.required and not tickets:
            raise ValueError("escalation.required needs an open_ticket reference action")
        if tickets and not self.escalation.required:
            raise ValueError("an open_ticket reference action needs escalation.required: true")
        for action in self.reference_actions:
            if action.action in self.forbidden_actions:
                raise ValueError(f"reference action {action.action!r} is also a forbidden action")
        return self


class OutreachText(_Model):
    """The outreach text the conversation answers: the agent spoke first with this step (its terms are
    the policy's for the patient's balance at the start of the trial)."""

    step: Literal["pay_link", "plan_offer"]
    months: int | None = Field(default=None, ge=1, description="The offered plan's length (plan_offer)")


class Task(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    version: int = Field(ge=1)
    category: Category
    split: Split = Field(description=SPLIT_DESCRIPTION)
    description: str = ""
    patient: PatientSpec
    channel: ChannelName = "portal"
    outreach: OutreachText | None = Field(default=None, description="An outreach text this SMS answers")
    clock: datetime | None = Field(default=None, description="Frozen 'now'; default: the demo's today")
    user: UserScenario
    script: Script
    evaluation: Evaluation


class TaskFileError(ValueError):
    """A task file is malformed; the message names the file and the field."""


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "<root>"


def parse_task(data: object, source: str) -> Task:
    """Validate one task document; raise :class:`TaskFileError` naming ``source`` and every bad field."""
    if not isinstance(data, dict):
        raise TaskFileError(f"{source}: a task must be a mapping, got {type(data).__name__}")
    try:
        return Task.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_loc(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise TaskFileError(f"{source}: {problems}") from exc


def load_task_file(path: Path) -> list[Task]:
    """A file holds one task (a mapping) or several (a ``tasks:`` list)."""
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TaskFileError(f"{path}: not valid YAML: {exc}") from exc
    if isinstance(doc, dict) and set(doc) == {"tasks"}:
        items = doc["tasks"]
        if not isinstance(items, list) or not items:
            raise TaskFileError(f"{path}: 'tasks' must be a non-empty list")
        return [parse_task(item, f"{path} [task {i}]") for i, item in enumerate(items)]
    return [parse_task(doc, str(path))]


def load_tasks(directory: Path | str = DEFAULT_TASKS_DIR) -> list[Task]:
    """Every task under ``directory`` (``*.yaml``/``*.yml``, sorted), ids unique."""
    root = Path(directory)
    if not root.is_dir():
        raise TaskFileError(f"{root}: not a directory of task files")
    tasks: list[Task] = []
    seen: dict[str, Path] = {}
    files = sorted([*root.glob("*.yaml"), *root.glob("*.yml")])
    if not files:
        raise TaskFileError(f"{root}: no *.yaml task files")
    for path in files:
        for task in load_task_file(path):
            if task.id in seen:
                raise TaskFileError(f"{path}: id: duplicate task id {task.id!r} (also in {seen[task.id]})")
            seen[task.id] = path
            tasks.append(task)
    return tasks


def task_json_schema() -> dict[str, object]:
    schema = Task.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://patient-billing-agent.local/evals/task.schema.json"
    return schema


def schema_text() -> str:
    return json.dumps(task_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # pragma: no cover - a developer command
    if sys.argv[1:] == ["--write-schema"]:
        SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
        SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
        print(f"wrote {SCHEMA_PATH}")
    else:
        print("usage: python -m evals.task --write-schema", file=sys.stderr)
        sys.exit(2)
