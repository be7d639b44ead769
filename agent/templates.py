"""The local engine's phrasing: plain language, English and Spanish for the main answers.

Every figure in a reply is formatted here from ledger values (integer cents, dates, codes) that the node
also records as the turn's facts, so the grounding check in ``guard_out`` can verify each one. Nothing in
this module invents a number.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from agent.state import Language
from guardrails.policy import OfficeHours
from guardrails.policy import plan_label as policy_plan_label
from tools.platforms.models import LineItem

MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
MONTHS_ES = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio",
    "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
)  # fmt: skip
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAYS_ES = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
_DAY_INDEX = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def money(cents: int) -> str:
    """``$1,234.50``; negative amounts are written as their absolute value (the words say credit)."""
    cents = abs(cents)
    return f"${cents // 100:,}.{cents % 100:02d}"


def day(d: date, lang: Language = "en", *, year: bool = False) -> str:
    if lang == "es":
        text = f"{d.day} de {MONTHS_ES[d.month - 1]}"
        return f"{text} de {d.year}" if year else text
    text = f"{MONTHS_EN[d.month - 1]} {d.day}"
    return f"{text}, {d.year}" if year else text


def _lower_first(text: str) -> str:
    if len(text) > 1 and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _join(parts: list[str], lang: Language) -> str:
    word = " y " if lang == "es" else " and "
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + word + parts[-1]


# --------------------------------------------------------------------------- identity

AUTH_PROMPT = {
    "en": (
        "Before I can discuss any account details, I need to verify your identity. Please reply with your "
        "date of birth (MM/DD/YYYY) and either your ZIP code or the statement number from your bill."
    ),
    "es": (
        "Antes de hablar de su cuenta necesito verificar su identidad. Responda con su fecha de nacimiento "
        "(MM/DD/AAAA) y su código postal o el número de estado de cuenta que aparece en su factura."
    ),
}
AUTH_NEED_SECOND = {
    "en": "Thanks. Please also send your ZIP code or the statement number from your bill.",
    "es": "Gracias. Envíe también su código postal o el número de estado de cuenta de su factura.",
}
AUTH_FAILED = {
    "en": "I couldn't verify those details. Please check your date of birth and ZIP code or statement number "
    "and try again.",
    "es": "No pude verificar esos datos. Revise su fecha de nacimiento y su código postal o número de estado "
    "de cuenta e inténtelo de nuevo.",
}
AUTH_LOCKED = {
    "en": "For your security I can't continue this conversation after several unsuccessful verification "
    "attempts. Please call our billing office at {phone} during office hours.",
    "es": "Por su seguridad no puedo continuar esta conversación después de varios intentos de verificación "
    "fallidos. Llame a nuestra oficina de facturación al {phone} en horario de oficina.",
}
AUTH_OK = {"en": "Thank you, you're verified.", "es": "Gracias, su identidad está verificada."}
AUTH_OK_NEXT = {
    "en": "Thank you, you're verified. How can I help with your bill today?",
    "es": "Gracias, su identidad está verificada. ¿En qué puedo ayudarle con su factura?",
}
ALREADY_VERIFIED = {
    "en": "You're already verified. What would you like to know about your bill?",
    "es": "Su identidad ya está verificada. ¿Qué desea saber sobre su factura?",
}

# --------------------------------------------------------------------------- screening

EMPTY = {
    "en": "I didn't catch a message there. You can ask about your balance, a charge, your insurance, or "
    "payment options.",
    "es": "No recibí ningún mensaje. Puede preguntar por su saldo, un cargo, su seguro u opciones de pago.",
}
TOO_LONG = {
    "en": "That message is too long for me to handle. Could you send a shorter question about your bill?",
    "es": "Ese mensaje es demasiado largo. ¿Puede enviar una pregunta más corta sobre su factura?",
}
INJECTION = {
    "en": "I can only help with your own bill: your balance, charges, insurance, and payment options. "
    "I can't share other accounts or change how I work.",
    "es": "Solo puedo ayudarle con su propia factura: saldo, cargos, seguro y opciones de pago. No puedo "
    "compartir otras cuentas ni cambiar mi funcionamiento.",
}
OTHER_PERSON = {
    "en": "I can't discuss or act on another person's account, even a family member's: I can only help with "
    "your own bill. They can sign in or contact our billing office themselves. What can I do for your "
    "own account?",
    "es": "No puedo hablar de la cuenta de otra persona ni hacer cambios en ella, aunque sea un familiar: "
    "solo puedo ayudarle con su propia factura. Esa persona puede entrar o llamar a nuestra oficina. "
    "¿En qué le ayudo con su propia cuenta?",
}
ABUSE = {
    "en": "I want to help. Let's keep this about your bill. I can also connect you with our billing team.",
    "es": "Quiero ayudarle. Hablemos de su factura; también puedo comunicarle con nuestro equipo.",
}
OTHER_STATEMENT = {
    "en": "I can't find statement {number} on your account, and I can only discuss your own statements.",
    "es": "No encuentro el estado de cuenta {number} en su cuenta; solo puedo hablar de sus propios estados.",
}
LOCKED = {
    "en": "This conversation is locked for your security. Please call our billing office at {phone}.",
    "es": "Esta conversación está bloqueada por su seguridad. Llame a nuestra oficina al {phone}.",
}
BACK_FROM_HUMAN = {
    "en": "Our billing team has finished helping you, and I'm back.",
    "es": "Nuestro equipo de facturación terminó de atenderle y vuelvo a estar con usted.",
}

# --------------------------------------------------------------------------- smalltalk and repair

GREETING = {
    "en": "Hi! I can help with your bill: your balance, what a charge is for, insurance questions, payment "
    "plans, or a link to pay online.",
    "es": "¡Hola! Puedo ayudarle con su factura: su saldo, un cargo, preguntas de seguro, planes de "
    "pago o un "
    "enlace para pagar en línea.",
}
GOODBYE = {
    "en": "You're welcome. Take care!",
    "es": "De nada. ¡Que le vaya bien!",
}
SMS_OPTED_OUT = {
    "en": "You're unsubscribed and won't get more texts from us. Reply START to get texts again.",
    "es": "Canceló su suscripción y no recibirá más mensajes de texto. Responda START para volver a "
    "recibirlos.",
}

CANCELLED = {
    "en": "Okay, I've cancelled that. Is there anything else I can help with?",
    "es": "De acuerdo, lo cancelé. ¿Hay algo más en lo que pueda ayudarle?",
}
NOTHING_PENDING = {
    "en": "Okay. What would you like to know about your bill?",
    "es": "De acuerdo. ¿Qué desea saber sobre su factura?",
}
OUT_OF_SCOPE = {
    "en": "I can only help with your bill from this practice: your balance, what a charge is for, insurance "
    "and claims, payment plans, and paying online.",
    "es": "Solo puedo ayudar con su factura de esta práctica: su saldo, qué es un cargo, seguro y reclamos, "
    "planes de pago y pagos en línea.",
}
VENT_OFFER = {
    "en": "I'm sorry this has been so frustrating. Would you like me to pass this to a person on our billing"
    " team? Or tell me what you'd like to know about your bill and I'll help.",
    "es": "Siento mucho que esto sea tan frustrante. ¿Quiere que pase esto a una persona de nuestro equipo de"
    " facturación? O dígame qué quiere saber de su cuenta y le ayudo.",
}
HANDOFF_OFFER = {
    "en": "Would you like me to pass this to a person on our billing team?",
    "es": "¿Quiere que pase esto a una persona de nuestro equipo de facturación?",
}
PLATFORM_DOWN = {
    "en": "I can't see your account right now; would you like a person to follow up with you?",
    "es": "No puedo ver su cuenta en este momento; ¿quiere que una persona le dé seguimiento?",
}
PLATFORM_DOWN_REPLIES = {"en": ["Talk to a person"], "es": ["Hablar con una persona"]}

CLARIFY = {
    "en": "Just to be sure: do you want {a}, or {b}?",
    "es": "Para estar seguro: ¿quiere {a} o {b}?",
}
CLARIFY_CAP = {
    "en": "I'm sorry, I'm having trouble understanding. Would you like me to connect you with a person on "
    "our billing team?",
    "es": "Lo siento, me cuesta entenderle. ¿Quiere que le comunique con una persona de nuestro equipo?",
}
NO_ADVICE = {
    "en": "I can't give medical or legal advice, but I can help with billing questions.",
    "es": "No puedo dar consejos médicos ni legales, pero puedo ayudar con preguntas de facturación.",
}

INTENT_PHRASES: dict[str, dict[Language, str]] = {
    "balance": {"en": "to check your balance", "es": "consultar su saldo"},
    "explain_statement": {
        "en": "an explanation of your statement",
        "es": "una explicación de su estado de cuenta",
    },
    "explain_charge": {"en": "an explanation of a charge", "es": "una explicación de un cargo"},
    "insurance_terms": {"en": "help with insurance terms", "es": "ayuda con términos del seguro"},
    "claim_status": {"en": "the status of an insurance claim", "es": "el estado de un reclamo al seguro"},
    "denial_reason": {"en": "why a claim was denied", "es": "por qué se negó un reclamo"},
    "refund_or_credit": {
        "en": "to ask about a refund or credit",
        "es": "información sobre un reembolso o crédito",
    },
    "payment_plan": {"en": "to set up a payment plan", "es": "un plan de pagos"},
    "pay_now": {"en": "to pay now", "es": "pagar ahora"},
    "payment_methods": {"en": "to know how you can pay", "es": "saber cómo puede pagar"},
    "dispute_already_paid": {"en": "to report a bill you already paid", "es": "reportar un pago ya hecho"},
    "dispute_charge": {"en": "to dispute a charge", "es": "disputar un cargo"},
    "financial_hardship": {"en": "help with financial hardship", "es": "ayuda por dificultades económicas"},
    "request_human": {"en": "to talk to a person", "es": "hablar con una persona"},
    "update_insurance_or_contact": {
        "en": "to update your insurance or contact details",
        "es": "actualizar su seguro o sus datos de contacto",
    },
}

YES_NO: dict[Language, list[str]] = {"en": ["Yes", "No"], "es": ["Sí", "No"]}

SUGGESTIONS: dict[Language, list[str]] = {
    "en": ["What is my balance?", "Set up a payment plan", "Pay my bill", "Talk to a person"],
    "es": ["¿Cuál es mi saldo?", "Quiero un plan de pagos", "Pagar mi factura", "Hablar con una persona"],
}

# --------------------------------------------------------------------------- balances and statements


def balance(total_cents: int, open_count: int, lang: Language) -> str:
    if total_cents < 0:
        if lang == "es":
            return f"Tiene un crédito de {money(total_cents)} a su favor."
        return f"You have a credit of {money(total_cents)} on your account."
    if total_cents == 0:
        return "No tiene saldo pendiente." if lang == "es" else "You don't owe anything right now."
    if lang == "es":
        word = "estado de cuenta abierto" if open_count == 1 else "estados de cuenta abiertos"
        return f"Su saldo es de {money(total_cents)} en {open_count} {word}."
    word = "open statement" if open_count == 1 else "open statements"
    return f"Your balance is {money(total_cents)} across {open_count} {word}."


def open_statement(number: str, when: date, due: date, balance_cents: int, lang: Language) -> str:
    """One open statement under the balance: its number, date, balance and due date."""
    if lang == "es":
        return f"Estado {number} del {day(when, lang)}: {money(balance_cents)}, vence el {day(due, lang)}."
    return f"Statement {number} from {day(when)}: {money(balance_cents)}, due {day(due)}."


def statement_header(
    number: str, when: date, due: date, balance_cents: int, lines: int, lang: Language
) -> str:
    if lang == "es":
        return (
            f"El estado de cuenta {number} del {day(when, lang)} tiene {lines} cargo(s) y un saldo de "
            f"{money(balance_cents)}, con vencimiento el {day(due, lang)}."
        )
    return (
        f"Statement {number} from {day(when)} has {lines} charge{'s' if lines != 1 else ''} and a balance of "
        f"{money(balance_cents)}, due {day(due)}."
    )


def _share_words(li: LineItem, lang: Language) -> str:
    parts: list[tuple[str, int]] = []
    names = {
        "deductible": ("deductible", "deducible"),
        "coinsurance": ("coinsurance", "coseguro"),
        "copay": ("copay", "copago"),
        "not_covered": ("not covered by your plan", "no cubierto por su plan"),
    }
    for key, cents in (
        ("deductible", li.deductible_cents),
        ("coinsurance", li.coinsurance_cents),
        ("copay", li.copay_cents),
        ("not_covered", li.not_covered_cents),
    ):
        if cents:
            parts.append((key, cents))
    if len(parts) == 1:
        # One part alone is named as a noun: "your deductible", but "the part your plan didn't cover".
        if parts[0][0] == "not_covered":
            return "la parte que su plan no cubrió" if lang == "es" else "the part your plan didn't cover"
        return ("su " if lang == "es" else "your ") + names[parts[0][0]][1 if lang == "es" else 0]
    detail = _join([f"{money(c)} {names[k][1 if lang == 'es' else 0]}" for k, c in parts], lang)
    return f"su parte ({detail})" if lang == "es" else f"your share ({detail})"


def _self_pay_math(li: LineItem, head: str, lang: Language) -> str:
    """A line no claim went to an insurer for (a self-pay visit): no plan and no insurance payment to
    speak of, only the self-pay discount, if any, and what is left."""
    off, resp = li.contractual_adjustment_cents, money(li.patient_responsibility_cents)
    if lang == "es":
        if off:
            return (
                f"{head} Como visita sin seguro tuvo un descuento de {money(off)}, así que los {resp} "
                "restantes le corresponden a usted."
            )
        return f"{head} No se facturó a ningún seguro, así que los {resp} le corresponden a usted."
    if off:
        return f"{head} As a self-pay visit it got a {money(off)} discount, so the remaining {resp} is yours."
    return f"{head} No insurance was billed for it, so the {resp} is yours to pay."


def line_math(li: LineItem, lang: Language) -> str:
    """The insurance math of one line, every figure from the ledger."""
    what = _lower_first(li.description)
    code = f"{li.code_system} {li.code}"
    contractual = li.contractual_adjustment_cents
    resp = li.patient_responsibility_cents
    if lang == "es":
        when = day(li.service_date, lang)
        head = f"El servicio «{what}» del {when} ({code}) se facturó en {money(li.billed_cents)}."
        if li.insurance_pending_cents and not li.insurance_paid_cents:
            return f"{head} El reclamo sigue con su seguro, así que por ahora no debe nada por este cargo."
        if li.claim_id is None and not li.insurance_paid_cents and resp:
            return _self_pay_math(li, head, lang)
        if li.insurance_paid_cents == 0 and contractual == 0 and resp and li.not_covered_cents == resp:
            return (
                f"{head} No hubo pago del seguro porque el servicio no está cubierto por su plan, así que "
                f"los {money(resp)} le corresponden a usted."
            )
        if li.insurance_paid_cents == 0 and contractual == 0:
            return f"{head} No hubo pago del seguro, así que los {money(resp)} le corresponden a usted."
        text = head
        if contractual:
            text += (
                f" La tarifa contratada de su plan es {money(li.allowed_cents)}, así que se descontaron "
                f"{money(contractual)}."
            )
        if resp:
            share = _share_words(li, lang)
            paid = money(li.insurance_paid_cents)
            return f"{text} El seguro pagó {paid} y los {money(resp)} restantes son {share}."
        return f"{text} El seguro pagó {money(li.insurance_paid_cents)} y usted no debe nada por este cargo."
    head = f"The {what} on {day(li.service_date)} ({code}) was billed at {money(li.billed_cents)}."
    if li.insurance_pending_cents and not li.insurance_paid_cents:
        return f"{head} The claim is still pending with your insurance, so you don't owe anything for it yet."
    if li.claim_id is None and not li.insurance_paid_cents and resp:
        return _self_pay_math(li, head, lang)
    if li.insurance_paid_cents == 0 and contractual == 0 and resp and li.not_covered_cents == resp:
        # A line the plan does not cover at all (a PR denial such as 204): why insurance paid nothing.
        return (
            f"{head} Insurance didn't pay toward it because the service is not covered by your plan, so the "
            f"full {money(resp)} is yours to pay."
        )
    if li.insurance_paid_cents == 0 and contractual == 0:
        return f"{head} Insurance didn't pay toward it, so the full {money(resp)} is yours to pay."
    text = head
    if contractual:
        rate = money(li.allowed_cents)
        text += f" Your plan's contracted rate is {rate}, so {money(contractual)} was written off."
    if resp:
        paid = money(li.insurance_paid_cents)
        return f"{text} Insurance paid {paid}, and the remaining {money(resp)} is {_share_words(li, lang)}."
    return f"{text} Insurance paid {money(li.insurance_paid_cents)}, and you owe nothing for this line."


def coverage_progress(
    payer: str,
    deductible: int,
    deductible_met: int,
    coinsurance_percent: int,
    oop_max: int,
    oop_met: int,
    copay: int,
    lang: Language,
) -> str:
    if lang == "es":
        text = f"Con {payer}, ha cubierto {money(deductible_met)} de su deducible de {money(deductible)}."
        if coinsurance_percent:
            text += f" Después del deducible, usted paga un coseguro del {coinsurance_percent}%."
        text += f" Lleva {money(oop_met)} de su máximo de gastos de bolsillo de {money(oop_max)}."
        return text
    remaining = max(0, deductible - deductible_met)
    text = (
        f"With {payer}, you've met {money(deductible_met)} of your {money(deductible)} deductible this year"
        + (f", so {money(remaining)} is left before your plan starts sharing costs." if remaining else ".")
    )
    if coinsurance_percent:
        text += f" After the deductible, you pay {coinsurance_percent}% coinsurance."
    if copay:
        text += f" Office visits have a {money(copay)} copay."
    text += f" You've paid {money(oop_met)} toward your {money(oop_max)} out-of-pocket maximum."
    return text


# --------------------------------------------------------------------------- claims


def claim_status(
    payer: str, status: str, service: date, submitted: date, lang: Language, secondary: bool = False
) -> str:
    """One claim's status; a claim to a secondary insurer (a supplement, after the primary paid) says so."""
    words_en = {
        "submitted": "has been submitted and is waiting to be processed",
        "pending": "is still pending",
        "paid": "has been paid",
        "partially_paid": "was partly paid",
        "appealed": "is under appeal",
        "denied": "was denied",
    }
    words_es = {
        "submitted": "fue enviado y espera ser procesado",
        "pending": "todavía se está procesando",
        "paid": "fue pagado",
        "partially_paid": "fue pagado en parte",
        "appealed": "está en apelación",
        "denied": "fue negado",
    }
    if lang == "es":
        which = "Su reclamo a su seguro secundario" if secondary else "Su reclamo a"
        return (
            f"{which} {payer} por la visita del {day(service, lang)} {words_es.get(status, status)}; "
            f"se envió el {day(submitted, lang)}."
        )
    which = "Your claim with your secondary insurance," if secondary else "Your claim with"
    return (
        f"{which} {payer}{',' if secondary else ''} for the visit on {day(service)} "
        f"{words_en.get(status, status)}; it was submitted on {day(submitted)}."
    )


