"""Keys of the store: run ids that cannot escape them, and the landing partitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pipeline.layout import BadRunId, check_run_id, landing_prefix, landing_prefixes


@pytest.mark.parametrize("run_id", ["seeds", "20261122T061500Z-3f9a", "news_ingest-20261122T0500Z", "a.b_c"])
def test_ordinary_run_ids_pass(run_id: str) -> None:
    assert check_run_id(run_id) == run_id


@pytest.mark.parametrize(
    "run_id", ["../evil", "a/b", "a\\b", "", ".hidden", "-flag", "x" * 129, "a..b", "a b", "é", "a\nb"]
)
def test_path_like_or_odd_run_ids_are_refused(run_id: str) -> None:
    with pytest.raises(BadRunId, match="is not allowed"):
        check_run_id(run_id)


def test_landing_prefix_is_the_utc_hour() -> None:
    assert landing_prefix(datetime(2026, 11, 22, 5, 59)) == "landing/dt=2026-11-22/hour=05/"  # naive is UTC
    berlin_morning = datetime(2026, 11, 22, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert landing_prefix(berlin_morning) == "landing/dt=2026-11-21/hour=23/"


def test_landing_prefixes_cover_every_hour_of_the_window() -> None:
    start = datetime(2026, 11, 21, 23, tzinfo=UTC)
    assert landing_prefixes(start, start + timedelta(hours=1)) == ["landing/dt=2026-11-21/hour=23/"]
    assert landing_prefixes(start, start + timedelta(hours=2)) == [
        "landing/dt=2026-11-21/hour=23/",
        "landing/dt=2026-11-22/hour=00/",
    ]
    assert landing_prefixes(start, start) == []
