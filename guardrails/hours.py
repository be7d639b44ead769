"""``"HH:MM"`` times in policy files (YAML would read an unquoted 17:00 as a number)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

from pydantic import BeforeValidator


def parse_hhmm(value: object) -> object:
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise ValueError('must be a quoted "HH:MM" string')
    try:
        return datetime.strptime(value.strip(), "%H:%M").time()
    except ValueError as exc:
        raise ValueError(f'must be "HH:MM", got {value!r}') from exc


HourMinute = Annotated[time, BeforeValidator(parse_hhmm)]
