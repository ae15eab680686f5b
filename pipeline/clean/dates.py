"""Dates written as text: date-only lines, and any common spelling of a date or time as ISO 8601.

Shared by the metadata readers (declared times, a time in a byline) and the line rules
(a date line is removed, and on a text scrape it is the publication time), which is why
it stands apart from `metadata`: the line rules also run where trafilatura is never needed.
"""

from __future__ import annotations

import re
from datetime import datetime

from pipeline.records import utc_iso

# A line that is only a date, with an optional weekday, time and "updated" time.
_MONTH_DAY = r"\d{1,2}\.? \w+\.? \d{4}|\w+\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}"
DATE_LINE = re.compile(
    rf"(?:(?:published|posted|updated|date)\s*:?\s*)?(?:\w+,? )?"
    rf"(?:\d{{4}}-\d\d-\d\d(?:[t ][\d:.]+(?:z|[+-]\d\d:?\d\d)?)?|"
    rf"\d{{1,2}}[./]\d{{1,2}}[./]\d{{4}}|{_MONTH_DAY})"
    r"(?:,? (?:at )?\d{1,2}[:.]\d\d(?::\d\d)?(?: ?[ap]\.?m\.?)?(?: ?[a-z]{2,4})?)?"
    r"(?:,? updated:? ?\d{1,2}[:.]\d\d)?",
    re.IGNORECASE,
)

# Day-first and month-first English dates without a zone, tried before dateparser (C locale names).
COMMON_DATE_LAYOUTS = tuple(
    f"{weekday}{day}{clock}"
    for weekday in ("", "%A, ")
    for day in ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y")
    for clock in ("", " %H:%M", ", %H:%M", " %I:%M %p", ", %I:%M %p")
)
ORDINAL_SUFFIX = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b")

DATEPARSER_SETTINGS = {"STRICT_PARSING": True, "PREFER_DAY_OF_MONTH": "first"}
TIME_OF_DAY = re.compile(r"\d{1,2}[:.]\d\d|\d\s?[ap]\.?m\b", re.IGNORECASE)


def is_date_line(line: str) -> bool:
    """True when a line says nothing but a date (a dateline, a byline's time stamp)."""
    return len(line) <= 80 and DATE_LINE.fullmatch(line.strip()) is not None


def normalise_date(value: str) -> str | None:
    """ISO 8601 for a date or time written in any common way, or None if it is not one."""
    value = value.strip()
    if not value or len(value) > 80:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        has_time = "T" in value or " " in value.strip()
    except ValueError:
        moment, has_time = _parse_free_text(value), bool(TIME_OF_DAY.search(value))
    if moment is None or not 1990 <= moment.year <= 2100:
        return None
    if moment.tzinfo is not None:
        return utc_iso(moment)
    if not has_time:
        return moment.date().isoformat()
    return moment.isoformat(timespec="seconds")


def _parse_common(value: str) -> datetime | None:
    """The usual English spellings ("May 1, 2020 10:12"), read without dateparser's cost."""
    value = ORDINAL_SUFFIX.sub(r"\1", value)
    for layout in COMMON_DATE_LAYOUTS:
        try:
            return datetime.strptime(value, layout)
        except ValueError:
            continue
    return None


def _parse_free_text(value: str) -> datetime | None:
    cleaned = re.sub(r"^(?:published|posted|updated|date)\s*:?\s*", "", value, flags=re.IGNORECASE)
    cleaned = re.sub(r",? updated:?.*$", "", cleaned, flags=re.IGNORECASE)
    if common := _parse_common(cleaned):
        return common
    import dateparser  # slow to import and to run, and only needed for the other spellings

    # English first: guessing the language is ten times slower, and most dates need none.
    return dateparser.parse(cleaned, languages=["en"], settings=DATEPARSER_SETTINGS) or dateparser.parse(
        cleaned, settings=DATEPARSER_SETTINGS
    )


def load_date_parser() -> None:
    """Import dateparser and load its English data now, instead of on the first date it reads."""
    import dateparser

    dateparser.parse("1 May 2020", languages=["en"], settings=DATEPARSER_SETTINGS)


def date_from_line(line: str) -> str | None:
    """The time a date-only line gives, or None when the line is not one."""
    return normalise_date(line) if is_date_line(line) else None
