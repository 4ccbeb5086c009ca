"""Sites, API keys and goals as the rest of the engine sees them (plain frozen records)."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Site:
    site_id: int
    domain: str
    timezone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class ApiKey:
    key_hash: str
    key_prefix: str
    site_id: int
    name: str
    can_read: bool
    can_track: bool


GOAL_TYPES = ("pageview", "custom", "form", "click")


@dataclass(frozen=True)
class Goal:
    goal_id: int
    site_id: int
    name: str
    type: str
    match_value: str
