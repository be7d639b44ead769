"""Structured JSON logs that carry event names and ids, never message text or PHI.

Callers log an event name (``log.info("agent.turn.completed", extra={...})``) with ids and numbers in
``extra``. Every record that reaches the service's handler first passes :class:`PhiScrubber`, the one
scrubber of the logging chain: the PHI vault (``guardrails.phi``) replaces every identifier it finds in
the message and in each ``extra`` value with a placeholder (``[PHONE_1]``, ``[DATE_1]``,
``[MEMBER_ID_1]``…), and a value under a key that names an identifier (``name``, ``dob``, ``phone``,
``text``…) is replaced whole, since a bare name is found by no pattern. The formatter only formats;
exceptions are logged by type, never by message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from guardrails.phi import PhiVault

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

# ``extra`` keys whose values identify a person (or are free text that may), kept out whole.
PHI_KEYS: dict[str, str] = {
    "name": "NAME",
    "first_name": "NAME",
    "last_name": "NAME",
    "full_name": "NAME",
    "patient_name": "NAME",
    "dob": "DATE",
    "date_of_birth": "DATE",
    "birth_date": "DATE",
    "phone": "PHONE",
    "phone_number": "PHONE",
    "email": "EMAIL",
    "address": "ADDRESS",
    "address_line": "ADDRESS",
    "zip": "ZIP",
    "zip_code": "ZIP",
    "member_id": "MEMBER_ID",
    "ssn": "SSN",
    "text": "TEXT",
    "body": "TEXT",
    "message_text": "TEXT",
}


class PhiScrubber(logging.Filter):
    """Scrubs a record in place (message, arguments and ``extra`` values); never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        vault = PhiVault()  # one per record: its placeholders number that record's identifiers
        record.msg = vault.tokenize(record.getMessage())
        record.args = None
        for key in [k for k in record.__dict__ if k not in _RESERVED and not k.startswith("_")]:
            kind = PHI_KEYS.get(key.lower())
            value = record.__dict__[key]
            record.__dict__[key] = (
                f"[{kind}]" if kind is not None and value is not None else _clean(vault, value)
            )
        return True


def _clean(vault: PhiVault, value: Any) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        return vault.tokenize(value)
    if isinstance(value, dict):
        return {
            str(k): f"[{PHI_KEYS[str(k).lower()]}]" if str(k).lower() in PHI_KEYS else _clean(vault, v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(vault, v) for v in value]
    return vault.tokenize(str(value))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


def json_handler(stream: Any = None) -> logging.Handler:
    """A handler writing scrubbed JSON lines to ``stream`` (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(PhiScrubber())
    handler.setFormatter(JsonFormatter())
    return handler


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    root.addHandler(json_handler())
    root.setLevel(level)
