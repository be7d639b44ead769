"""The service's log lines: JSON with the event name and ids, every identifier scrubbed by the PHI vault
on the way (the one scrubber in the logging chain), whichever logger wrote the record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from api.logging import JsonFormatter, PhiScrubber, configure_logging, json_handler


@pytest.fixture
def emitted() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger("tests.phi")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(json_handler(stream))
    try:
        yield logger, stream
    finally:
        logger.handlers.clear()
        logger.propagate = True


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_with_a_name_phone_birth_date_and_member_id_comes_out_scrubbed(
    emitted: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = emitted
    logger.info(
        "sms.inbound.unmatched from %s, born %s, member id %s",
        "(617) 555-0142",
        "03/14/1985",
        "W158279401",
        extra={"patient_name": "Maria Lopez", "thread_id": "thr-42", "ms": 12.5, "note": "dob 1985-03-14"},
    )
    [entry] = _lines(stream)
    raw = stream.getvalue()
    for identifier in ("555-0142", "617", "03/14/1985", "1985-03-14", "W158279401", "Maria", "Lopez"):
        assert identifier not in raw, identifier
    assert entry["event"].startswith("sms.inbound.unmatched from [PHONE_1], born [DATE_1], member id ")
    assert "[MEMBER_ID_1]" in entry["event"]
    assert entry["patient_name"] == "[NAME]"
    assert entry["note"] == "dob [DATE_2]"  # numbered per record: another date than the first
    # What a log line is for stays: the event name, the ids and the numbers.
    assert (entry["thread_id"], entry["ms"], entry["level"], entry["logger"]) == (
        "thr-42",
        12.5,
        "info",
        "tests.phi",
    )


def test_nested_values_and_free_text_keys_are_scrubbed_and_amounts_and_codes_kept(
    emitted: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = emitted
    logger.warning(
        "payment.posted",
        extra={
            "detail": {
                "email": "maria@example.org",
                "codes": ["99213", "CO-45"],
                "call": "call 617-555-0142",
            },
            "text": "my name is Maria and I owe $120.00",
            "amount": "$120.00",
        },
    )
    [entry] = _lines(stream)
    assert entry["detail"] == {"email": "[EMAIL]", "codes": ["99213", "CO-45"], "call": "call [PHONE_1]"}
    assert entry["text"] == "[TEXT]"
    assert entry["amount"] == "$120.00"


def test_an_exception_is_logged_by_type_never_by_its_message(
    emitted: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = emitted
    try:
        raise ValueError("no patient with phone 617-555-0142")
    except ValueError:
        logger.exception("lookup.failed")
    [entry] = _lines(stream)
    assert entry["error_type"] == "ValueError"
    assert "555-0142" not in stream.getvalue()


def test_the_service_logging_scrubs_records_of_every_logger() -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    # An app built earlier in this process may have configured the service's handler already.
    before = [h for h in saved if not isinstance(h.formatter, JsonFormatter)]
    root.handlers[:] = before
    try:
        configure_logging()
        [ours] = [h for h in root.handlers if h not in before]
        assert any(isinstance(f, PhiScrubber) for f in ours.filters)
        configure_logging()  # idempotent: one handler, one scrubber
        assert len(root.handlers) == len(before) + 1
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
