"""Step 2: a period or date_range, in the request's time zone, → an exact [start, end) in UTC;
the previous period for comparisons; and the time buckets a range spans.

Time buckets are identified by numbers that sort in time order and that the SQL computes with
ClickHouse's own time-zone rules (see compile.py): hour → YYYYMMDDhh, date → YYYYMMDD,
week → YYYYMMDD of its Monday, month → YYYYMM, all in local wall time. Two UTC hours that
share a wall-clock label (the repeated hour of a DST fall-back) therefore share one bucket.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from engine.query.errors import QueryError
from engine.query.fields import MAX_BUCKETS

UTC = dt.UTC
N_DAYS = {"7d": 7, "14d": 14, "30d": 30, "90d": 90}
REALTIME = dt.timedelta(minutes=30)
MIN_YEAR, MAX_YEAR = 1971, 2199


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The first instant of `day` in `tz`, as UTC (a midnight that a DST gap skips resolves to
    the first wall time that exists, because zoneinfo reads a missing time with the old offset)."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(UTC)


def local_date(instant: dt.datetime, tz: ZoneInfo) -> dt.date:
    return instant.astimezone(tz).date()


def shift_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


def _shift_wall(instant: dt.datetime, tz: ZoneInfo, days: int = 0, months: int = 0) -> dt.datetime:
    wall = instant.astimezone(tz).replace(tzinfo=None)
    day = shift_months(wall.date(), -months) - dt.timedelta(days=days)
    return dt.datetime.combine(day, wall.time(), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class DateRange:
    """[start, end) as aware UTC datetimes, and how to step back one period of equal length:
    `unit` is "days" or "months" (calendar steps in the request time zone, so a period that
    spans a DST change compares with whole local days) or "exact" (a fixed duration)."""

    start: dt.datetime
    end: dt.datetime
    timezone: str
    unit: str
    amount: int | dt.timedelta
    # The local dates when start / end fall on local midnights (else None).
    start_day: dt.date | None = None
    end_day: dt.date | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def previous(self) -> DateRange:
        tz = self.tz
        if self.unit == "exact":
            assert isinstance(self.amount, dt.timedelta)
            return DateRange(self.start - self.amount, self.start, self.timezone, "exact", self.amount)
        assert isinstance(self.amount, int)
        days = self.amount if self.unit == "days" else 0
        months = self.amount if self.unit == "months" else 0

        def back(instant: dt.datetime, day: dt.date | None) -> tuple[dt.datetime, dt.date | None]:
            if day is None:
                return _shift_wall(instant, tz, days, months), None
            new_day = shift_months(day, -months) - dt.timedelta(days=days)
            return local_midnight(new_day, tz), new_day

        start, start_day = back(self.start, self.start_day)
        end, end_day = back(self.end, self.end_day)
        end = min(end, self.start)
        return DateRange(start, end, self.timezone, self.unit, self.amount, start_day, end_day)

    def as_json(self) -> dict[str, str]:
        tz = self.tz

        def edge(instant: dt.datetime) -> str:
            # Milliseconds when the edge has them (a datetime range), else whole seconds.
            spec = "milliseconds" if instant.microsecond else "seconds"
            return instant.astimezone(tz).isoformat(timespec=spec)

        return {"start": edge(self.start), "end": edge(self.end)}


def parse_instant(text: str, tz: ZoneInfo, field_name: str) -> tuple[dt.datetime, dt.date | None]:
    """A date (local midnight) or an ISO 8601 datetime (with an offset, or local wall time)."""
    value = text.strip()
    day: dt.date | None = None
    moment: dt.datetime | None = None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
        else:
            moment = dt.datetime.fromisoformat(value)
    except ValueError:
        day = moment = None
    if day is None and moment is None:
        raise QueryError(field_name, "must be a date (YYYY-MM-DD) or an ISO 8601 datetime "
                                     "(e.g. 2026-03-01T12:00:00+01:00)")
    year = day.year if day is not None else moment.year
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise QueryError(field_name, f"must be between {MIN_YEAR} and {MAX_YEAR}")
    if day is not None:
        return local_midnight(day, tz), day
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    moment = moment.astimezone(UTC)
    local = moment.astimezone(tz)
    return moment, (local.date() if local.time() == dt.time(0) else None)


def resolve_range(
    period: str | None,
    date_range: tuple[str, str] | None,
    timezone: str,
    now: dt.datetime,
    first_event: dt.datetime | None = None,
) -> DateRange:
    """`now` is an aware datetime (the frozen clock in tests). `first_event` is the site's
    first event time, needed only for period "all"."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    tz = ZoneInfo(timezone)
    now = now.astimezone(UTC)
    today = local_date(now, tz)
    if date_range is not None:
        start, start_day = parse_instant(date_range[0], tz, "date_range.start")
        end, end_day = parse_instant(date_range[1], tz, "date_range.end")
        if end <= start:
            raise QueryError("date_range.end", "must be after date_range.start (end is exclusive)")
        if start_day is not None and end_day is not None:
            return DateRange(start, end, timezone, "days", (end_day - start_day).days,
                             start_day, end_day)
        return DateRange(start, end, timezone, "exact", end - start)
    if period == "realtime":
        return DateRange(now - REALTIME, now, timezone, "exact", REALTIME)
    if period == "today":
        return DateRange(local_midnight(today, tz), now, timezone, "days", 1, today)
    if period == "yesterday":
        day = today - dt.timedelta(days=1)
        return DateRange(local_midnight(day, tz), local_midnight(today, tz), timezone, "days", 1,
                         day, today)
    if period in N_DAYS:
        n = N_DAYS[period]
        day = today - dt.timedelta(days=n - 1)
        return DateRange(local_midnight(day, tz), now, timezone, "days", n, day)
    if period == "12m":
        day = shift_months(today.replace(day=1), -11)
        return DateRange(local_midnight(day, tz), now, timezone, "months", 12, day)
    if period == "all":
        day = local_date(first_event, tz) if first_event is not None else today
        day = min(day, today)
        return DateRange(local_midnight(day, tz), now, timezone, "days", (today - day).days + 1, day)
    raise QueryError("period", f"unknown period {period!r}")


