"""A frustration score in [0, 1] from words, shouting, punctuation and repetition.

Deterministic and cheap; the escalation rules treat ≥ 0.7 as "hand this to a person". Frustration
builds over a conversation: a share of the patient's most upset recent message carries into the next, and
moderate upset repeated over several messages reaches the hand-off line by itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.understanding.text import normalize
from guardrails.screening import repair_words

# Weighted cues, matched on normalised text (lowercase, no accents, no punctuation). Legal words are not
# among them: they are a trigger of their own (``guardrails.escalation``), which asks that they be about this
# bill ("my lawyer charges $300 an hour" is no upset with the practice).
_STRONG = (
    r"\bf+u+c+k+\w*|\bwtf\b|\bshit+\w*|\bbullshit\b|\bdamn+\w*|(?<!the )\bhell\b|\bcrap+\w*|\bpissed\b|\bbs\b"
    r"|\bscam+\w*|\bfraud\w*|\brip ?off\b|\bthie(f|ves|ving)\b|\bstealing\b|\bcrooks?\b|\bidiots?\b"
    r"|\bstupid\b|\bincompetent\b|\bunacceptable\b|\bdisgusting\b"
    r"|\bmierda\b|\bcarajo\b|\bput[ao]s?\b|\bpinche\b|\bestafa\w*\b|\bladrones?\b|\brobo\b|\brobando\b"
    r"|\bidiotas?\b|\bestupid\w*|\binaceptable\b|\bchingad\w*|\bjoder\b"
)
_MEDIUM = (
    r"\bridiculous\b|\babsurd\b|\bjoke\b|\bfed up\b|\bsick of\b|\btired of\b|\bfurious\b|\bangry\b"
    # "what the hell, how much is it": exasperation around a question, not an outburst at the practice
    r"|\b(?:what|why|how|where|who|when) the (?:hell|heck)\b"
    r"|\bmad\b|\bupset\b|\bfrustrat\w*|\bannoy\w*|\boutrage\w*|\bi already told you\b|\balready said\b"
    r"|\bhow many times\b|\bnot listening\b|\buseless\b|\bterrible\b|\bawful\b|\bworst\b"
    r"|\bare you kidding\b|\bfor the last time\b|\bstop (asking|texting|sending)\b"
    # Complaints about the conversation itself: the answer did not help, the question was asked before.
    r"|\b(doesn ?t|does not|didn ?t|did not|still doesn ?t) (explain|tell|answer|help)\w*"
    r"|\b(asked|asking|told you|said) (this |it |that )?(two|three|four|several|many|\d) times\b"
    r"|\b(second|third|fourth|fifth) time (i ?m|i am|i ve|im) (asking|telling)\b|\bkeep (dodging|ignoring)\b"
    r"|\b(getting|going) nowhere\b|\bgoing in circles\b|\bhopeless\b|\binfuriat\w*|\bunbelievable\b"
    r"|\bwaste of (my )?time\b|\bdone with (this|you)\b|\bare you (even )?listening\b|\banyone there\b"
    r"|\b(not|isn ?t|is not|aren ?t|wasn ?t|no one is|nobody is) (even )?(helping|helpful)\b"
    r"|\bno ayuda\b|\bno me (escucha|entiende|ayuda)\w*"
    # Irritation in other words: "so aggravating", "beyond annoyed", "nothing has changed", "sick and tired".
    r"|\baggravat\w*|\birritat\w*|\bexasperat\w*|\bbeyond (annoyed|frustrated|angry|mad|upset|irritated)\b"
    r"|\bsick and tired\b|\bnothing (has |ever )?(changed|changes|gets fixed|gets done)\b|\bat my wits end\b"
    r"|\bnobody (ever )?(fixes|does) (anything|a thing)\b|\bno one (ever )?(helps|listens|fixes|answers)\b"
    r"|\b(just )?repeating (stuff|yourself|the same|that|it|things)\b|\bmore confused than\b"
    r"|\b(keep|keeps|kept) asking (the same|this|that|about)\b|\bbeen at this for\b"
    # The runaround, in the words patients use for it: no straight answer, the same non-answer again.
    r"|\bdriving me (crazy|nuts|insane|mad|up the wall)\b|\bstraight answer\b|\bnon ?answers?\b"
    r"|\brun ?around\b|\b(around|round) in circles\b|\bhad (it|enough)\b|\benough of (this|you)\b"
    r"|\b(keep|keeps|kept) (telling|saying|giving|sending) me the same\b|\bsame (useless|old|stupid) \w+"
    r"|\b(called|asked|texted|emailed|written|wrote|phoned)( \w+){0,3} (two|three|four|five|several|multiple"
    r"|many|so many|\d+) times\b|\bnobody (ever )?(helps|listens|answers|cares|gives)\b"
    r"|\bnot (even )?what i (meant|asked|said|wanted)\b|\bpointless\b"
    r"|\b(so|im|i m|i am|totally) over (this|it)\b"
    # "your billing is a mess", "you are making this worse", "thoroughly disgusted", "wasted my morning"
    r"|\b(is|s|are|re) (a|such a) (total |complete |huge |big |hot |absolute )?mess\b|\bdisgusted\b"
    r"|\bmaking (this|it|things|everything) worse\b|\bwasted (my|the|a|all|so much|hours)\b"
    # Weariness and confusion past bearing: "this is exhausting", "nothing about this makes sense", "so tired
    # of fighting with everyone", "really upsetting", "I give up".
    r"|\bexhaust(ing|ed)\b|\bdraining\b|\boverwhelm\w*|\bupsetting\b|\bi give up\b|\bat the end of my rope\b"
    r"|\b(nothing|none of (this|it)|this|it|that) (about (this|it) |of (this|it) )?(makes|make) (no|any)"
    r" sense\b"
    r"|\bnothing (about (this|it) )?makes sense\b|\b(doesn ?t|does not|don ?t|do not) make (any )?sense\b"
    r"|\b(makes|make) no sense\b|\bso tired\b|\blosing my mind\b|\bagotad[oa]\b|\bagotador\b"
    r"|\bme (estas?|estan) volviendo loc[oa]\b|\bya basta\b|\bsiempre lo mismo\b|\bdando vueltas\b"
    r"|\bno sirve\w*"
    r"|\bridiculo\b|\bharto\b|\bharta\b|\bcansad[oa]\b|\benojad[oa]\b|\bmolest[oa]\w*|\bya te dije\b"
    r"|\bcuantas veces\b|\binutil\b|\bterrible\b|\bpesim[oa]\b|\bpor ultima vez\b|\bfurios[oa]\b"
    # Upset in Spanish as it is said, not only as an adjective: "ya me estoy enojando", "qué frustración",
    # "nadie me explica nada", "no me está ayudando", "me dan vueltas", "ya no aguanto más", "es la tercera
    # vez que pregunto", "eso no es lo que le pregunté", "otra vez lo mismo", "una falta de respeto".
    r"|\benoj\w*|\bfrustra\w*|\bnadie me (?:explica|ayuda|escucha|entiende|contesta|responde|hace caso)\w*"
    r"|\bno me (?:esta|estan|estas) (?:ayudando|escuchando|entendiendo|explicando|contestando|respondiendo)\b"
    r"|\b(?:me|nos) (?:dan|estan dando) (?:puras |muchas )?vueltas\b|\bvueltas y (?:mas )?vueltas\b"
    r"|\bno aguanto\b"
    r"|\b(?:segunda|tercera|cuarta|quinta) vez que (?:le |te |les )?(?:pregunto|digo|pido|llamo|escribo)\b"
    r"|\bno es lo que (?:le |te |les )?(?:pregunte|pedi|dije)\b|\botra vez lo mismo\b|\blo mismo otra vez\b"
    r"|\bfalta de respeto\b|\bhasta la coronilla\b|\bhasta el gorro\b"
    r"|\bme tienen (?:harto|harta|cansad[oa])\b"
    # "I'm fuming", "this is getting really old", "what a headache this bill has been", "ya van varias veces"
    r"|\bfuming\b|\b(?:getting|gotten|got) (?:really |so |pretty |very )?old\b"
    r"|\b(?:what a|such a|a total|a real|major) headache\b|\bya van (?:varias|muchas|tres|dos) veces\b"
    # "ya me tienen hasta la madre", "ya me hartaron", "eso no contesta nada"
    r"|\bhasta la madre\b|\bme tienen hasta\b|\bya me (?:harte|hartaron|canse|cansaron)\b"
    r"|\bno (?:me )?(?:contesta|contestas|contestan|responde|respondes|responden) nada\b"
)
_MILD = (
    r"\bugh+\b|\bseriously\b|\bcome on\b|"
    r"\bagain\b|\bstill\b|\bconfus\w*|\bnever\b|\bwhy\b|\bpor que\b|\botra vez\b|\bnunca\b"
)

_RE_STRONG = re.compile(_STRONG)
_RE_MEDIUM = re.compile(_MEDIUM)
_RE_MILD = re.compile(_MILD)
_RE_BANGS = re.compile(r"[!?¡¿]{2,}")
_RE_WORD = re.compile(r"\b[^\W\d_]{2,}\b")


def _caps_ratio(text: str) -> float:
    words = _RE_WORD.findall(text)
    if len(words) < 2:
        return 0.0
    caps = [w for w in words if w.isupper() and w not in {"OK", "ER", "ID", "US", "CO", "PR", "HSA", "FSA"}]
    if len(caps) < 3:
        return 0.0  # two words in capitals are a name or a code ("DROP TABLE", "NOT me"), not shouting
    return len(caps) / len(words)


def _similar(a: str, b: str) -> float:
    """Jaccard similarity of word sets of two normalised messages."""
    wa, wb = set(a.split()), set(b.split())
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


# Frustration builds: part of the patient's most upset recent message carries into this one.
CARRY_OVER = 0.3
CARRY_WINDOW = 2
# Upset (a medium cue, or shouting) in this many of the patient's last SUSTAINED_WINDOW + 1 messages,
# this one included, scores SUSTAINED: over the hand-off line however mild each message was.
UPSET = 0.3
SUSTAINED_COUNT = 3
SUSTAINED_WINDOW = 3
SUSTAINED = 0.75


# Swearing, as opposed to an accusation ("scam", "thieves") or a verdict on the service ("incompetent"): one
# of these alone is a vent, which a billing office acknowledges rather than files (see ``lone_vent``).
_PROFANITY = (
    r"\bf+u+c+k+\w*|\bwtf\b|\bshit+\w*|\bbullshit\b|\bdamn+\w*|(?<!the )\bhell\b|\bcrap+\w*|\bpissed\b|\bbs\b"
    r"|\bmierda\b|\bcarajo\b|\bput[ao]s?\b|\bpinche\b|\bchingad\w*|\bjoder\b"
)
_RE_PROFANITY = re.compile(_PROFANITY)


def lone_vent(text: str, previous: Sequence[str] = ()) -> bool:
    """Whether the message's upset is one swear word and nothing more ("this is such BS", "wtf is this
    bill"), from a patient who was not upset in the messages before it: a vent, which a billing office
    acknowledges (answering the question beside it, or offering a person) rather than handing the
    conversation over unasked. Swearing message after message, a swear beside other upset (shouting,
    "ridiculous", "!!!"), an accusation ("you're thieves") or repeating oneself is no lone vent."""
    norm = repair_words(normalize(text), _CUE_WORDS, shortest=6)
    strong = _RE_STRONG.findall(norm)
    if len(strong) != 1 or not _RE_PROFANITY.search(norm) or _RE_MEDIUM.search(norm):
        return False
    if _caps_ratio(text) >= 0.3 or _RE_BANGS.search(text):
        return False
    if _message_score(text, previous) > _message_score(text):
        return False  # the same words again
    return all(_message_score(p) < UPSET for p in previous[-SUSTAINED_WINDOW:])


def frustration_score(text: str, previous: Sequence[str] = ()) -> float:
    """Score one message; ``previous`` are the patient's earlier messages, oldest first."""
    score = _message_score(text, previous)
    if score == 0.0 and not normalize(text):
        return 0.0
    recent = [_message_score(p) for p in previous[-CARRY_WINDOW:]]
    if recent:
        score += CARRY_OVER * max(recent)
    own = _message_score(text)
    upset_before = sum(1 for p in previous[-SUSTAINED_WINDOW:] if _message_score(p) >= UPSET)
    if own >= UPSET and upset_before >= SUSTAINED_COUNT - 1:
        # Moderate upset that does not let go ("this is ridiculous", "I already told you", "going in
        # circles", "useless"), message after message: a person should take over, as for one outburst.
        score = max(score, SUSTAINED)
    return round(min(1.0, score), 3)


