"""Browser-facing routes: the tracker script, the public collect endpoint and the dashboard."""

from __future__ import annotations

ROUTES: list = []