# --- time buckets ---------------------------------------------------------------------------

def bucket_key(instant: dt.datetime, dimension: str, tz: ZoneInfo) -> int:
    """The same number the SQL computes for an instant (see compile.time_key_sql)."""
    local = instant.astimezone(tz)
    if dimension == "hour":
        return ((local.year * 100 + local.month) * 100 + local.day) * 100 + local.hour
    if dimension == "date":
        return (local.year * 100 + local.month) * 100 + local.day
    if dimension == "week":
        monday = local.date() - dt.timedelta(days=local.weekday())
        return (monday.year * 100 + monday.month) * 100 + monday.day
    if dimension == "month":
        return local.year * 100 + local.month
    raise ValueError(dimension)


def bucket_label(key: int, dimension: str) -> str:
    if dimension == "hour":
        return f"{key // 1000000:04d}-{key // 10000 % 100:02d}-{key // 100 % 100:02d} {key % 100:02d}:00"
    if dimension in ("date", "week"):
        return f"{key // 10000:04d}-{key // 100 % 100:02d}-{key % 100:02d}"
    if dimension == "month":
        return f"{key // 100:04d}-{key % 100:02d}"
    raise ValueError(dimension)


_SPAN = {"hour": dt.timedelta(hours=1), "date": dt.timedelta(days=1),
         "week": dt.timedelta(days=7), "month": dt.timedelta(days=28)}


def buckets(rng: DateRange, dimension: str) -> list[int]:
    """Every bucket key the range touches, oldest first (empty range → no buckets)."""
    if rng.end <= rng.start:
        return []
    estimate = (rng.end - rng.start) / _SPAN[dimension]
    if estimate > MAX_BUCKETS:
        raise QueryError("dimensions", f"{dimension} buckets over this range would be about "
                                       f"{int(estimate)} rows (at most {MAX_BUCKETS}); use a coarser "
                                       "time dimension or a shorter range")
    tz = rng.tz
    keys: list[int] = []
    if dimension == "hour":
        # Local hours start on UTC quarter hours in every zone, so quarter-hour steps see them all.
        step = dt.timedelta(minutes=15)
        t = rng.start.replace(minute=rng.start.minute - rng.start.minute % 15, second=0, microsecond=0)
        while t < rng.end:
            key = bucket_key(t, "hour", tz)
            if not keys or keys[-1] != key:
                if key not in keys[-8:]:
                    keys.append(key)
            t += step
        return keys
    first = local_date(rng.start, tz)
    last = local_date(rng.end - dt.timedelta(microseconds=1), tz)
    day = first
    while day <= last:
        if dimension == "date":
            key = (day.year * 100 + day.month) * 100 + day.day
        elif dimension == "week":
            monday = day - dt.timedelta(days=day.weekday())
            key = (monday.year * 100 + monday.month) * 100 + monday.day
        else:
            key = day.year * 100 + day.month
        if not keys or keys[-1] != key:
            keys.append(key)
        day += dt.timedelta(days=1)
    return keys