def denial(code: str, plain: str, lang: Language) -> str:
    return f"Motivo ({code}): {plain}" if lang == "es" else f"Reason ({code}): {plain}"


def next_step(step: str, lang: Language) -> str:
    return f"Próximo paso: {step}" if lang == "es" else f"Next step: {step}"


PLAN_OFFER_PERSON = {
    "en": "If none of these can work for you, I can connect you with a person on our billing team. "
    "Would you like that? (yes/no)",
    "es": "Si ninguna de estas opciones le sirve, puedo comunicarle con una persona de nuestro equipo de "
    "facturación. ¿Quiere que lo haga? (sí/no)",
}
# The balance is too small for any plan and the patient asks for one again: a person can look at it.
PLAN_TOO_SMALL_PERSON = {
    "en": "I can't set up a plan for a balance this size. If paying it in full can't work for you, I can "
    "connect you with a person on our billing team. Would you like that? (yes/no)",
    "es": "No puedo hacer un plan para un saldo de este monto. Si pagarlo completo no le es posible, puedo "
    "comunicarle con una persona de nuestro equipo de facturación. ¿Quiere que lo haga? (sí/no)",
}


def billed_pr(cents: int, lang: Language) -> str:
    """A patient-responsibility (PR) denial of a whole claim: what the patient is billed for it."""
    if lang == "es":
        return f"Es una denegación a cargo del paciente (PR): se le cobran {money(cents)} por ella."
    return f"It is a patient-responsibility (PR) denial, so the {money(cents)} billed is yours to pay."


