"""Site templates: short lines that recur across different pages of one site are its chrome.

Learned in each run over all its pages, and remembered across runs
(`pipeline.templates` stores the evidence). A page's site is the host of its http(s)
URL or declared canonical; pages of no known site have no template. Lines are compared
by the digests of their word keys, which the workers compute once per line
(`line_digests`), so this run-level step only counts and filters.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from pipeline.clean.lines import is_headline, line_digest, line_key, same_headline
from pipeline.config import CleanConfig
from pipeline.records import Document

Templates = Mapping[str, Iterable[str]]  # site -> digests of the lines that are its chrome
SiteLines = dict[str, dict[str, int]]  # site -> line digest -> pages it was seen on


def line_digests(lines: list[str]) -> list[str]:
    """Per line, the digest of its word key ("" for a line without words)."""
    return [line_digest(key) if (key := line_key(line)) else "" for line in lines]


def _digests(doc: Document) -> list[str]:
    lines = doc.text.splitlines()
    if len(doc.line_digests) != len(lines):  # a Document not made by `clean.extract`
        doc.line_digests = line_digests(lines)
    return doc.line_digests


def site_of(url: str, canonical: str | None = None) -> str | None:
    """The publisher's host (without "www.") of a page: its URL's, else its declared canonical's.

    A page read from a file or a bucket is named by where it was stored, which says
    nothing of who published it; only an http(s) URL does. None when neither tells.
    """
    for candidate in (url, canonical or ""):
        parts = urlsplit(candidate)
        if parts.scheme in ("http", "https") and parts.hostname:
            return parts.hostname.removeprefix("www.")
    return None


def _site(doc: Document) -> str | None:
    return site_of(doc.url, doc.canonical_url)


def _copies_of_one_story(group: tuple[int, ...], pages: list[dict[str, int]], config: CleanConfig) -> bool:
    """Pages sharing most of their words are copies of one story: what they share is content."""
    first, *others = (pages[i] for i in group)
    shared = set(first).intersection(*others)
    smallest = min(sum(pages[i].values()) for i in group)
    return sum(first[digest] for digest in shared) / max(1, smallest) >= config.template_copy_share


def learn_templates(docs: list[Document], config: CleanConfig) -> tuple[dict[str, set[str]], SiteLines]:
    """Lines that recur across different pages of one site: that site's template.

    A line shared only by pages that share most of their words too is content of copies
    of one story, not template, so it is kept. Pages of no known site (a folder or a
    bucket of many publishers) take no part: what they share may be a quote. Also
    returns the evidence worth remembering across runs: template lines with their page
    counts, and the short lines of sites seen on too few pages here to tell.
    """
    pages_by_line: dict[tuple[str, str], list[int]] = defaultdict(list)
    page_lines: list[dict[str, int]] = []  # per page: line digest -> words in the line
    sites = [_site(doc) for doc in docs]
    pages_per_site: Counter = Counter(site for site in sites if site)
    for index, (doc, site) in enumerate(zip(docs, sites, strict=True)):
        lines = zip(doc.text.splitlines(), _digests(doc), strict=True)
        words = {digest: len(line.split()) for line, digest in lines if digest}
        page_lines.append(words)
        if site is None:
            continue
        for digest, count in words.items():
            if count <= config.template_max_words:  # longer shared lines are quoted content
                pages_by_line[(site, digest)].append(index)
    templates: dict[str, set[str]] = defaultdict(set)
    evidence: SiteLines = defaultdict(dict)
    copies: dict[tuple[int, ...], bool] = {}
    for (site, digest), pages in pages_by_line.items():
        if len(pages) < config.template_min_pages:
            if pages_per_site[site] < config.template_memory_small_site:
                evidence[site][digest] = len(pages)
            continue
        group = tuple(pages)
        if group not in copies:
            copies[group] = _copies_of_one_story(group, page_lines, config)
        if copies[group]:
            continue
        evidence[site][digest] = len(pages)
        if len(pages) / pages_per_site[site] >= config.template_min_share:
            templates[site].add(digest)
    return dict(templates), dict(evidence)


def _strip_template(doc: Document, template: set[str], config: CleanConfig) -> None:
    lines = doc.text.splitlines()
    kept = [line for line, digest in zip(lines, _digests(doc), strict=True) if digest not in template]
    if len(kept) != len(lines):
        doc.removed["template"] = doc.removed.get("template", 0) + len(lines) - len(kept)
    if doc.content_type == "text/plain" and doc.title is None and kept and is_headline(kept[0]):
        doc.title = kept.pop(0)
        title_key = line_key(doc.title)
        kept = [
            line for line in kept if not same_headline(line_key(line), title_key, config.headline_min_overlap)
        ]
    doc.text = "\n".join(kept)
    doc.line_digests = line_digests(kept) if len(kept) != len(lines) else doc.line_digests


def remove_templates(
    docs: list[Document],
    config: CleanConfig,
    known_templates: Templates | None = None,
    learned: SiteLines | None = None,
) -> list[Document]:
    """Remove site templates (learned now and known before) from the documents, in place.

    When `learned` is given it is filled with this run's template evidence, for
    `pipeline.templates.save_templates` to remember.
    """
    templates, evidence = learn_templates(docs, config) if config.learn_templates else ({}, {})
    if learned is not None:
        learned.update(evidence)
    for site, digests in (known_templates or {}).items():
        templates.setdefault(site, set()).update(digests)
    for doc in docs:
        site = _site(doc)
        _strip_template(doc, templates.get(site, set()) if site else set(), config)
    return docs
