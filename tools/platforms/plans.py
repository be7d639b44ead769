"""Payment plans kept in the service's own table, for platforms that have no payment-plan object
(DrChrono). The rules are the ledger's: the same validation, one open plan per patient, the same
transitions, idempotency by key. The adapter checks the statements exist on the platform and records
the plan in the platform's communication log.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Boolean, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from tools.db import Base, UTCDateTime
from tools.errors import ActivePlanExists, InvalidTransition, PlanNotFound
from tools.platforms.ledger.platform import OPEN_PLAN_STATUSES, PLAN_TRANSITIONS, _same_plan, _validate_plan
from tools.platforms.models import PaymentPlan, PlanRequest, PlanStatus


class PlatformPlanRow(Base):
    __tablename__ = "platform_payment_plans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(24))
    requires_approval: Mapped[bool] = mapped_column(Boolean)
    body: Mapped[str] = mapped_column(Text)  # the PaymentPlan as JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ServicePlans:
    def __init__(self, engine: AsyncEngine, platform: str, clock: Callable[[], datetime] = _utcnow) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.platform = platform
        self._now = clock

    async def list(self, patient_id: str) -> list[PaymentPlan]:
        async with self._sessions() as s:
            rows = await s.scalars(
                select(PlatformPlanRow)
                .where(PlatformPlanRow.platform == self.platform, PlatformPlanRow.patient_id == patient_id)
                .order_by(PlatformPlanRow.created_at, PlatformPlanRow.id)
            )
            return [PaymentPlan.model_validate_json(r.body) for r in rows]

    async def create(self, patient_id: str, request: PlanRequest) -> tuple[PaymentPlan, bool]:
        """The plan, and whether this call created it (False: an earlier call with this key did)."""
        async with self._sessions() as s, s.begin():
            row = await s.scalar(
                select(PlatformPlanRow).where(PlatformPlanRow.idempotency_key == request.idempotency_key)
            )
            if row is not None:
                plan = PaymentPlan.model_validate_json(row.body)
                return _same_plan(plan, row.requires_approval, patient_id, request), False
            _validate_plan(request)
            open_plan = await s.scalar(
                select(PlatformPlanRow.id).where(
                    PlatformPlanRow.platform == self.platform,
                    PlatformPlanRow.patient_id == patient_id,
                    PlatformPlanRow.status.in_(OPEN_PLAN_STATUSES),
                )
            )
            if open_plan is not None:
                raise ActivePlanExists("the patient already has an active or pending payment plan")
            now = self._now()
            plan = PaymentPlan(
                id=f"plan_{uuid.uuid4().hex}",
                patient_id=patient_id,
                statement_ids=request.statement_ids,
                total_cents=request.total_cents,
                down_payment_cents=request.down_payment_cents,
                months=request.months,
                installment_cents=request.installment_cents,
                installments=tuple(sorted(request.installments, key=lambda i: i.sequence)),
                status=PlanStatus.PENDING_APPROVAL if request.requires_approval else PlanStatus.ACTIVE,
                approver=None,
                created_at=now,
                idempotency_key=request.idempotency_key,
            )
            s.add(
                PlatformPlanRow(
                    id=plan.id,
                    platform=self.platform,
                    patient_id=patient_id,
                    idempotency_key=request.idempotency_key,
                    status=plan.status.value,
                    requires_approval=request.requires_approval,
                    body=plan.model_dump_json(),
                    created_at=now,
                    updated_at=now,
                )
            )
        return plan, True

    async def create_once(self, patient_id: str, request: PlanRequest) -> tuple[PaymentPlan, bool]:
        try:
            return await self.create(patient_id, request)
        except IntegrityError:  # a concurrent call with the same key won
            return await self.create(patient_id, request)

    async def set_status(
        self, patient_id: str, plan_id: str, status: PlanStatus, approver: str | None
    ) -> PaymentPlan:
        async with self._sessions() as s, s.begin():
            row = await s.get(PlatformPlanRow, plan_id)
            if row is None or row.patient_id != patient_id or row.platform != self.platform:
                raise PlanNotFound(f"no payment plan {plan_id}")
            plan = PaymentPlan.model_validate_json(row.body)
            if plan.status is status:
                return plan
            if status not in PLAN_TRANSITIONS[plan.status]:
                raise InvalidTransition(f"a {plan.status.value} plan cannot become {status.value}")
            if status is PlanStatus.ACTIVE:
                other = await s.scalar(
                    select(PlatformPlanRow.id).where(
                        PlatformPlanRow.platform == self.platform,
                        PlatformPlanRow.patient_id == patient_id,
                        PlatformPlanRow.id != plan_id,
                        PlatformPlanRow.status.in_(OPEN_PLAN_STATUSES),
                    )
                )
                if other is not None:
                    raise ActivePlanExists("the patient already has another active or pending payment plan")
            plan = plan.model_copy(update={"status": status, "approver": approver or plan.approver})
            row.status = status.value
            row.body = plan.model_dump_json()
            row.updated_at = self._now()
            return plan

    async def changed_since(
        self, since: datetime | None
    ) -> builtins.list[tuple[PaymentPlan, datetime, datetime]]:
        """Plans created or changed at or after ``since`` (all when ``None``), with their creation and
        last-change instants, oldest change first: the plans' part of the platform's change feed."""
        async with self._sessions() as s:
            query = select(PlatformPlanRow).where(PlatformPlanRow.platform == self.platform)
            if since is not None:
                query = query.where(PlatformPlanRow.updated_at >= since)
            rows = await s.scalars(query.order_by(PlatformPlanRow.updated_at, PlatformPlanRow.id))
            return [(PaymentPlan.model_validate_json(r.body), r.created_at, r.updated_at) for r in rows]