# Words of the cues above that patients misspell in a hurry ("nobdoy", "frustarted", "anoying").
_CUE_WORDS = (
    "nobody", "frustrated", "frustrating", "annoying", "annoyed", "ridiculous", "unbelievable", "runaround",
    "molesta", "molesto", "cansada", "cansado",
)  # fmt: skip


def _message_score(text: str, previous: Sequence[str] = ()) -> float:
    norm = repair_words(normalize(text), _CUE_WORDS, shortest=6)
    if not norm:
        return 0.0
    score = 0.0
    strong = len(_RE_STRONG.findall(norm))
    medium = len(_RE_MEDIUM.findall(norm))
    mild = len(_RE_MILD.findall(norm))
    if strong:
        score += min(0.9, 0.55 + 0.2 * strong)
    score += min(0.75, 0.38 * medium) + min(0.15, 0.07 * mild)
    caps = _caps_ratio(text)
    if caps >= 0.6:
        score += 0.35
    elif caps >= 0.3:
        score += 0.15
    bangs = _RE_BANGS.findall(text)
    if bangs:
        score += min(0.3, 0.12 * len(bangs) + 0.03 * sum(len(b) - 2 for b in bangs))
    if previous:
        best = max(_similar(norm, normalize(p)) for p in previous[-3:])
        if best >= 0.8 and len(norm.split()) >= 2:
            score += 0.3
        elif best >= 0.6:
            score += 0.15
    return min(1.0, score)
