"""Dates written as text: date-only lines, and common spellings as ISO 8601 (UTC when zoned)."""

from __future__ import annotations

import pytest

from pipeline.clean.dates import is_date_line, normalise_date


@pytest.mark.parametrize(
    ("written", "iso"),
    [
        ("2020-09-14T10:34:49.458Z", "2020-09-14T10:34:49Z"),
        ("2020-09-17T13:02:00+02:00", "2020-09-17T11:02:00Z"),
        ("2020-09-17 13:02", "2020-09-17T13:02:00"),
        ("2020-09-17", "2020-09-17"),
        ("September 17, 2020 13:02", "2020-09-17T13:02:00"),
        ("Tuesday, 11 August 2020", "2020-08-11"),
        ("no date here", None),
        ("1850-01-01", None),
    ],
)
def test_normalise_date(written: str, iso: str | None) -> None:
    assert normalise_date(written) == iso


def test_date_lines_are_only_dates() -> None:
    assert is_date_line("Published: September 17, 2020 at 1:02 pm")
    assert not is_date_line("The meeting on September 17, 2020 was cancelled by the mayor.")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("November 19, 2019, 9:02 AM", "2019-11-19T09:02:00"),
        ("Monday, November 18th, 2019", "2019-11-18"),
        ("20 Nov 2019 08:02", "2019-11-20T08:02:00"),
        ("Published: 3 March 2020, 10:12", "2020-03-03T10:12:00"),
        ("19 Nov 2019 07:09 GMT", "2019-11-19T07:09:00Z"),  # a zone: dateparser's part
    ],
)
def test_dates_written_in_words(written: str, expected: str) -> None:
    assert normalise_date(written) == expected