# A contractual (CO group) denial is between the practice and the payer: the practice writes it off.
NOT_BILLED_CO = {
    "en": "It is a contractual (CO) denial, so you are not billed for it: the practice writes it off.",
    "es": "Es una denegación contractual (CO), así que no se le cobra a usted: la práctica la descuenta.",
}


# --------------------------------------------------------------------------- plans


def plan_label(down_cents: int, months: int, installment_cents: int, final_cents: int, lang: Language) -> str:
    """A plan's terms in the patient's language, singular or plural as the counts need."""
    if lang != "es":
        return policy_plan_label(down_cents, months, installment_cents, final_cents)

    def payments(count: int, cents: int) -> str:
        return f"{count} {'pago mensual' if count == 1 else 'pagos mensuales'} de {money(cents)}"

    label = payments(months, installment_cents)
    if final_cents != installment_cents:
        label = f"{payments(months - 1, installment_cents)} y un pago final de {money(final_cents)}"
    if down_cents > 0:
        label = f"{money(down_cents)} hoy, y luego {label}"
    return label


def plan_offers(balance_cents: int, labels: list[str], lang: Language) -> str:
    numbered = " ".join(f"{i}) {label}." for i, label in enumerate(labels, start=1))
    if lang == "es":
        return (
            f"Para su saldo de {money(balance_cents)} puedo ofrecerle: {numbered} Responda con el "
            f"número de la "
            "opción o proponga un monto mensual."
        )
    return (
        f"For your balance of {money(balance_cents)}, I can offer: {numbered} Reply with the option "
        f"number, or "
        "suggest a monthly amount."
    )


