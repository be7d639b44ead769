"""Read-only look-ups a phrasing model may call (offered with ``bind_tools``): what a code means, one line
of a statement, one claim, the practice's documents.

The patient is never a model argument: ``ReadOnlyTools`` is built by ``guard_out`` for the verified
patient of the thread (from the run context and the checkpointed identity), and every look-up reads that
patient's records only — asking for another patient's statement or claim reads exactly like asking for
one that does not exist. An argument the schema does not declare (``patient_id``) is ignored. Nothing
here writes; write actions are never model tools.

The outputs are plain text with every figure formatted as the templates format it, so that
``guard_out`` can add them to the turn's facts; ``LlmPhraser`` tokenizes them before the model sees them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agent.service_names import service_name
from agent.templates import money
from tools.codebook import CodeBook
from tools.kb import KnowledgeBase
from tools.platforms.base import BillingPlatform
from tools.platforms.models import Claim, LineItem

MAX_TOOL_OUTPUT_CHARS = 1500


class LookupCode(BaseModel):
    code: str = Field(description='A billing code as printed: "99213", "G0439", "CO-45", "PR-1", "N130".')


class LineItemDetail(BaseModel):
    statement: str = Field(description="The statement as written in the draft, e.g. [STATEMENT_1].")
    line: int = Field(ge=1, le=200, description="The line's position on the statement, from 1.")


class ClaimDetail(BaseModel):
    claim: str = Field(description="The claim as written in the draft or sources, e.g. [CLAIM_1].")


class SearchDocuments(BaseModel):
    query: str = Field(min_length=1, max_length=200, description="A few words to search for.")


# name -> (arguments, description for the model)
_TOOLS: dict[str, tuple[type[BaseModel], str]] = {
    "lookup_code": (
        LookupCode,
        "What a procedure code (CPT/HCPCS), adjustment reason code (CARC) or remark code (RARC) means, "
        "in plain language.",
    ),
    "line_item_detail": (
        LineItemDetail,
        "One line of one of the patient's statements: service date, code, billed, allowed, insurance "
        "paid, adjustments and the patient's share.",
    ),
    "claim_detail": (
        ClaimDetail,
        "One of the patient's insurance claims: payer, status, dates, billed and paid, denial codes.",
    ),
    "search_documents": (
        SearchDocuments,
        "Search the practice's billing documents (policies, ways to pay, financial assistance, insurance "
        "terms). Returns up to two passages.",
    ),
}


def tool_definitions() -> list[dict[str, Any]]:
    """The tools in the OpenAI function format, for ``bind_tools``."""
    return [
        {
            "type": "function",
            "function": {"name": name, "description": text, "parameters": args.model_json_schema()},
        }
        for name, (args, text) in _TOOLS.items()
    ]


class ToolCallInvalid(ValueError):
    """A tool call the model made that cannot run: an unknown tool or arguments that do not validate."""

    reason = "malformed_tool_call"


class ToolRoundsExceeded(ToolCallInvalid):
    """The model asked for one more round of look-ups than allowed."""

    reason = "tool_rounds"


@dataclass(frozen=True, slots=True)
class ReadOnlyTools:
    """The look-ups, bound to one verified patient."""

    platform: BillingPlatform
    codebook: CodeBook
    kb: KnowledgeBase
    patient_id: str

    async def run(self, name: str, args: Mapping[str, Any]) -> str:
        """The result of one call as text (identifiers in the clear: the caller tokenizes it)."""
        spec = _TOOLS.get(name)
        if spec is None:
            raise ToolCallInvalid(f"no tool {name!r}")
        try:
            parsed = spec[0].model_validate(dict(args))
        except ValidationError as error:
            raise ToolCallInvalid(f"bad arguments for {name}") from error
        if isinstance(parsed, LookupCode):
            out = self._code(parsed.code)
        elif isinstance(parsed, LineItemDetail):
            out = await self._line(parsed.statement, parsed.line)
        elif isinstance(parsed, ClaimDetail):
            out = await self._claim(parsed.claim)
        else:
            assert isinstance(parsed, SearchDocuments)
            passages = self.kb.search(parsed.query, k=2)
            out = "\n\n".join(f"{p.title} — {p.heading}: {p.text}" for p in passages) or "Nothing found."
        return out[:MAX_TOOL_OUTPUT_CHARS]

    def _code(self, code: str) -> str:
        entry = self.codebook.lookup(code)
        if entry is None:
            return f"The code book does not explain {code}."
        step = f" Next step: {entry.next_step}" if entry.next_step else ""
        return f"{entry.code} ({entry.kind}): {entry.title}. {entry.plain}{step}"

    async def _line(self, number: str, position: int) -> str:
        statement = await self.platform.find_statement_by_number(self.patient_id, number.strip())
        if statement is None:
            return "No such statement on this patient's account."
        if position > len(statement.line_items):
            return f"Statement {statement.number} has {len(statement.line_items)} lines."
        return f"Statement {statement.number}, line {position}: " + _line_text(
            statement.line_items[position - 1], self.codebook
        )

    async def _claim(self, number: str) -> str:
        wanted = number.strip().casefold()
        claims = await self.platform.list_claims(self.patient_id)
        found = next((c for c in claims if c.claim_number.casefold() == wanted), None)
        if found is None:
            return "No such claim on this patient's account."
        return _claim_text(found, self.codebook)


def _line_text(li: LineItem, codebook: CodeBook) -> str:
    entry = codebook.procedure(li.code)
    meaning = f" ({entry.title})" if entry else ""
    adjustments = "; ".join(f"{a.group_code.value}-{a.carc} {money(a.amount_cents)}" for a in li.adjustments)
    return (
        f"service date {li.service_date.isoformat()}; code {li.code}{meaning}; {service_name(li, codebook)}; "
        f"billed {money(li.billed_cents)}; allowed {money(li.allowed_cents)}; insurance paid "
        f"{money(li.insurance_paid_cents)}; patient's share {money(li.patient_responsibility_cents)} "
        f"(deductible {money(li.deductible_cents)}, coinsurance {money(li.coinsurance_cents)}, copay "
        f"{money(li.copay_cents)}, not covered {money(li.not_covered_cents)})"
        + (f"; adjustments: {adjustments}" if adjustments else "")
    )


def _claim_text(claim: Claim, codebook: CodeBook) -> str:
    denials = []
    for d in claim.denial_codes:
        entry = codebook.carc(d.carc)
        denials.append(f"{d.group_code.value}-{d.carc}" + (f" ({entry.title})" if entry else ""))
    adjudicated = claim.adjudicated_on.isoformat() if claim.adjudicated_on else "not yet"
    return (
        f"Claim {claim.claim_number}: payer {claim.payer_name}; status {claim.status.value}; service date "
        f"{claim.service_date.isoformat()}; submitted {claim.submitted_on.isoformat()}; adjudicated "
        f"{adjudicated}; billed {money(claim.billed_cents)}; paid {money(claim.paid_cents)}"
        + (f"; denial codes: {', '.join(denials)}" if denials else "")
    )
