"""``answer_from_kb`` (practice documents, cited), ``clarify`` (two close intents, with a cap) and
``smalltalk`` (greetings, thanks, cancel, out of scope)."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent import templates as T
from agent.context import AgentContext
from agent.facts import FactSet
from agent.nodes.common import answer, call, ctx, lang, work
from agent.nodes.statements import _first_sentences
from agent.state import ConversationState, Update
from agent.understanding.base import Intent

REPAIR_CAP = 3
_OFFERED_TO_STAFF = frozenset(
    {
        Intent.REQUEST_HUMAN,
        Intent.UPDATE_INSURANCE_OR_CONTACT,
        Intent.DISPUTE_CHARGE,
        Intent.DISPUTE_ALREADY_PAID,
        Intent.FINANCIAL_HARDSHIP,
    }
)


async def answer_from_kb(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    c = ctx(runtime)
    language = lang(state)
    query = work(state).get("read_as") or state.get("text") or ""  # "explian coordination of benefits"
    passages = c.ports.kb.search(query, k=3)
    tools = [call("search_knowledge_base", results=len(passages))]
    if not passages:
        return {
            "expecting": "human_offer",
            "work": answer(T.KB_UNKNOWN[language], [], tools=tools, suggestions=["Talk to a person"]),
        }
    best = passages[0]
    snippet = _first_sentences(best.text, 3)
    facts = FactSet().text(snippet)
    turn = answer(
        T.kb_answer(snippet, best.title, language), facts.pairs(), tools=tools, reads=[f"kb:{best.doc_id}"]
    )
    if c.ports.phraser is not None:
        turn["phrase_sources"] = [snippet]
    return {"work": turn}


async def clarify(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    ctx(runtime)
    language = lang(state)
    failures = state.get("repair_failures", 0) + 1
    if failures >= REPAIR_CAP:
        return {
            "repair_failures": failures,
            "expecting": "human_offer",
            "work": answer(T.CLARIFY_CAP[language], []),
        }
    alts = [a for a, _ in (work(state).get("alternatives") or []) if a in T.INTENT_PHRASES][:2]
    if len(alts) < 2:
        return {
            "repair_failures": failures,
            "work": answer(T.GREETING[language], [], suggestions=T.SUGGESTIONS[language]),
        }
    a, b = (T.INTENT_PHRASES[x][language] for x in alts)
    # A plan offer still on the table keeps its own question; otherwise the agent waits for a pick.
    waiting = state.get("expecting") if state.get("pending") is not None else "clarify"
    return {
        "repair_failures": failures,
        "clarify_options": alts,
        "expecting": waiting,
        "work": answer(T.CLARIFY[language].format(a=a, b=b), [], suggestions=T.SUGGESTIONS[language]),
    }


async def smalltalk(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    ctx(runtime)
    language = lang(state)
    turn = work(state)
    intent = Intent(turn.get("intent") or Intent.GREETING.value)
    if turn.get("vent"):
        # One swear from a calm patient: acknowledged and a person offered; a yes opens the ticket.
        return {
            "expecting": "human_offer",
            "work": answer(T.VENT_OFFER[language], [], suggestions=["Talk to a person"]),
        }
    if turn.get("is_cancel"):
        return {"pending": None, "expecting": None, "work": answer(T.CANCELLED[language], [])}
    if intent is Intent.THANKS_GOODBYE:
        return {"expecting": None, "work": answer(T.GOODBYE[language], [])}
    if intent is Intent.OUT_OF_SCOPE:
        # What the agent can help with, and nothing more: no offer, no write, no ticket.
        return {
            "expecting": None,
            "work": answer(T.OUT_OF_SCOPE[language], [], suggestions=T.SUGGESTIONS[language]),
        }
    if intent in _OFFERED_TO_STAFF:
        # A hand-off the patient's words did not ask for: offered, written only after a yes.
        return {
            "expecting": "human_offer",
            "work": answer(T.HANDOFF_OFFER[language], [], suggestions=["Talk to a person"]),
        }
    if intent is Intent.IDENTITY_ANSWER:
        return {"work": answer(T.ALREADY_VERIFIED[language], [])}
    if intent in (Intent.AFFIRM, Intent.DENY):
        return {
            "expecting": None,
            "work": answer(T.NOTHING_PENDING[language], [], suggestions=T.SUGGESTIONS[language]),
        }
    return {"work": answer(T.GREETING[language], [], suggestions=T.SUGGESTIONS[language])}
