"""The ``Messaging`` port: outbound SMS to a patient.

Adapters (the console log, Twilio) take our own models in and out. Callers have
already checked consent, quiet hours and length (``guardrails``); an adapter only
delivers.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"


class OutboundMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    to: str = Field(pattern=E164_PATTERN, description="the patient's phone number, E.164")
    body: str = Field(min_length=1)
    thread_id: str = Field(min_length=1)


class SentMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sid: str = Field(min_length=1, description="the provider's message id (Twilio's MessageSid)")
    segments: int = Field(ge=1)


@runtime_checkable
class Messaging(Protocol):
    async def send(self, msg: OutboundMessage) -> SentMessage:
        """Deliver ``msg``; returns the provider's id and the segments it was billed as."""
        ...
