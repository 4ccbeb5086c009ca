"""Periods, ranges, comparisons and time buckets as pure functions (frozen clock, no store)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.query.errors import QueryError
from engine.query.periods import bucket_label, buckets, resolve_range
from engine.query.shape import change
from tests.query_support import at

NOW = at("2026-03-25 15:30:00")  # a Wednesday


def span(period, tz="UTC", now=NOW, first=None, date_range=None):
    rng = resolve_range(period, date_range, tz, now, first)
    return rng.start, rng.end


@pytest.mark.parametrize("period, start", [
    ("realtime", "2026-03-25 15:00:00"),
    ("today", "2026-03-25 00:00:00"),
    ("7d", "2026-03-19 00:00:00"),
    ("14d", "2026-03-12 00:00:00"),
    ("30d", "2026-02-24 00:00:00"),
    ("90d", "2025-12-26 00:00:00"),
    ("12m", "2025-04-01 00:00:00"),
])
def test_periods_end_now(period, start):
    assert span(period) == (at(start), NOW)


def test_yesterday_is_a_whole_day():
    assert span("yesterday") == (at("2026-03-24 00:00:00"), at("2026-03-25 00:00:00"))


def test_all_starts_at_the_first_events_day():
    assert span("all", first=at("2025-06-15 10:20:00")) == (at("2025-06-15 00:00:00"), NOW)
    assert span("all", first=None) == (at("2026-03-25 00:00:00"), NOW)
    assert span("all", tz="America/New_York", first=at("2025-06-15 02:00:00")) == (
        at("2025-06-14 00:00:00-04:00"), NOW)


def test_periods_in_a_time_zone():
    # 15:30 UTC is 16:30 in Berlin (CET, +1) and 11:30 in New York (EDT, −4)
    assert span("today", "Europe/Berlin") == (at("2026-03-24 23:00:00"), NOW)
    assert span("yesterday", "America/New_York") == (
        at("2026-03-24 00:00:00-04:00"), at("2026-03-25 00:00:00-04:00"))
    late = at("2026-03-25 23:30:00")  # already the 26th in Berlin
    assert span("today", "Europe/Berlin", now=late) == (at("2026-03-25 23:00:00"), late)
    assert span("7d", "Asia/Kolkata") == (at("2026-03-19 00:00:00+05:30"), NOW)


def test_today_on_a_dst_day():
    now = at("2026-03-29 10:00:00")  # Berlin springs forward at 01:00 UTC
    assert span("today", "Europe/Berlin", now=now) == (at("2026-03-28 23:00:00"), now)


def test_date_range_dates_are_local_midnights_and_end_is_exclusive():
    assert span(None, "Europe/Berlin", date_range=("2026-03-01", "2026-03-31")) == (
        at("2026-02-28 23:00:00"), at("2026-03-30 22:00:00"))  # CEST from the 29th


def test_date_range_datetimes():
    assert span(None, "Europe/Berlin", date_range=("2026-03-01T10:00:00+00:00",
                                                   "2026-03-01T12:30:00")) == (
        at("2026-03-01 10:00:00"), at("2026-03-01 11:30:00"))  # naive = Berlin wall time
    assert span(None, date_range=("2026-03-01T10:00:00Z", "2026-03-02")) == (
        at("2026-03-01 10:00:00"), at("2026-03-02 00:00:00"))


@pytest.mark.parametrize("bad", [
    ("2026-03-05", "2026-03-05"), ("2026-03-06", "2026-03-05"), ("2026-13-01", "2026-14-01"),
    ("yesterday", "today"), ("2026-03-01", "03/05/2026"), ("1900-01-01", "1900-01-02"),
])
def test_bad_date_ranges(bad):
    with pytest.raises(QueryError) as err:
        resolve_range(None, bad, "UTC", NOW)
    assert err.value.field.startswith("date_range.")


@pytest.mark.parametrize("period, start, end", [
    ("realtime", "2026-03-25 14:30:00", "2026-03-25 15:00:00"),
    ("today", "2026-03-24 00:00:00", "2026-03-24 15:30:00"),
    ("yesterday", "2026-03-23 00:00:00", "2026-03-24 00:00:00"),
    ("7d", "2026-03-12 00:00:00", "2026-03-18 15:30:00"),
    ("30d", "2026-01-25 00:00:00", "2026-02-23 15:30:00"),
    ("12m", "2024-04-01 00:00:00", "2025-03-25 15:30:00"),
])
def test_previous_period(period, start, end):
    prev = resolve_range(period, None, "UTC", NOW).previous()
    assert (prev.start, prev.end) == (at(start), at(end))


def test_previous_period_of_date_ranges():
    prev = resolve_range(None, ("2026-03-10", "2026-03-13"), "UTC", NOW).previous()
    assert (prev.start, prev.end) == (at("2026-03-07 00:00:00"), at("2026-03-10 00:00:00"))
    prev = resolve_range(None, ("2026-03-10T06:00:00Z", "2026-03-10T08:00:00Z"), "UTC",
                         NOW).previous()
    assert (prev.start, prev.end) == (at("2026-03-10 04:00:00"), at("2026-03-10 06:00:00"))
    # whole local days across a DST change: the previous week is 7 local days too
    prev = resolve_range(None, ("2026-03-30", "2026-04-06"), "Europe/Berlin", NOW).previous()
    assert (prev.start, prev.end) == (at("2026-03-22 23:00:00"), at("2026-03-29 22:00:00"))
    assert prev.as_json() == {"start": "2026-03-23T00:00:00+01:00",
                              "end": "2026-03-30T00:00:00+02:00"}


def labels(date_range, dim, tz="UTC"):
    rng = resolve_range(None, date_range, tz, NOW)
    return [bucket_label(k, dim) for k in buckets(rng, dim)]


def test_hour_buckets_on_dst_days_are_local_wall_hours():
    fall = labels(("2026-10-25", "2026-10-26"), "hour", "Europe/Berlin")
    assert len(fall) == 24 and fall.count("2026-10-25 02:00") == 1  # 25 h, repeated hour once
    assert fall[0] == "2026-10-25 00:00" and fall[-1] == "2026-10-25 23:00"
    spring = labels(("2026-03-29", "2026-03-30"), "hour", "Europe/Berlin")
    assert len(spring) == 23 and "2026-03-29 02:00" not in spring
    india = labels(("2026-03-01", "2026-03-02"), "hour", "Asia/Kolkata")
    assert len(india) == 24 and india[5] == "2026-03-01 05:00"


def test_date_week_month_buckets():
    assert labels(("2026-03-30", "2026-04-02"), "date") == ["2026-03-30", "2026-03-31",
                                                           "2026-04-01"]
    # weeks start on Monday, even when that Monday is before the range start
    assert labels(("2026-03-19", "2026-03-26"), "week") == ["2026-03-16", "2026-03-23"]
    assert labels(("2026-01-31", "2026-03-02"), "month") == ["2026-01", "2026-02", "2026-03"]
    assert len(buckets(resolve_range("12m", None, "UTC", NOW), "month")) == 12


def test_too_many_buckets():
    with pytest.raises(QueryError) as err:
        labels(("1990-01-01", "2026-01-01"), "hour")
    assert err.value.field == "dimensions"


@pytest.mark.parametrize("metric, new, old, expected", [
    ("visitors", 3, 2, 50),
    ("visitors", 1, 3, -67),
    ("visitors", 9, 8, 13),       # 12.5 → 13 (half away from zero)
    ("visitors", 1, 8, -88),      # −87.5 → −88
    ("visitors", 0, 5, -100),
    ("visitors", 0, 0, 0),        # both zero
    ("visitors", 4, 0, None),     # only the old value is zero
    ("views_per_visit", 1.5, 1.0, 50),
    ("views_per_visit", 1.13, 1.0, 13),
    ("bounce_rate", 40, 50, -10),  # a point difference
    ("bounce_rate", 40, 0, 40),
    ("bounce_rate", 0, 0, 0),
])
def test_change(metric, new, old, expected):
    assert change(metric, new, old) == expected


def test_now_must_be_aware():
    with pytest.raises((ValueError, TypeError)):
        resolve_range("today", None, "UTC", dt.datetime(2026, 3, 25, 12))