def plan_confirm(label: str, first_due: date, approval: bool, lang: Language) -> str:
    if lang == "es":
        text = f"Perfecto: {label}, con el primer pago mensual el {day(first_due, lang)}."
        if approval:
            text += " Por el monto, nuestro equipo debe aprobar el plan."
        return text + " ¿Confirma que desea crear este plan? (sí/no)"
    text = f"Great: {label}, with the first monthly payment due {day(first_due)}."
    if approval:
        text += " Because of the amount, our billing staff will need to approve it."
    return text + " Do you want me to set up this plan? (yes/no)"


def plan_counter_rejected(reason: str, labels: list[str], lang: Language) -> str:
    numbered = " ".join(f"{i}) {label}." for i, label in enumerate(labels, start=1))
    if lang == "es":
        return f"No puedo aceptar esos términos: {reason}. Lo más cercano que puedo ofrecer: {numbered}"
    return f"I can't set that up: {reason}. The closest I can offer: {numbered}"


def plan_created(label: str, first_due: date, lang: Language) -> str:
    if lang == "es":
        return (
            f"Listo, su plan quedó creado: {label}. El primer pago mensual vence el {day(first_due, lang)}. "
            "Si quiere, le envío un enlace para hacer el primer pago."
        )
    return (
        f"Done, your plan is set up: {label}. The first monthly payment is due {day(first_due)}. "
        f"Reply PAY if "
        "you'd like a secure link for your first payment."
    )


