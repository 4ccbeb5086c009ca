"""The event record and its spool encoding (the bytes a flush hands to the engine)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson

from engine.errors import FieldError
from engine.ingest.rows import EVENT_COLUMNS, SESSION_ATTRS, EventRow, decode_row, encode_row, insert_payload


def _row(**overrides) -> EventRow:
    values = dict.fromkeys(EventRow._fields, "")
    values.update(
        site_id=7, timestamp=dt.datetime(2026, 3, 1, 12, 0, 0, 123000, dt.UTC), event_id=2**64 - 1,
        type="pageview", user_id=11, session_id=2**53 - 1,
        session_start=dt.datetime(2026, 3, 1, 11, 59, 0, 5000, dt.UTC), page_visit_id=3,
        scroll_depth=None, engaged_ms=None, engaged_delta_ms=0, revenue_amount=Decimal("12.345678"),
        revenue_currency="EUR", meta_key=["plan"], meta_value=["pro"],
    )
    values.update(overrides)
    return EventRow(**values)


def test_columns_follow_the_record():
    assert len(EVENT_COLUMNS) == len(EventRow._fields) == 37
    assert EVENT_COLUMNS[-2:] == ("meta.key", "meta.value")
    assert EVENT_COLUMNS[12:30] == SESSION_ATTRS


def test_spool_line_is_exact_json_compact_each_row():
    row = _row()
    line = encode_row(row)
    values = orjson.loads(line)
    assert line.endswith(b"\n") and len(values) == 37
    # times as exact unix-seconds text (no float rounding), decimals as text
    assert values[1] == "1772366400.123" and values[7] == "1772366340.005"
    assert values[EVENT_COLUMNS.index("revenue_amount")] == "12.345678"
    assert decode_row(line) == row


def test_lines_spooled_before_the_format_change_are_re_encoded():
    row = _row()
    legacy = list(row)
    legacy[1] = round(row.timestamp.timestamp() * 1000)
    legacy[7] = round(row.session_start.timestamp() * 1000)
    legacy[EVENT_COLUMNS.index("revenue_amount")] = str(row.revenue_amount)
    old_line = orjson.dumps(legacy) + b"\n"
    new_line = encode_row(_row(event_id=5))
    assert insert_payload([old_line, new_line]) == encode_row(row) + new_line
    assert insert_payload([new_line, new_line]) == new_line + new_line


def test_one_field_error_type_everywhere():
    from engine.ingest.validate import InvalidEvent
    from engine.query.errors import QueryError
    from engine.registry import RegistryError

    assert InvalidEvent is QueryError is RegistryError is FieldError
    err = FieldError("url", "is required")
    assert (str(err), err.status) == ("url: is required", 400)
