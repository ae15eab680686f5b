"""Plain-text scrapes: lines in, with the structure a scraper flattened read back out of them.

A scrape of a news page reads "site name / tagline / headline / date / body / footer".
Its footer (from the last copyright line on) and masthead (the lines above the headline)
go here; the headline becomes the title and the date line the publication time. The
line rules (`pipeline.clean.chrome`) then run with `structured=False`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from pipeline.clean.chrome import CHROME_LINE
from pipeline.clean.dates import is_date_line
from pipeline.clean.lines import bare, is_headline
from pipeline.config import CleanConfig

COPYRIGHT_LINE = re.compile(
    r"(?:©|\(c\)|copyright\b).{0,80}|.{0,60}all rights reserved.{0,80}", re.IGNORECASE
)


@dataclass
class Scrape:
    lines: list[str]
    title: str | None = None  # the headline found above the date line
    removed: Counter = field(default_factory=Counter)


def _footer_start(lines: list[str], config: CleanConfig) -> int:
    """Where a text scrape's footer begins: its last copyright line, when only a few lines follow."""
    for position in range(len(lines) - 1, max(-1, len(lines) - config.footer_max_lines - 2), -1):
        if COPYRIGHT_LINE.fullmatch(bare(lines[position])):
            return position
    return len(lines)


def _masthead(lines: list[str], config: CleanConfig) -> tuple[int, str | None]:
    """In "site name / tagline / headline / date": the number of lines above the headline, and it.

    The headline is the last headline-like line above the first date line; what stands
    above it is the site's masthead.
    """
    for position, line in enumerate(lines[: config.masthead_max_lines]):
        if is_date_line(bare(line)):
            candidates = [
                i
                for i in range(position)
                if is_headline(lines[i]) and not CHROME_LINE.fullmatch(bare(lines[i]))
            ]
            if candidates:
                return candidates[-1], lines[candidates[-1]]
            return 0, None
    return 0, None


def read_scrape(text: str, config: CleanConfig) -> Scrape:
    """The scrape's lines without footer and masthead, and its headline when it has one."""
    lines = [line for line in (" ".join(raw.split()) for raw in text.splitlines()) if line]
    scrape = Scrape(lines)
    footer = _footer_start(lines, config)
    if footer < len(lines):
        scrape.removed["footer"] = len(lines) - footer
        scrape.lines = lines[:footer]
    skipped, scrape.title = _masthead(scrape.lines, config)
    if scrape.title is not None:
        scrape.removed["masthead"] += skipped
        scrape.lines = scrape.lines[skipped + 1 :]
    return scrape
