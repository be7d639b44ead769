"""The outreach section of the practice's policy (``outreach:`` in ``default_policy.yaml``).

Segments, thresholds, cadence, caps and wording keys are all data; ``guardrails.outreach`` decides from
them. Validated at start-up with the rest of the policy: a cap above the legal ceiling, a send window
wider than 08:00–21:00, a segment list without a catch-all or a wording key without a template are
refused with the field named.
"""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from guardrails.hours import HourMinute

Step = Literal["pay_link", "plan_offer", "follow_up"]
Tone = Literal["standard", "firm"]
OutreachChannel = Literal["sms", "email"]

# The law's outer bounds (TCPA: no calls or texts before 8 a.m. or after 9 p.m. at the called party's
# location; Regulation F presumes more than 7 attempts in 7 days is harassment).
EARLIEST = time(8, 0)
LATEST = time(21, 0)
LEGAL_CAP_PER_7_DAYS = 7


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class SendWindow(_Strict):
    """Hours a message may be sent, in the recipient's local time: ``start <= t < end``."""

    start: HourMinute
    end: HourMinute

    @model_validator(mode="after")
    def _within_the_law(self) -> SendWindow:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        if self.start < EARLIEST or self.end > LATEST:
            raise ValueError("the send window must lie within 08:00-21:00 (the recipient's local time)")
        return self


class Pilot(_Strict):
    """The cohort outreach runs for; ``None`` in a field means no limit on it."""

    max_balance_cents: int | None = Field(default=None, gt=0)
    self_pay_only: bool = False


class Segment(_Strict):
    """Accounts up to ``max_balance_cents`` whose payment history is at least this good. A history
    criterion applies only to an account that has one (a first statement is judged by its balance)."""

    name: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    max_balance_cents: int | None = Field(default=None, gt=0)
    min_on_time_share: float | None = Field(default=None, ge=0.0, le=1.0)
    max_typical_days_to_pay: int | None = Field(default=None, ge=0)
    max_plan_defaults: int | None = Field(default=None, ge=0)
    first_step: Literal["pay_link", "plan_offer"]
    offer_months: int | None = Field(default=None, ge=1, le=120)  # the plan offered, nearest allowed

    @model_validator(mode="after")
    def _offer_needs_months(self) -> Segment:
        if self.first_step == "plan_offer" and self.offer_months is None:
            raise ValueError(f"segment {self.name}: a plan_offer segment needs offer_months")
        return self


class Wording(_Strict):
    """Template keys of one step: the standard wording and the firmer one past ``firm_after_days``."""

    standard: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    firm: str = Field(pattern=r"^[a-z0-9_]{1,40}$")


class OutreachPolicy(_Strict):
    enabled: bool = True
    channels: list[OutreachChannel] = Field(min_length=1)
    send_window: SendWindow
    contact_cap_per_7_days: int = Field(ge=1, le=LEGAL_CAP_PER_7_DAYS)
    min_balance_cents: int = Field(ge=1)
    first_contact_after_days: int = Field(ge=0, le=365)
    follow_up_after_days: int = Field(ge=1, le=365)
    digital_attempts_before_call: int = Field(ge=1, le=10)
    firm_after_days: int = Field(ge=1)
    # Email first for balances of at least this much (a long message with the plan's terms reads better
    # than a text); ``None``: the order of ``channels`` alone decides.
    email_first_min_balance_cents: int | None = Field(default=None, ge=1)
    # The channel of follow-ups after an unanswered contact: ``same`` keeps the first contact's channel,
    # ``email``/``sms`` switch to it when the patient may be reached on it.
    follow_up_channel: Literal["same", "email", "sms"] = "same"
    pilot: Pilot = Pilot()
    segments: list[Segment] = Field(min_length=1)
    wording: dict[Step, Wording]

    @model_validator(mode="after")
    def _coherent(self) -> OutreachPolicy:
        last = self.segments[-1]
        catch_all = (
            last.max_balance_cents is None
            and last.min_on_time_share is None
            and last.max_typical_days_to_pay is None
            and last.max_plan_defaults is None
        )
        if not catch_all:
            raise ValueError("segments: the last segment must match every account (no limits)")
        names = [s.name for s in self.segments]
        if len(set(names)) != len(names):
            raise ValueError("segments: names must be unique")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels: each channel once")
        if self.email_first_min_balance_cents is not None and "email" not in self.channels:
            raise ValueError("email_first_min_balance_cents needs email in channels")
        if self.follow_up_channel != "same" and self.follow_up_channel not in self.channels:
            raise ValueError(f"follow_up_channel {self.follow_up_channel} is not one of channels")
        missing = {"pay_link", "plan_offer", "follow_up"} - set(self.wording)
        if missing:
            raise ValueError(f"wording: no template keys for {', '.join(sorted(missing))}")
        return self

    def template_keys(self) -> frozenset[str]:
        return frozenset(k for w in self.wording.values() for k in (w.standard, w.firm))
