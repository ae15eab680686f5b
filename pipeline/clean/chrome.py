"""Line rules: chrome that extraction left behind, removed line by line on every page.

Lines that are chrome wherever they appear (comment forms, share and skip links,
"previous article", newsletter prompts, error-page leftovers), blocks of
related-article links after a marker line, inline watermarks ("© www.site.news"),
captions and credits, date lines and repeats of the title. Every rule is general: no
site, phrase or URL of any data set is named. Text scrapes get their structural rules
first (`pipeline.clean.text`); `docs/cleaning.md` lists the rules with their reasons.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipeline.clean.dates import is_date_line, normalise_date
from pipeline.clean.lines import bare, is_short, line_key, same_headline
from pipeline.config import CleanConfig

_DOMAIN = r"(?:https?://)?(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b/?"
# "© www.site.news" or "(c) site.com" standing inside a sentence.
INLINE_WATERMARK = re.compile(rf"\s*(?:©|\(c\)|copyright)\s*{_DOMAIN}", re.IGNORECASE)

# Whole lines that are chrome wherever they appear (matched case-insensitively on the
# line with surrounding punctuation and spaces removed).
CHROME_LINES = [
    r"skip to (?:the )?(?:main )?(?:content|navigation|main)",
    r"please enter your (?:comment|name|e-?mail)(?: address)?(?: here)?",
    r"you have entered an incorrect (?:e-?mail|name).{0,30}",
    r"(?:leave|post|add|write) a (?:comment|reply)|comments?|no comments|\d+ comments?",
    r"(?:author:?\s*)?(?:no comments\s*)?share(?: this)?(?: article| story| post)?(?: on [\w ]+)?:?"
    r"(?:\s+(?:facebook|twitter|x|whatsapp|email|linkedin|pinterest|reddit|telegram|print|copy link))*",
    r"(?:like this (?:story|article)\W+)?share it with a friend",
    r"(?:previous|next|prev)(?: article| post| story)?",
    r"advertis(?:ement|ing)|sponsored(?: content)?|ad",
    r"page not found|(?:error )?404(?: not found)?|the (?:content|page) you requested .{0,60}",
    r"(?:sign up|subscribe)(?: now)?(?: for| to)? (?:our |the )?.{0,40}newsletter.*|.{0,30}newsletter.{0,60}",
    r"get the latest .{0,40} (?:in|to) your inbox",
    r".{0,60}download (?:the|our) .{0,40}app.*|get the .{0,30} app|click here to get the .{0,30} app",
    r"(?:follow|like) us on .{0,60}",
    r"(?:all )?news articles on .{0,30}",
    r"trends? 24h|latest(?: news)?|trending(?: now)?|most (?:read|popular|viewed)|top stories|more headlines",
    r"icons?(?::.{0,40})?",
    r"(?:\[\s*)?source link(?:\s*\])?|source: \S+(?: \S+)?",
    r"to the full article|read (?:the )?full (?:article|story)",
    r"(?:privacy policy|terms of (?:use|service)|cookie (?:policy|settings)|contact us)(?: \| .{0,40})*",
    r"(?:©|\(c\)|copyright).{0,80}",
    r".{0,40}all rights reserved\W*(?:(?:privacy|terms|cookie|contact).{0,80})?",
    r"powered by.{0,40}|wp2social.{0,40}",
    r"close|menu|search|home|log ?in|sign ?in|register|accept(?: cookies)?",
    r"we use cookies.{0,200}",
    r"(?:see|read) (?:also|more).{0,80}",
    r"an error has occurred.{0,40}|this article has been sent to.{0,40}",
]
CHROME_LINE = re.compile("|".join(f"(?:{p})" for p in CHROME_LINES), re.IGNORECASE)

# A marker line after which the next short lines are links to other articles.
RELATED_MARKER = re.compile(
    r"(?:you (?:may|might) (?:also )?like|related(?: articles| stories| posts| news| content)?|"
    r"similar (?:news|articles|stories)|more (?:on|from) .{0,40}|recommended(?: for you)?|"
    r"previous(?: article)?|next(?: article)?|(?:read|see) (?:also|more)|most read|tags?|"
    r"(?:photo|image|picture|video)s?(?: credits?)?|don'?t miss|more headlines|trending(?: now)?|"
    r"latest(?: news)?|trends? 24h|top stories)",
    re.IGNORECASE,
)
# Markers that head lists of other stories even on structured pages, where "tags",
# "photos" or "next" may equally head content.
TEASER_HEADING = re.compile(
    r"(?:you (?:may|might) (?:also )?like|related (?:articles|stories|posts|news|content)|more headlines|"
    r"recommended(?: for you)?|most read|trending(?: now)?|latest news|top stories|more (?:on|from) .{0,40})",
    re.IGNORECASE,
)
# A teaser that names itself: "READ MORE: <headline>", "Related: <headline>".
TEASER_PREFIX = re.compile(
    r"^\W*(?:read more|see more|more|related|also|also on \S+|see also|read also|watch|don'?t miss)\s*:",
    re.IGNORECASE,
)
LIST_BULLET = re.compile(r"^(?:[•·*▪►–-]|\d+[.)])\s+")
CAPTION_CREDIT = re.compile(r"©\s*[^©.!?]{2,60}$")
CREDIT_LINE = re.compile(r"(?:photo|image|picture|video|credit)s?(?: credits?)?\s*[:/].{0,60}", re.IGNORECASE)


@dataclass
class LineResult:
    lines: list[str]
    removed: Counter = field(default_factory=Counter)
    date: str | None = None  # the first date line of a text scrape (its publication time)


def page_rules(
    lines: Iterable[str], title: str | None, config: CleanConfig, structured: bool = True
) -> LineResult:
    """Apply the line rules to one page's lines.

    `structured` pages (HTML, already through the block rules) skip the rules that
    guess structure from plain lines (bullet menus, repeated lines, related-link blocks
    after all but unambiguous markers), which there would cut real lists and short
    paragraphs.
    """
    result = LineResult([])
    seen: set[str] = set()
    title_key = line_key(title or "")
    in_related_block = False
    for raw in lines:
        line = " ".join(raw.split())
        if not line:
            continue
        lowered = line.lower()
        marked = "©" in line or "(c)" in lowered or "copyright" in lowered
        without_mark = INLINE_WATERMARK.sub("", line).strip() if marked else line
        if without_mark != line:
            result.removed["watermark"] += 1
            line = without_mark
        stripped = bare(line)
        key = line_key(line)
        if in_related_block:
            if LIST_BULLET.match(line) or is_short(line, config.related_link_max_words):
                result.removed["related_links"] += 1
                continue
            in_related_block = False
        if RELATED_MARKER.fullmatch(stripped) and (not structured or TEASER_HEADING.fullmatch(stripped)):
            result.removed["related_links"] += 1
            in_related_block = True
            continue
        if not key or CHROME_LINE.fullmatch(stripped):
            result.removed["chrome"] += 1
            continue
        if not structured and LIST_BULLET.match(line) and len(key.split()) <= config.menu_max_words:
            result.removed["navigation"] += 1  # breadcrumbs, menus and tag lists
            continue
        if (key in seen and not structured) or same_headline(key, title_key, config.headline_min_overlap):
            result.removed["repeat"] += 1  # structured pages repeat lines on purpose (refrains, recipes)
            continue
        if is_date_line(stripped):
            result.removed["date_line"] += 1
            result.date = result.date or normalise_date(stripped)
            continue
        credited = CAPTION_CREDIT.search(line) and len(line.split()) <= config.caption_max_words
        if credited or CREDIT_LINE.fullmatch(stripped):
            result.removed["caption"] += 1
            if result.lines and line.startswith(result.lines[-1]):
                result.lines.pop()  # the same caption without its credit, just above
            continue
        seen.add(key)
        result.lines.append(line)
    return result
