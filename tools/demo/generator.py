"""A demo practice with every billing situation the agent must handle.

``generate_practice`` is pure: the same ``(patients, seed, today)`` always gives
the same ``PracticeData`` (one ``random.Random(seed)``, no wall clock, no global
state). Every line and statement satisfies the ledger invariants of
``tools.platforms.models``; every scenario tag is true of the patient's data.

Representations worth knowing:

* **Adjudicated lines** carry a ``CO-45`` write-off (charge above the payer's fee
  schedule) and ``PR-1``/``PR-2``/``PR-3`` adjustments equal to the deductible,
  coinsurance and copay split. Original Medicare lines also carry ``CO-253``
  (2% sequestration), which lowers the allowed amount by what Medicare withholds.
* **Pending claims** have not been adjudicated: ``allowed = billed`` and all of
  it is ``insurance_pending_cents``; the patient owes nothing on the line yet.
* **Denials** with group ``CO`` are written off in full (``allowed = 0``); a
  ``PR`` denial (``PR-204``, ``PR-96``) leaves the whole charge as
  ``not_covered_cents`` for the patient.
* **Secondary pending** (Medicare + Medigap Plan G): Medicare's coinsurance is
  held as ``insurance_pending_cents`` until the supplement pays (its ``PR-2``
  adjustment carries ``MA18``, "claim forwarded to the supplemental insurer");
  the Part B deductible, which Plan G does not cover, is the patient's.
* **Self-pay** (no coverage, no claim): the practice's uninsured discount is a
  ``CO-45`` adjustment (the write-off that makes ``billed = allowed + Σ CO``
  hold); the discounted price is ``not_covered_cents``.
* **Original Medicare and Medicaid** have no out-of-pocket maximum: both
  ``out_of_pocket_max_cents`` and ``out_of_pocket_met_cents`` are 0.
"""

from __future__ import annotations

import random
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal

from tools.codebook import CodeBook
from tools.demo import reference as ref
from tools.demo.scenarios import CONTACT_SCENARIOS, DENIALS, FINANCIAL_SCENARIOS, PARTIAL_DENIALS
from tools.errors import ConfigurationError
from tools.platforms.ledger.loader import PracticeData
from tools.platforms.models import (
    Adjustment,
    Channel,
    Claim,
    ClaimCode,
    ClaimStatus,
    Coverage,
    CoverageRank,
    GroupCode,
    Installment,
    InstallmentStatus,
    Language,
    LineItem,
    Patient,
    Payment,
    PaymentMethod,
    PaymentPlan,
    PaymentSource,
    PlanStatus,
    Practice,
    Statement,
    StatementStatus,
)

DEMO_TODAY: Final = date(2026, 11, 2)
PRACTICE_ID: Final = "practice-riverside"
BALANCE_OVER: Final = 500_000  # the "balance over $5,000" threshold, cents

EM_CODES: Final = frozenset(
    {
        "99202",
        "99203",
        "99204",
        "99205",
        "99211",
        "99212",
        "99213",
        "99214",
        "99215",
        "98005",
        "98006",
        "98013",
    }
)

Denial = tuple[str, str, str | None]
Mode = Literal["adjudicate", "pending", "deny", "partial", "secondary", "self_pay"]


@dataclass(frozen=True, slots=True)
class _Svc:
    code: str
    modifiers: tuple[str, ...] = ()
    units: int = 1


@dataclass(slots=True)
class _Enc:
    days_before_statement: int
    provider: str
    services: list[_Svc]
    mode: Mode = "adjudicate"
    preventive: bool = False
    denial: Denial | None = None


@dataclass(slots=True)
class _Cov:
    id: str
    design: ref.PlanDesign
    member_id: str
    rank: CoverageRank = CoverageRank.PRIMARY
    deductible: int = 0
    deductible_met: int = 0
    oop_max: int = 0  # 0: no maximum
    oop_met: int = 0
    copay: int = 0

    @property
    def no_oop_max(self) -> bool:
        return self.oop_max == 0

    def oop_room(self) -> int:
        return 10**12 if self.no_oop_max else self.oop_max - self.oop_met

    def to_model(self, patient_id: str) -> Coverage:
        return Coverage(
            id=self.id,
            patient_id=patient_id,
            payer_name=self.design.payer,
            plan_type=self.design.plan_type,
            member_id=self.member_id,
            rank=self.rank,
            deductible_cents=self.deductible,
            deductible_met_cents=self.deductible_met,
            out_of_pocket_max_cents=self.oop_max,
            out_of_pocket_met_cents=0 if self.no_oop_max else self.oop_met,
            coinsurance_percent=self.design.coinsurance,
            copay_cents=self.copay,
        )


