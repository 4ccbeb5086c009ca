"""The events table's column order, and the session attributes every event of a session shares."""

from __future__ import annotations

# Acquisition and client attributes: taken from a session's first event, copied onto every event.
SESSION_ATTRS: tuple[str, ...] = (
    "referrer_url", "source", "channel",
    "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "click_id_param",
    "country", "region", "city",
    "device", "browser", "browser_version", "os", "os_version", "screen",
)

EVENT_COLUMNS: tuple[str, ...] = (
    "site_id", "timestamp", "event_id", "type", "name", "user_id", "session_id",
    "session_start", "page_visit_id", "hostname", "pathname", "url",
    *SESSION_ATTRS,
    "scroll_depth", "engaged_ms", "engaged_delta_ms", "revenue_amount", "revenue_currency",
    "meta.key", "meta.value",
)


def screen_class(width: int | None) -> str:
    """Screen widths are stored as a size class, not a raw number (coarser, and more useful)."""
    if width is None or width <= 0:
        return ""
    if width < 576:
        return "Mobile"
    if width < 992:
        return "Tablet"
    if width < 1440:
        return "Laptop"
    return "Desktop"
