"""Issue 10 drills in the suite (scaled to stay fast; full size: `python -m loadtest.drills`,
results in loadtest/results/run2/). Each starts its own server process."""

from __future__ import annotations

from loadtest import drills


def test_drill_b_parallel_site_creation(tmp_path):
    result = drills.drill_b(str(tmp_path), n=50)
    assert result["distinct_ids"] == 50
    assert result["keys_reading_other_data"] == []


def test_drill_c_slowloris_and_oversized_headers(tmp_path):
    result = drills.drill_c(str(tmp_path), slow=30, big=4, big_mb=8)
    assert result["checks"]["oversized_refused_431"], result
    assert result["checks"]["slowloris_closed_within_timeout"], result
    assert result["rss_growth_mib"] <= 50, result
    assert result["healthy_after"]