@dataclass(slots=True)
class _PatientBook:
    patient_id: str
    age: int
    coverages: list[_Cov] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    plans: list[PaymentPlan] = field(default_factory=list)


def generate_practice(patients: int = 200, seed: int = 7, today: date | None = None) -> PracticeData:
    """A whole demo practice of ``patients`` patients, deterministic for ``seed``.

    Every scenario of ``tools.demo.scenarios.FINANCIAL_SCENARIOS`` is dealt to
    about ``patients / 15`` patients; the contact scenarios to a fixed share.
    """
    if patients < 0:
        raise ValueError("patients must be >= 0")
    return _Generator(random.Random(seed), today or DEMO_TODAY).run(patients)


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _fee_factor(payer: str, code: str) -> int:
    """A stable per-payer, per-code variation of the fee schedule (930..1000 permille)."""
    return 930 + zlib.crc32(f"{payer}|{code}".encode()) % 71


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, min(d.day, 28))


def _pct(amount: int, percent: int) -> int:
    return (amount * percent + 50) // 100


class _Generator:
    def __init__(self, rng: random.Random, today: date) -> None:
        self.rng = rng
        self.today = today
        self.book = CodeBook.default()
        self.counters: dict[str, int] = {}
        self.statement_number = 104_200 + rng.randrange(0, 500)
        self.claim_number = rng.randrange(10_000, 90_000)
        self.denial_turn = 0
        self.partial_turn = 0
        self.used_emails: set[str] = set()
        self.phones: list[str] = []

    # ---------------------------------------------------------------- ids and small helpers
    def _id(self, prefix: str, width: int = 6) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}-{n:0{width}d}"

    def _at(self, day: date) -> datetime:
        return datetime.combine(day, time(self.rng.randint(13, 22), self.rng.randrange(60)), tzinfo=UTC)

    def _between(self, lo: int, hi: int, step: int = 1) -> int:
        return self.rng.randrange(lo, hi + 1, step) if hi > lo else lo

    # ---------------------------------------------------------------- practice
    def run(self, n: int) -> PracticeData:
        practice = Practice(
            id=PRACTICE_ID,
            name="Riverside Family Medicine",
            phone="+16175550100",
            address="400 Riverside Ave, Suite 2, Medford, MA 02155",
        )
        rng = self.rng
        deck = [FINANCIAL_SCENARIOS[i % len(FINANCIAL_SCENARIOS)] for i in range(n)]
        rng.shuffle(deck)
        order = list(range(n))
        rng.shuffle(order)
        n_sms, n_es, n_nophone = n // 4, (n * 3) // 20, n // 20
        no_phone = set(order[:n_nophone])
        sms = set(order[n_nophone : n_nophone + n_sms])
        spanish = set(rng.sample(range(n), n_es))
        pool = [f"+1{a}55501{k:02d}" for a in ref.AREA_CODES for k in range(100)]
        rng.shuffle(pool)
        self.phones = pool

        out_patients: list[Patient] = []
        coverages: list[Coverage] = []
        claims: list[Claim] = []
        statements: list[Statement] = []
        plans: list[PaymentPlan] = []
        for i in range(n):
            scenario = deck[i]
            contact = (
                (("no_phone",) if i in no_phone else ())
                + (("prefers_sms",) if i in sms else ())
                + (("spanish_speaker",) if i in spanish else ())
            )
            pb = _PatientBook(patient_id=f"pat-{i + 1:05d}", age=0)
            self._financial(pb, scenario)
            tags = [scenario, *self._derived_tags(pb, scenario), *contact]
            out_patients.append(self._patient(i, pb, tuple(dict.fromkeys(tags)), contact))
            coverages.extend(c.to_model(pb.patient_id) for c in pb.coverages)
            claims.extend(pb.claims)
            statements.extend(pb.statements)
            plans.extend(pb.plans)
        assert set(CONTACT_SCENARIOS) >= {t for p in out_patients for t in p.scenario_tags} - set(
            FINANCIAL_SCENARIOS
        )
        return PracticeData(
            practice=practice,
            patients=out_patients,
            coverages=coverages,
            claims=claims,
            statements=statements,
            unapplied_payments=[],
            plans=plans,
        )

    def _derived_tags(self, pb: _PatientBook, scenario: str) -> list[str]:
        tags: list[str] = []
        open_count = sum(1 for s in pb.statements if s.status is StatementStatus.OPEN)
        if sum(s.balance_cents for s in pb.statements) > BALANCE_OVER:
            tags.append("balance_over_5000")
        if open_count >= 2:
            tags.append("multiple_open_statements")
        if any(s.balance_cents < 0 for s in pb.statements):
            tags.append("credit_balance")
        if not pb.coverages:
            tags.append("self_pay")
        return [t for t in tags if t != scenario]

    def _patient(self, i: int, pb: _PatientBook, tags: tuple[str, ...], contact: tuple[str, ...]) -> Patient:
        rng = self.rng
        es = "spanish_speaker" in contact
        first = rng.choice(ref.FIRST_NAMES_ES if es else ref.FIRST_NAMES + ref.FIRST_NAMES_ES[:4])
        last = rng.choice(ref.LAST_NAMES_ES if es else ref.LAST_NAMES + ref.LAST_NAMES_ES[:5])
        dob_year = self.today.year - pb.age
        dob = date(dob_year, 1, 1) + timedelta(days=rng.randrange(0, 365))
        if dob > self.today.replace(year=self.today.year - pb.age):
            dob = date(dob_year - 1, dob.month, min(dob.day, 28))
        city, state, zip_code = rng.choice(ref.CITIES)
        phone = None if "no_phone" in contact else self.phones[i % len(self.phones)]
        base = f"{_fold(first)}.{_fold(last)}"
        email = f"{base}@{rng.choice(ref.EMAIL_DOMAINS)}"
        k = 2
        while email in self.used_emails:
            email = f"{base}{k}@{rng.choice(ref.EMAIL_DOMAINS)}"
            k += 1
        self.used_emails.add(email)
        prefers_sms = "prefers_sms" in contact
        return Patient(
            id=pb.patient_id,
            practice_id=PRACTICE_ID,
            first_name=first,
            last_name=last,
            date_of_birth=dob,
            phone=phone,
            email=email,
            address_line=f"{rng.randint(2, 998)} {rng.choice(ref.STREETS)}",
            city=city,
            state=state,
            zip_code=zip_code,
            language=Language.ES if es else Language.EN,
            preferred_channel=Channel.SMS if prefers_sms else Channel.PORTAL,
            sms_consent=prefers_sms or (phone is not None and rng.random() < 0.3),
            portal_user_id=f"portal-{i + 1}",
            scenario_tags=tags,
        )

    # ---------------------------------------------------------------- coverage
    def _coverage(self, design: ref.PlanDesign, *, met: float = 0.0, fully_met: bool = False) -> _Cov:
        rng = self.rng
        ded = self._between(*design.deductible, 5000) if design.deductible[1] else 0
        extra = self._between(*design.oop_extra, 10000) if design.oop_extra[1] else 0
        copay = self._between(*design.copay, 500) if design.copay[1] else 0
        ded_met = ded if fully_met else int(ded * met * rng.random()) // 100 * 100
        return _Cov(
            id=self._id("cov"),
            design=design,
            member_id=self._member_id(design.payer),
            deductible=ded,
            deductible_met=ded_met,
            oop_max=ded + extra if extra else 0,
            oop_met=ded_met + (self._between(0, 30000, 100) if extra else 0),
            copay=copay,
        )

    def _member_id(self, payer: str) -> str:
        rng = self.rng
        digits = "".join(rng.choice("0123456789") for _ in range(9))
        if payer == "Medicare":  # MBI shape: 1EG4-TE5-MK72 without the dashes
            letters = "ACDEFGHJKMNPQRTUVWXY"
            alnum = letters + "0123456789"
            pattern = ("19", letters, alnum, "0123456789", letters, alnum, "0123456789", letters, letters)
            mbi = "".join(rng.choice(p) for p in pattern)
            return mbi + f"{rng.randrange(100):02d}"
        prefixes = {"Aetna": "W", "Cigna": "U", "Humana": "H", "Blue Cross Blue Shield": "XJH"}
        return prefixes.get(payer, "") + digits

    # ---------------------------------------------------------------- encounters
    def _em(self, medicare: bool, modifiers: tuple[str, ...] = ()) -> list[_Svc]:
        code = self.rng.choices(("99212", "99213", "99214", "99215"), (15, 45, 32, 8))[0]
        out = [_Svc(code, modifiers)]
        if medicare and code in ("99213", "99214") and self.rng.random() < 0.5:
            out.append(_Svc("G2211"))
        return out

    def _labs(self) -> list[_Svc]:
        picks = self.rng.sample(("80053", "85025", "83036", "80061", "84443"), self.rng.randint(1, 3))
        return [_Svc("36415"), *(_Svc(c) for c in sorted(picks))]

    def _office(self, medicare: bool) -> list[_Svc]:
        rng = self.rng
        if rng.random() < 0.2:  # telehealth
            if not medicare and rng.random() < 0.5:
                return [_Svc(rng.choice(("99213", "99214")), ("95",))]
            return [_Svc(rng.choice(("98005", "98006", "98013")))]
        svcs = self._em(medicare)
        if rng.random() < 0.5:
            svcs += self._labs()
        for code, p in (("87880", 0.15), ("81003", 0.1), ("93000", 0.1)):
            if rng.random() < p:
                svcs.append(_Svc(code))
        return svcs

    def _procedure(self, medicare: bool) -> list[_Svc]:
        rng = self.rng
        svcs = self._em(medicare, ("25",))[:1]
        side = rng.choice(("RT", "LT"))
        kind = rng.randrange(4)
        if kind == 0:
            drug = _Svc("J3301", (), 4) if rng.random() < 0.6 else _Svc("J1100", (), 10)
            svcs += [_Svc("20610", (side,)), drug]
        elif kind == 1:
            svcs += [_Svc("11102"), _Svc("17110", ("59",)), _Svc("A4550")]
        elif kind == 2:
            svcs += [_Svc("12001"), _Svc("A4550")]
        else:
            svcs += [_Svc("96372"), _Svc("J1885", (), 2)]
        return svcs

    def _imaging(self, medicare: bool) -> list[_Svc]:
        rng = self.rng
        side = rng.choice(("RT", "LT"))
        study = rng.choice((_Svc("71046"), _Svc("73030", (side,)), _Svc("76856")))
        return [*self._em(medicare)[:1], study]

    def _preventive(self, age: int, medicare: bool, flu: bool) -> list[_Svc]:
        rng = self.rng
        if medicare:
            svcs = [_Svc(rng.choice(("G0439", "G0439", "G0438")))]
            if rng.random() < 0.25:
                svcs.append(_Svc("Q0091"))
            if flu:
                svcs += [_Svc("G0008"), _Svc("90656")]
            return svcs
        bands = ((1, 1), (4, 2), (11, 3), (17, 4), (39, 5), (64, 6))
        digit = next((d for top, d in bands if age <= top), 7)
        code = f"9939{digit}" if rng.random() < 0.85 else f"9938{digit}"
        svcs = [_Svc(code)]
        if age >= 18 and rng.random() < 0.6:
            svcs += self._labs()
        vaccines = [c for c, ok in (("90715", rng.random() < 0.3), ("90656", flu)) if ok]
        if vaccines:
            svcs.append(_Svc("90471"))
            if len(vaccines) > 1:
                svcs.append(_Svc("90472"))
            svcs += [_Svc(c) for c in vaccines]
        return svcs

    def _pcp(self) -> str:
        return self.rng.choice(ref.PRIMARY_CARE)

    # ---------------------------------------------------------------- billing
    def _adjudicate(self, svc: _Svc, billed: int, cov: _Cov, preventive: bool, copay_due: bool) -> LineItem:
        """A line as the payer adjudicated it, with ``statement_id``/ids filled in by the caller."""
        payer = cov.design.payer
        allowed = billed * cov.design.allowed_permille * _fee_factor(payer, svc.code) // 1_000_000
        adjustments: list[Adjustment] = []
        if billed > allowed:
            rarc = "N381" if payer not in ("Medicare", "Medicaid") and self.rng.random() < 0.2 else None
            adjustments.append(
                Adjustment(group_code=GroupCode.CO, carc="45", rarc=rarc, amount_cents=billed - allowed)
            )
        ded = coins = copay = 0
        if not preventive:
            if copay_due and cov.copay:
                copay = min(cov.copay, allowed, cov.oop_room())
            else:
                ded = min(allowed, cov.deductible - cov.deductible_met, cov.oop_room())
                coins = min(_pct(allowed - ded, cov.design.coinsurance), cov.oop_room() - ded)
        paid = allowed - ded - coins - copay
        withheld = _pct(paid, 2) if payer == "Medicare" else 0
        if withheld:
            allowed -= withheld
            paid -= withheld
            adjustments.append(Adjustment(group_code=GroupCode.CO, carc="253", amount_cents=withheld))
        cov.deductible_met += ded
        cov.oop_met += ded + coins + copay
        for carc, amount in (("1", ded), ("2", coins), ("3", copay)):
            if amount:
                adjustments.append(Adjustment(group_code=GroupCode.PR, carc=carc, amount_cents=amount))
        return self._line(svc, billed, allowed, paid, 0, tuple(adjustments), ded, coins, copay, 0)

    def _line(
        self,
        svc: _Svc,
        billed: int,
        allowed: int,
        paid: int,
        pending: int,
        adjustments: tuple[Adjustment, ...],
        ded: int,
        coins: int,
        copay: int,
        not_covered: int,
    ) -> LineItem:
        entry = self.book.procedure(svc.code)
        if entry is None:
            raise ConfigurationError(f"code book has no entry for {svc.code}")
        return LineItem(
            id="",
            statement_id="",
            claim_id=None,
            service_date=self.today,
            provider_name="",
            code=svc.code,
            code_system="HCPCS" if svc.code[0].isalpha() else "CPT",
            modifiers=svc.modifiers,
            units=svc.units,
            description=entry.title,
            billed_cents=billed,
            allowed_cents=allowed,
            insurance_paid_cents=paid,
            insurance_pending_cents=pending,
            adjustments=adjustments,
            deductible_cents=ded,
            coinsurance_cents=coins,
            copay_cents=copay,
            not_covered_cents=not_covered,
        )

    def _denied(self, svc: _Svc, billed: int, denial: Denial) -> LineItem:
        group, carc, rarc = denial
        adj = (Adjustment(group_code=GroupCode(group), carc=carc, rarc=rarc, amount_cents=billed),)
        if group == "PR":
            return self._line(svc, billed, billed, 0, 0, adj, 0, 0, 0, billed)
        return self._line(svc, billed, 0, 0, 0, adj, 0, 0, 0, 0)

    def _bill(
        self, pb: _PatientBook, sid: str, statement_date: date, enc: _Enc, secondary: _Cov | None
    ) -> list[LineItem]:
        rng = self.rng
        service = statement_date - timedelta(days=enc.days_before_statement)
        cov = pb.coverages[0] if pb.coverages else None
        lines: list[LineItem] = []
        copay_due = True
        for svc in enc.services:
            billed = ref.FEES[svc.code] * svc.units
            if cov is None:
                discount = _pct(billed, 30)
                adj = (Adjustment(group_code=GroupCode.CO, carc="45", amount_cents=discount),)
                li = self._line(svc, billed, billed - discount, 0, 0, adj, 0, 0, 0, billed - discount)
            elif enc.mode == "pending":
                li = self._line(svc, billed, billed, 0, billed, (), 0, 0, 0, 0)
            elif enc.denial is not None and (
                enc.mode == "deny" or (enc.mode == "partial" and svc.code not in EM_CODES)
            ):
                li = self._denied(svc, billed, enc.denial)
            else:
                li = self._adjudicate(svc, billed, cov, enc.preventive, copay_due and svc.code in EM_CODES)
                if svc.code in EM_CODES:
                    copay_due = False
                if enc.mode == "secondary" and li.coinsurance_cents:
                    adjs = tuple(
                        a.model_copy(update={"rarc": "MA18"}) if a.carc == "2" else a for a in li.adjustments
                    )
                    li = li.model_copy(
                        update={
                            "insurance_pending_cents": li.coinsurance_cents,
                            "coinsurance_cents": 0,
                            "adjustments": adjs,
                        }
                    )
            lines.append(li)
        claim_id = None
        if cov is not None:
            claim_id = self._id("clm")
            submitted = service + timedelta(days=self._between(1, 3))
            adjudicated = None
            if enc.mode != "pending":
                adjudicated = min(
                    submitted + timedelta(days=self._between(9, 21)), statement_date - timedelta(1)
                )
            status = {
                "adjudicate": ClaimStatus.PAID,
                "secondary": ClaimStatus.PAID,
                "pending": rng.choice((ClaimStatus.PENDING, ClaimStatus.SUBMITTED)),
                "deny": ClaimStatus.DENIED,
                "partial": ClaimStatus.PARTIALLY_PAID,
                "self_pay": ClaimStatus.PAID,
            }[enc.mode]
            codes: tuple[ClaimCode, ...] = ()
            if enc.denial is not None:
                g, carc, rarc = enc.denial
                codes = (ClaimCode(group_code=GroupCode(g), carc=carc, rarc=rarc),)
        lines = [
            li.model_copy(
                update={
                    "id": self._id("li", 7),
                    "statement_id": sid,
                    "claim_id": claim_id,
                    "service_date": service,
                    "provider_name": enc.provider,
                }
            )
            for li in lines
        ]
        if cov is not None and claim_id is not None:
            self.claim_number += self._between(1, 40)
            billed_total = sum(li.billed_cents for li in lines)
            pb.claims.append(
                Claim(
                    id=claim_id,
                    patient_id=pb.patient_id,
                    claim_number=f"{service:%y%j}{self.claim_number:07d}",
                    payer_name=cov.design.payer,
                    status=status,
                    service_date=service,
                    submitted_on=submitted,
                    adjudicated_on=adjudicated,
                    billed_cents=billed_total,
                    paid_cents=sum(li.insurance_paid_cents for li in lines),
                    denial_codes=codes,
                    line_item_ids=tuple(li.id for li in lines),
                )
            )
            if enc.mode == "secondary" and secondary is not None and adjudicated is not None:
                self.claim_number += self._between(1, 40)
                pb.claims.append(
                    Claim(
                        id=self._id("clm"),
                        patient_id=pb.patient_id,
                        claim_number=f"{service:%y%j}{self.claim_number:07d}",
                        payer_name=secondary.design.payer,
                        coverage_rank=CoverageRank.SECONDARY,
                        status=ClaimStatus.PENDING,
                        service_date=service,
                        submitted_on=adjudicated,
                        billed_cents=billed_total,
                        paid_cents=0,
                        line_item_ids=tuple(li.id for li in lines if li.insurance_pending_cents),
                    )
                )
        return lines

    def _statement(
        self,
        pb: _PatientBook,
        statement_date: date,
        encounters: Sequence[_Enc],
        pay: float = 0.0,
        pay_after: bool = False,
        secondary: _Cov | None = None,
    ) -> Statement:
        """A statement; ``pay`` is the share of the responsibility the patient paid (> 1 overpays)."""
        sid = self._id("st")
        self.statement_number += self._between(1, 9)
        lines = [li for enc in encounters for li in self._bill(pb, sid, statement_date, enc, secondary)]
        resp = sum(li.patient_responsibility_cents for li in lines)
        payments: list[Payment] = []
        amount = round(resp * pay)
        if amount > 0:
            if pay_after:
                posted = statement_date + timedelta(
                    days=self._between(2, max(2, (self.today - statement_date).days - 1))
                )
                source, method = self.rng.choice(
                    ((PaymentSource.PORTAL, PaymentMethod.CARD), (PaymentSource.MAIL, PaymentMethod.CHECK))
                )
            else:
                first_service = min(li.service_date for li in lines)
                posted, source, method = first_service, PaymentSource.FRONT_DESK, PaymentMethod.CARD
            payments.append(self._payment(pb, sid, amount, posted, source, method))
        return self._finish(pb, sid, statement_date, lines, payments)

    def _payment(
        self, pb: _PatientBook, sid: str, amount: int, day: date, source: PaymentSource, method: PaymentMethod
    ) -> Payment:
        pid = self._id("pay")
        external = None
        if method is PaymentMethod.CARD and source is not PaymentSource.FRONT_DESK:
            external = f"pi_demo_{zlib.crc32(pid.encode()):08x}"
        elif method is PaymentMethod.CHECK:
            external = f"check-{self._between(1001, 9999)}"
        return Payment(
            id=pid,
            patient_id=pb.patient_id,
            statement_id=sid,
            amount_cents=amount,
            posted_at=self._at(day),
            method=method,
            source=source,
            external_id=external,
            idempotency_key=f"demo:{pid}",
        )

    def _finish(
        self, pb: _PatientBook, sid: str, statement_date: date, lines: list[LineItem], payments: list[Payment]
    ) -> Statement:
        balance = sum(li.patient_responsibility_cents for li in lines) - sum(p.amount_cents for p in payments)
        status = (
            StatementStatus.OPEN
            if balance > 0
            else StatementStatus.PAID
            if balance == 0
            else StatementStatus.CREDIT
        )
        st = Statement(
            id=sid,
            number=f"S-{self.statement_number}",
            patient_id=pb.patient_id,
            statement_date=statement_date,
            due_date=statement_date + timedelta(days=30),
            line_items=tuple(lines),
            payments=tuple(payments),
            balance_cents=balance,
            status=status,
        )
        pb.statements.append(st)
        return st

    def _stmt_date(self, lo: int, hi: int) -> date:
        """A statement date between ``hi`` and ``lo`` days before today."""
        return self.today - timedelta(days=self._between(lo, hi))

    # ---------------------------------------------------------------- scenarios
    def _financial(self, pb: _PatientBook, scenario: str) -> None:
        rng = self.rng
        pb.age = self._between(19, 64)
        adjudicated = self._between(25, 50)

        def office(days: int | None = None, mode: Mode = "adjudicate", medicare: bool = False) -> _Enc:
            return _Enc(days or self._between(25, 50), self._pcp(), self._office(medicare), mode)

        if scenario == "copay_only":
            pb.coverages.append(self._coverage(rng.choice(ref.COPAY_PLANS)))
            svcs = self._em(False)
            if rng.random() < 0.6:
                svcs += self._labs()
            self._statement(pb, self._stmt_date(5, 200), [_Enc(adjudicated, self._pcp(), svcs)])
        elif scenario == "deductible_heavy":
            pb.coverages.append(self._coverage(rng.choice(ref.HDHP_PLANS), met=0.1))
            visit = rng.choice((self._imaging, self._procedure))(False)
            self._statement(pb, self._stmt_date(5, 200), [_Enc(adjudicated, self._pcp(), visit)])
        elif scenario == "coinsurance_after_deductible":
            design = rng.choice(ref.PPO_PLANS)
            cov = self._coverage(design, fully_met=True)
            cov.copay = 0
            pb.coverages.append(cov)
            visit = rng.choice((self._imaging, self._procedure))(False)
            self._statement(pb, self._stmt_date(5, 200), [_Enc(adjudicated, self._pcp(), visit)])
        elif scenario == "paid_in_full_by_insurance":
            medicare = rng.random() < 0.3
            if medicare:
                pb.age = self._between(66, 89)
            plans: tuple[ref.PlanDesign, ...] = (
                (ref.MEDICARE,) if medicare else (*ref.PPO_PLANS, *ref.COPAY_PLANS, ref.MEDICAID)
            )
            pb.coverages.append(self._coverage(rng.choice(plans)))
            if not medicare and rng.random() < 0.2:
                pb.age = self._between(2, 17)
            day = self._stmt_date(5, 200)
            flu = day.month in (10, 11, 12, 1, 2)
            enc = _Enc(adjudicated, self._pcp(), self._preventive(pb.age, medicare, flu), preventive=True)
            self._statement(pb, day, [enc])
        elif scenario == "claim_pending":
            pb.coverages.append(self._coverage(rng.choice(ref.PPO_PLANS)))
            pending = _Enc(self._between(3, 12), self._pcp(), self._imaging(False), "pending")
            self._statement(pb, self._stmt_date(2, 20), [office(self._between(35, 60)), pending])
        elif scenario == "claim_denied":
            denial = DENIALS[self.denial_turn % len(DENIALS)]
            self.denial_turn += 1
            medicare = denial[2] == "N115"
            if medicare:
                pb.age = self._between(66, 89)
            pb.coverages.append(self._coverage(ref.MEDICARE if medicare else rng.choice(ref.PPO_PLANS)))
            if denial[1] == "197":
                side = rng.choice(("RT", "LT"))
                svcs = [_Svc("73721", (side,))]
            elif denial[1] == "204":
                svcs = [_Svc("17110")]
            else:
                svcs = self._office(medicare)
            days = 200 if denial[1] == "29" else adjudicated
            denied = _Enc(days, self._pcp(), svcs, "deny", denial=denial)
            self._statement(pb, self._stmt_date(5, 60), [office(medicare=medicare), denied])
        elif scenario == "partially_paid_claim":
            denial = PARTIAL_DENIALS[self.partial_turn % len(PARTIAL_DENIALS)]
            self.partial_turn += 1
            pb.coverages.append(self._coverage(rng.choice(ref.COPAY_PLANS)))
            enc = _Enc(adjudicated, self._pcp(), self._procedure(False), "partial", denial=denial)
            self._statement(pb, self._stmt_date(5, 150), [enc])
        elif scenario == "already_paid":
            pb.coverages.append(self._coverage(rng.choice(ref.PPO_PLANS + ref.HDHP_PLANS)))
            self._statement(pb, self._stmt_date(12, 45), [office()], pay=1.0, pay_after=True)
        elif scenario == "credit_balance":
            pb.coverages.append(self._coverage(rng.choice(ref.PPO_PLANS)))
            over = rng.choice((1.25, 1.5, 2.0))
            self._statement(pb, self._stmt_date(10, 150), [office()], pay=over)
        elif scenario in ("active_plan", "plan_defaulted"):
            pb.coverages.append(self._coverage(rng.choice(ref.HDHP_PLANS)))
            side = rng.choice(("RT", "LT"))
            svcs = [*self._em(False)[:1], _Svc("73721", (side,))]
            lo, hi = (60, 200) if scenario == "active_plan" else (130, 230)
            st = self._statement(pb, self._stmt_date(lo, hi), [_Enc(adjudicated, self._pcp(), svcs)])
            self._plan(pb, st, defaulted=scenario == "plan_defaulted")
        elif scenario == "balance_over_5000":
            day = self._stmt_date(5, 120)
            if rng.random() < 0.35:
                pb.age = self._between(25, 64)
            else:
                design = rng.choice(ref.HDHP_PLANS)
                cov = self._coverage(design)
                cov.deductible = self._between(600000, 700000, 5000)
                cov.deductible_met = 0
                cov.oop_max = cov.deductible + 150000
                cov.oop_met = 0
                pb.coverages.append(cov)
            side = rng.choice(("RT", "LT"))
            ortho = rng.choice(ref.ORTHOPEDICS)
            mri = _Enc(self._between(50, 70), ortho, [_Svc("99204"), _Svc("73721", (side,))])
            surgery = _Enc(self._between(25, 40), ortho, [_Svc("29881", (side,)), _Svc("A4550")])
            self._statement(pb, day, [mri, surgery])
        elif scenario == "multiple_open_statements":
            medicare = rng.random() < 0.25
            if medicare:
                pb.age = self._between(66, 89)
            plans = (ref.MEDICARE,) if medicare else ref.PPO_PLANS + ref.HDHP_PLANS
            pb.coverages.append(self._coverage(rng.choice(plans)))
            count = rng.choice((2, 2, 3))
            for k in range(count):
                day = self._stmt_date(5 + 70 * (count - 1 - k), 40 + 70 * (count - 1 - k))
                self._statement(pb, day, [office(medicare=medicare)], pay=rng.choice((0.0, 0.0, 0.3)))
        elif scenario == "self_pay":
            visit = rng.choice((self._office, self._procedure, self._imaging))(False)
            paid = rng.choice((0.0, 0.0, 0.25))
            self._statement(pb, self._stmt_date(5, 180), [_Enc(adjudicated, self._pcp(), visit)], pay=paid)
        elif scenario == "secondary_pending":
            pb.age = self._between(66, 89)
            primary = self._coverage(ref.MEDICARE)
            # most of the Part B deductible is met elsewhere: the patient owes the rest of it and
            # Medicare's coinsurance is what the supplement has yet to pay
            primary.deductible_met = primary.deductible - self._between(2000, 5000, 100)
            payer, plan_type = rng.choice(ref.MEDIGAP)
            medigap = ref.PlanDesign(payer, plan_type, 1000, (0, 0), 0, (0, 0), (0, 0))
            secondary = self._coverage(medigap)
            secondary.rank = CoverageRank.SECONDARY
            pb.coverages += [primary, secondary]
            visit = rng.choice((self._imaging, self._procedure))(True)
            enc = _Enc(self._between(20, 35), self._pcp(), visit, "secondary")
            self._statement(pb, self._stmt_date(2, 30), [enc], secondary=secondary)
        else:  # pragma: no cover - FINANCIAL_SCENARIOS is closed
            raise ValueError(f"unknown scenario {scenario}")

    def _plan(self, pb: _PatientBook, st: Statement, *, defaulted: bool) -> None:
        rng = self.rng
        total = st.balance_cents
        created = st.statement_date + timedelta(days=self._between(7, 20))
        down = _pct(total, rng.choice((0, 0, 10, 20)))
        due_dates: list[date] = []
        k = 1
        while _add_months(created, k) < self.today:
            due_dates.append(_add_months(created, k))
            k += 1
        past = len(due_dates)
        months = max(past + self._between(1, 6), 3) if not defaulted else past + self._between(1, 4)
        base = (total - down) // months
        amounts = [base] * (months - 1) + [total - down - base * (months - 1)]
        installments: list[Installment] = []
        payments = list(st.payments)
        if down:
            installments.append(
                Installment(sequence=0, due_date=created, amount_cents=down, status=InstallmentStatus.PAID)
            )
            payments.append(self._payment(pb, st.id, down, created, PaymentSource.PORTAL, PaymentMethod.CARD))
        missed_from = past - self._between(1, min(2, past - 1)) if defaulted else past
        for seq, amount in enumerate(amounts, start=1):
            due = _add_months(created, seq)
            if seq <= missed_from and due < self.today:
                status = InstallmentStatus.PAID
                payments.append(
                    self._payment(pb, st.id, amount, due, PaymentSource.PLAN_INSTALLMENT, PaymentMethod.ACH)
                )
            elif due < self.today:
                status = InstallmentStatus.MISSED
            else:
                status = InstallmentStatus.SCHEDULED
            installments.append(Installment(sequence=seq, due_date=due, amount_cents=amount, status=status))
        pb.statements.remove(st)
        self._finish(pb, st.id, st.statement_date, list(st.line_items), payments)
        plan_id = self._id("plan", 5)
        pb.plans.append(
            PaymentPlan(
                id=plan_id,
                patient_id=pb.patient_id,
                statement_ids=(st.id,),
                total_cents=total,
                down_payment_cents=down,
                months=months,
                installment_cents=base,
                installments=tuple(installments),
                status=PlanStatus.DEFAULTED if defaulted else PlanStatus.ACTIVE,
                approver="j.alvarez (billing manager)" if total > 300_000 else None,
                created_at=self._at(created),
                idempotency_key=f"demo:{plan_id}",
            )
        )