def plan_pending(label: str, lang: Language) -> str:
    if lang == "es":
        return (
            f"Envié su plan ({label}) a nuestro equipo para su aprobación. Le avisaremos por aquí "
            f"en cuanto lo "
            "revisen, normalmente en un día hábil."
        )
    return (
        f"I've sent your plan ({label}) to our billing staff for approval. You'll get a message here as soon "
        "as they review it, usually within one business day."
    )


def plan_decided(approved: bool, label: str, lang: Language) -> str:
    if lang == "es":
        if approved:
            return f"Buenas noticias: su plan de pagos fue aprobado ({label})."
        return "Nuestro equipo no pudo aprobar ese plan. Escríbanos y buscaremos otra opción con usted."
    if approved:
        return f"Good news: your payment plan was approved ({label})."
    return (
        "Our billing staff couldn't approve that plan. Reply here and we'll look at other options with you."
    )


PLAN_EXISTS = {
    "en": "You already have an active payment plan, and the practice allows one plan per account. Reply PAY "
    "for a link to your next installment, or ask for a person to change the plan.",
    "es": "Ya tiene un plan de pagos activo y la práctica permite uno por cuenta. Responda PAGAR "
    "para recibir "
    "el enlace de su próxima cuota, o pida hablar con una persona para cambiarlo.",
}


