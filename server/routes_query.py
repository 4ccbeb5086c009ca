"""Read endpoints: POST /api/query, /api/realtime, /api/goals and the breakdown GETs."""

from __future__ import annotations

ROUTES: list = []
