"""``answer_from_kb`` (practice documents, cited), ``clarify`` (two close intents, with a cap) and
``smalltalk`` (greetings, thanks, cancel, out of scope)."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent import templates as T
from agent.context import AgentContext
from agent.facts import FactSet
from agent.nodes.common import Update, call, ctx, lang, reply
from agent.nodes.statements import _first_sentences
from agent.state import AgentState
from agent.understanding.base import Intent

REPAIR_CAP = 3


async def answer_from_kb(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    c = ctx(runtime)
    language = lang(state)
    query = state.get("text") or ""
    passages = c.ports.kb.search(query, k=3)
    tools = [call("search_knowledge_base", results=len(passages))]
    if not passages:
        return reply(
            T.KB_UNKNOWN[language], [], expecting="human_offer", tools=tools, suggestions=["Talk to a person"]
        )
    best = passages[0]
    snippet = _first_sentences(best.text, 3)
    facts = FactSet().text(snippet)
    update = reply(
        T.kb_answer(snippet, best.title, language), facts.pairs(), tools=tools, reads=[f"kb:{best.doc_id}"]
    )
    if c.ports.phraser is not None:
        update["phrase_sources"] = [snippet]
    return update


async def clarify(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    ctx(runtime)
    language = lang(state)
    failures = state.get("repair_failures", 0) + 1
    if failures >= REPAIR_CAP:
        return reply(T.CLARIFY_CAP[language], [], repair_failures=failures, expecting="human_offer")
    alts = [a for a, _ in (state.get("alternatives") or []) if a in T.INTENT_PHRASES][:2]
    if len(alts) < 2:
        return reply(T.GREETING[language], [], repair_failures=failures, suggestions=T.SUGGESTIONS[language])
    a, b = (T.INTENT_PHRASES[x][language] for x in alts)
    # A plan offer still on the table keeps its own question; otherwise the agent waits for a pick.
    waiting = state.get("expecting") if state.get("pending") is not None else "clarify"
    return reply(
        T.CLARIFY[language].format(a=a, b=b),
        [],
        repair_failures=failures,
        clarify_options=alts,
        expecting=waiting,
        suggestions=T.SUGGESTIONS[language],
    )


async def smalltalk(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    ctx(runtime)
    language = lang(state)
    intent = Intent(state.get("intent") or Intent.GREETING.value)
    if state.get("is_cancel"):
        return reply(T.CANCELLED[language], [], pending=None, expecting=None)
    if intent is Intent.THANKS_GOODBYE:
        return reply(T.GOODBYE[language], [], expecting=None)
    if intent is Intent.OUT_OF_SCOPE:
        return reply(T.OUT_OF_SCOPE[language], [], expecting="human_offer")
    if intent is Intent.IDENTITY_ANSWER:
        return reply(T.ALREADY_VERIFIED[language], [])
    if intent in (Intent.AFFIRM, Intent.DENY):
        return reply(T.NOTHING_PENDING[language], [], expecting=None, suggestions=T.SUGGESTIONS[language])
    return reply(T.GREETING[language], [], suggestions=T.SUGGESTIONS[language])