def plan_in_place(
    installment_cents: int,
    due: date | None,
    due_cents: int | None,
    lang: Language,
    left_cents: int | None = None,
    left_count: int = 0,
) -> str:
    """The active plan's terms, said before :data:`PLAN_EXISTS` ("how much do I pay each month on my
    plan?", "how much is left on my plan?" ask for them): the monthly amount, what is still to pay on it
    (``left_cents`` over ``left_count`` installments) and the next installment."""
    if lang == "es":
        text = f"Su plan de pagos activo es de {money(installment_cents)} al mes."
        if left_cents is not None and left_count:
            cuotas = "cuota" if left_count == 1 else "cuotas"
            text += f" Le quedan {money(left_cents)} por pagar en {left_count} {cuotas}."
        if due is not None and due_cents is not None:
            text += f" Su próxima cuota, de {money(due_cents)}, vence el {day(due, lang, year=True)}."
        return text
    text = f"Your active payment plan is {money(installment_cents)} a month."
    if left_cents is not None and left_count:
        installments = "installment" if left_count == 1 else "installments"
        text += f" {money(left_cents)} is left to pay on it, in {left_count} {installments}."
    if due is not None and due_cents is not None:
        text += f" Your next installment, {money(due_cents)}, is due {day(due, lang, year=True)}."
    return text


PLAN_DECLINED = {
    "en": "No problem, I haven't set anything up. Would you like to pick another option?",
    "es": "No hay problema, no creé nada. ¿Quiere elegir otra opción?",
}


def plan_down_required(down_cents: int, lang: Language) -> str:
    """A plan with nothing down was asked for: the policy's down payment is stated before the offers."""
    if lang == "es":
        return f"Todo plan de pagos empieza con un pago inicial de al menos {money(down_cents)} hoy."
    return f"Every payment plan starts with a down payment of at least {money(down_cents)} today."


PLAN_WHICH = {
    "en": "Which option would you like? Reply with its number, or suggest a monthly amount.",
    "es": "¿Qué opción prefiere? Responda con el número o proponga un monto mensual.",
}
RETURN_TO_OFFER = {
    "en": "Whenever you're ready, we can go back to the payment plan options.",
    "es": "Cuando quiera, volvemos a las opciones del plan de pagos.",
}


