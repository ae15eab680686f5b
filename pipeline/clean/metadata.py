"""Article metadata: title, publication time, authors, site name, canonical URL.

Publication times matter most: deduplication keeps the earliest-published copy of a
story. Publishers declare them in several places, so the declared ones are tried in
order of trust (Open Graph / schema.org / <time>) before htmldate's guess (day only,
and only asked when the page declares nothing) and before a date line in the text.
Title, site name and declared authors come from trafilatura's readers of the <head>
and JSON-LD, with its byline search in the cleaned body only for pages that declare no
author; its other readers (categories, tags, licence) are not run. Every time comes out as ISO
8601: UTC ("...Z") when the page gave a timezone, without offset when it gave none,
and a bare day when it gave no time of day (`pipeline.clean.dates` reads them).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from copy import deepcopy
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from htmldate import find_date
from lxml import etree
from lxml import html as lxml_html
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.json_metadata import normalize_authors
from trafilatura.metadata import (
    examine_meta,
    extract_meta_json,
    extract_metainfo,
    extract_sitename,
    extract_title,
)
from url_normalize import url_normalize

from pipeline.clean.dates import TIME_OF_DAY, date_from_line, normalise_date
from pipeline.clean.xpaths import AUTHOR, AUTHOR_DISCARD

BYLINE_SEPARATOR = re.compile(r"\s[·|•]\s|\s[-–—]\s")
JSON_LD = etree.XPath('//script[@type="application/ld+json"]')
BODY_TEXT = etree.XPath("//body//text()[normalize-space()]")
META_AUTHOR = etree.XPath('//meta[@name="author"]/@content')
CANONICAL_XPATHS = (
    etree.XPath('//link[@rel="canonical"]/@href'),
    etree.XPath('//meta[@property="og:url"]/@content'),
)
TEXT_NODES_SEARCHED = 300  # a page states its own date near the top; later ones belong to teasers
# Where publishers declare the publication time, most trusted first.
DATE_XPATHS = tuple(
    etree.XPath(expression)
    for expression in (
        '//meta[@property="article:published_time"]/@content',
        '//meta[@itemprop="datePublished"]/@content',
        '//meta[@name="pubdate" or @name="publishdate" or @name="publish-date" or @name="date" '
        'or @name="DC.date.issued" or @name="dcterms.created" or @name="parsely-pub-date" '
        'or @name="sailthru.date" or @property="og:published_time"]/@content',
        '//*[@itemprop="datePublished"]/@datetime',
        "//time[@datetime][1]/@datetime",
    )
)


def _json_ld(tree: lxml_html.HtmlElement) -> Iterator[dict[str, Any]]:
    for script in JSON_LD(tree):
        try:
            data = json.loads(script.text_content())
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                yield item
                stack.extend(v for v in item.values() if isinstance(v, (list, dict)))


def _declared_times(tree: lxml_html.HtmlElement) -> Iterator[str]:
    """Publication times as the page declares them, most trusted first, each place searched when asked."""
    for xpath in DATE_XPATHS[:3]:
        yield from map(str, xpath(tree))
    yield from (str(item["datePublished"]) for item in _json_ld(tree) if item.get("datePublished"))
    for xpath in DATE_XPATHS[3:]:
        yield from map(str, xpath(tree))


def declared_time(tree: lxml_html.HtmlElement) -> str | None:
    """The first declared publication time that parses, most trusted first; less trusted places are
    searched only when the more trusted gave none (each search walks the whole page)."""
    return next((date for candidate in _declared_times(tree) if (date := normalise_date(candidate))), None)


def refined_day(tree: lxml_html.HtmlElement, day: str | None) -> str | None:
    """A guessed day, with the time of day when the page writes one on that day near its top."""
    return _time_in_text(tree, day) or day


def published_time(tree: lxml_html.HtmlElement, url: str | None = None) -> str | None:
    """The declared publication time, else htmldate's day (asked only then: it is slow), refined."""
    if declared := declared_time(tree):
        return declared
    guess = find_date(tree, url=url, extensive_search=True, original_date=True)
    return refined_day(tree, normalise_date(guess) if guess else None)


def _time_in_text(tree: lxml_html.HtmlElement, day: str | None) -> str | None:
    """A date with a time of day written near the top of the page ("By X · May 1, 2020 10:12").

    When trafilatura found only the day, a time written on that same day refines it.
    """
    for text in BODY_TEXT(tree)[:TEXT_NODES_SEARCHED]:
        for part in BYLINE_SEPARATOR.split(str(text)):
            moment = date_from_line(part.strip()) if TIME_OF_DAY.search(part) else None
            if moment and "T" in moment and (day is None or moment.startswith(day)):
                return moment
    return None


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return _names(value.get("name"))
    if isinstance(value, list):
        return [name for item in value for name in _names(item)]
    return []


def authors(tree: lxml_html.HtmlElement, extracted: str | None) -> str | None:
    """Authors as "A; B": trafilatura's reading of the declarations, else schema.org or <meta name=author>."""
    names = [name.strip() for name in (extracted or "").split(";")]
    if not any(names):
        names = [
            n
            for item in _json_ld(tree)
            if item.get("@type") != "Organization"
            for n in _names(item.get("author"))
        ]
    if not any(names):
        names = [str(v) for v in META_AUTHOR(tree)]
    unique = list(dict.fromkeys(" ".join(name.split()) for name in names if name.strip()))
    return "; ".join(unique) or None


def _comparable(url: str) -> str:
    """A URL in one spelling: host lowercased, default port, fragment and trailing slash gone."""
    parts = urlsplit(url_normalize(urldefrag(url).url))
    return parts._replace(path=parts.path.rstrip("/")).geturl()


def canonical_url(tree: lxml_html.HtmlElement, url: str) -> str | None:
    """<link rel=canonical>, else og:url, made absolute; None when it is the page's own URL."""
    for xpath in CANONICAL_XPATHS:
        for href in xpath(tree):
            try:
                absolute = urljoin(url, str(href).strip())
                own = absolute == url or _comparable(absolute) == _comparable(url)
            except ValueError:  # a malformed declaration is no declaration
                continue
            if absolute.startswith(("http://", "https://")):
                return None if own else absolute
    return None


def byline(cleaned: lxml_html.HtmlElement) -> str | None:
    """Authors named in the byline of a page that declares none (trafilatura's `extract_author`,
    with its searches guarded: `pipeline.clean.xpaths`).

    It reads every element that looks like a byline, the costliest metadata reader, so it
    is given the cleaned page (scripts, navigation and comment sections gone): half the
    work of the raw page, and commenters are not taken for the author.
    """
    subtree = prune_unwanted_nodes(deepcopy(cleaned), AUTHOR_DISCARD)
    found = extract_metainfo(subtree, AUTHOR, len_limit=120)
    found = normalize_authors(None, found) if found else None
    return authors(cleaned, found) if found else None


def html_metadata(tree: lxml_html.HtmlElement, url: str) -> dict[str, Any]:
    """Metadata of an HTML page from its parsed markup (the author only when declared: see `byline`)."""
    declared = examine_meta(tree)
    if declared.author and " " not in declared.author:  # a handle, not a name (trafilatura's rule)
        declared.author = None
    with contextlib.suppress(Exception):  # a broken JSON-LD block only loses what it declared
        declared = extract_meta_json(tree, declared)
    sitename = (declared.sitename or extract_sitename(tree) or "").lstrip("@")
    return {
        "title": declared.title or extract_title(tree),
        "author": authors(tree, declared.author),
        "published_at": published_time(tree, url),
        "sitename": sitename or None,
        "canonical_url": canonical_url(tree, url),
    }