def plan_too_small(balance_cents: int, minimum_cents: int, lang: Language) -> str:
    if lang == "es":
        return (
            f"Su saldo de {money(balance_cents)} es menor que el mínimo de {money(minimum_cents)} "
            "para un plan, así que no se puede dividir en pagos: se paga completo, en un solo pago. "
            "¿Quiere un enlace para pagarlo?"
        )
    # Not "so it's paid in full", which reads as if nothing were owed: the whole balance is still due.
    return (
        f"Your balance of {money(balance_cents)} is under the {money(minimum_cents)} minimum for a "
        "plan, so it can't be split into payments: it needs to be paid in one payment. "
        "Would you like a link to pay it?"
    )


# --------------------------------------------------------------------------- links


def link_created(amount_cents: int, url: str, expires: date, what: str, lang: Language) -> str:
    if lang == "es":
        return (
            f"Aquí está su enlace seguro para pagar {money(amount_cents)} ({what}): {url} . "
            f"Vence el {day(expires, lang)}."
        )
    return (
        f"Here is your secure link to pay {money(amount_cents)} ({what}): {url} . It expires {day(expires)}."
    )


def last_payment(amount_cents: int | None, posted: date | None, lang: Language) -> str:
    """The latest payment on file, asked about ("how much was my last payment"), or that there is none."""
    if amount_cents is None or posted is None:
        if lang == "es":
            return "No veo pagos registrados en su cuenta."
        return "I don't see any payments on file for your account."
    if lang == "es":
        return f"Su último pago registrado fue de {money(amount_cents)}, el {day(posted, lang)}."
    return f"Your last payment on file was {money(amount_cents)}, on {day(posted)}."


def payment_on_file(amount_cents: int, posted: date, balance_cents: int, lang: Language) -> str:
    """An "I already paid" the ledger confirms: what arrived, what is left, and an offer of staff."""
    if lang == "es":
        left = (
            "Su cuenta no tiene saldo pendiente."
            if balance_cents <= 0
            else f"Su saldo pendiente ahora es de {money(balance_cents)}."
        )
        return (
            f"Recibimos su pago de {money(amount_cents)} el {day(posted, lang)}. {left} Si hizo otro pago "
            "que no aparece aquí, puedo pasarlo a nuestro equipo. ¿Quiere que lo haga?"
        )
    left = (
        "Your account has no balance due."
        if balance_cents <= 0
        else f"Your balance now is {money(balance_cents)}."
    )
    return (
        f"We received your payment of {money(amount_cents)} on {day(posted)}. {left} If you made another "
        "payment that isn't shown here, I can pass this to our billing team. Would you like that?"
    )


def link_offer(amount_cents: int, what: str, lang: Language) -> str:
    """The terms of a link the patient has not asked for in so many words, and the yes/no question."""
    if lang == "es":
        return f"¿Quiere que le envíe un enlace seguro para pagar {money(amount_cents)} ({what})? (sí/no)"
    return f"Would you like a secure link to pay {money(amount_cents)} ({what})? (yes/no)"


def discount_answer(balance_cents: int, pay_today_cents: int | None, lang: Language) -> str:
    """Discounts come from the practice's policy: the prompt-pay amount if there is one, and a question."""
    if lang == "es":
        text = "Los descuentos los fija la política de facturación de la práctica; no puedo cambiar el monto."
        if pay_today_cents is not None:
            return (
                f"{text} Si paga hoy el saldo completo de {money(balance_cents)}, el descuento por pronto "
                f"pago lo deja en {money(pay_today_cents)}. ¿Quiere un enlace seguro para pagar "
                f"{money(pay_today_cents)}? (sí/no)"
            )
        return (
            f"{text} Puedo enviarle un enlace para el saldo de {money(balance_cents)} o armar un plan de "
            f"pagos. ¿Quiere un enlace para pagar {money(balance_cents)}? (sí/no)"
        )
    text = "Discounts are set by the practice's billing policy, so I can't change the amount."
    if pay_today_cents is not None:
        return (
            f"{text} If you pay the full balance of {money(balance_cents)} today, the prompt-pay discount "
            f"brings it to {money(pay_today_cents)}. Would you like a secure link to pay "
            f"{money(pay_today_cents)}? (yes/no)"
        )
    return (
        f"{text} I can send a link for your balance of {money(balance_cents)}, or set up a payment plan. "
        f"Would you like a link to pay {money(balance_cents)}? (yes/no)"
    )


PLAN_DISPUTED = {
    "en": "Your account has an open billing dispute, so I can't set up a payment plan until our team has "
    "reviewed it. They'll contact you.",
    "es": "Su cuenta tiene una disputa abierta, así que no puedo crear un plan de pagos hasta que nuestro "
    "equipo la revise. Se comunicarán con usted.",
}
LINK_DISPUTED = {
    "en": "Your account has an open billing dispute, so I won't send a payment link until our team has "
    "reviewed it. They'll contact you.",
    "es": "Su cuenta tiene una disputa abierta, así que no enviaré un enlace de pago hasta que "
    "nuestro equipo "
    "la revise. Se comunicarán con usted.",
}


def link_over_balance(balance_cents: int, lang: Language) -> str:
    if lang == "es":
        return f"Ese monto es mayor que su saldo de {money(balance_cents)}. ¿Quiere pagar el saldo completo?"
    return f"That's more than your balance of {money(balance_cents)}. Would you like to pay the full balance?"


def link_under_minimum(minimum_cents: int, balance_cents: int, lang: Language) -> str:
    if lang == "es":
        return (
            f"El pago más pequeño que puedo recibir en línea es de {money(minimum_cents)}. Su saldo es de "
            f"{money(balance_cents)}. ¿Qué monto quiere pagar?"
        )
    return (
        f"The smallest payment I can take online is {money(minimum_cents)}. Your balance is "
        f"{money(balance_cents)}. How much would you like to pay?"
    )


# --------------------------------------------------------------------------- hand-off and knowledge base


def when_next_open(hours: OfficeHours, now: datetime, lang: Language) -> str:
    """ "now" while the office is staffed, else the next opening in office time."""
    tz = ZoneInfo(hours.timezone)
    local = now.astimezone(tz)
    if hours.is_open(now):
        return "en horario de oficina, hoy mismo" if lang == "es" else "today, during office hours"
    open_days = {_DAY_INDEX[d] for d in hours.days}
    for offset in range(0, 8):
        candidate = (local + timedelta(days=offset)).date()
        if candidate.weekday() not in open_days:
            continue
        opening = datetime.combine(candidate, hours.open, tzinfo=tz)
        if opening > local:
            hhmm = opening.strftime("%H:%M")
            if offset == 0:
                return f"hoy a las {hhmm}" if lang == "es" else f"today at {opening.strftime('%-I:%M %p')}"
            if offset == 1:
                return (
                    f"mañana a las {hhmm}" if lang == "es" else f"tomorrow at {opening.strftime('%-I:%M %p')}"
                )
            wd = candidate.weekday()
            if lang == "es":
                return f"el {WEEKDAYS_ES[wd]} a las {hhmm}"
            return f"on {WEEKDAYS_EN[wd]} at {opening.strftime('%-I:%M %p')}"
    return "en el próximo día hábil" if lang == "es" else "on the next business day"


def handed_off(ticket_ref: str, when: str, phone: str, lang: Language) -> str:
    if lang == "es":
        return (
            f"Pasé su caso a nuestro equipo de facturación (referencia {ticket_ref}). Una persona "
            f"le responderá "
            f"por aquí {when}. Si es urgente, llame al {phone}."
        )
    return (
        f"I've passed this to our billing team (reference {ticket_ref}). A person will reply here {when}. If "
        f"it's urgent, call {phone}."
    )


def outage_handoff(reference: str, when: str, phone: str, lang: Language) -> str:
    """A person was asked for while the practice system is down: the request is queued, not lost."""
    if lang == "es":
        return (
            f"No puedo ver su cuenta en este momento, pero anoté su pedido para nuestro equipo de "
            f"facturación (referencia {reference}). Una persona le dará seguimiento {when}. Si es urgente, "
            f"llame al {phone}."
        )
    return (
        f"I can't see your account right now, but I've noted your request for our billing team "
        f"(reference {reference}). A person will follow up with you {when}. If it's urgent, call {phone}."
    )


def kb_answer(text: str, title: str, lang: Language) -> str:
    return f"{text} (Fuente: {title})" if lang == "es" else f"{text} (Source: {title})"


KB_UNKNOWN = {
    "en": "I don't know the answer to that. Would you like me to connect you with a person on our billing "
    "team?",
    "es": "No sé la respuesta a eso. ¿Quiere que le comunique con una persona de nuestro equipo?",
}
REFUND_OFFER = {
    "en": "Refunds are reviewed by our billing team. Would you like me to ask them to contact you about it?",
    "es": "Los reembolsos los revisa nuestro equipo. ¿Quiere que se comuniquen con usted?",
}
