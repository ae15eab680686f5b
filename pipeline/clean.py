"""Turn one raw page into a Document: decode, extract the article, read its metadata.

HTML goes through trafilatura twice (recall-minded with its XML structure, and
precision-minded) and the block rules of `boilerplate` reconcile the two; error and
index pages are rejected here. Plain-text scrapes are split into lines. Both come out
as paragraph lines that `boilerplate.remove_boilerplate` then filters. This module looks
at one page at a time, so it runs in worker processes; rules that need the whole run
(site templates) live in `boilerplate`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import urlparse

from pipeline import boilerplate, charsets, metadata
from pipeline.config import CleanConfig
from pipeline.records import Document, RawPage, Reason, Rejection, utc_iso

HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"text/plain"}
BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b", b"\x7fELF")
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


class PageRejected(Exception):
    """Raised inside cleaning; carries the reason code and a human-readable detail."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def source_of(url: str, canonical: str | None = None) -> str:
    """The site a page belongs to (`metadata.site_of`), else where it was read from.

    Falls back to the bucket of an s3: URL and "file" for a local file, so the field
    still says where an article came from when its publisher is unknown.
    """
    parts = urlparse(url)
    return (
        metadata.site_of(url, canonical)
        or (parts.hostname or "").removeprefix("www.")
        or parts.scheme
        or "unknown"
    )


def _check_bytes(page: RawPage, config: CleanConfig) -> None:
    content = page.content
    if not content.strip():
        raise PageRejected("empty", "the page has no content")
    head = content[:8192]
    nul_is_binary = not charsets.is_wide(content, page.charset)  # UTF-16/32 text is full of NULs
    if head.startswith(BINARY_MAGIC) or (nul_is_binary and b"\x00" in head):
        raise PageRejected("binary", "binary content (not text)")
    if page.content_type not in HTML_TYPES | TEXT_TYPES:
        raise PageRejected("unsupported_type", f"content type {page.content_type!r} is not HTML or text")


def decode(page: RawPage) -> str:
    """The page's text, decoded the way browsers do (`pipeline.charsets`): BOM, transport, <meta>."""
    meta = None
    if page.content_type in HTML_TYPES:
        match = META_CHARSET.search(page.content[:4096])
        meta = match.group(1).decode("ascii", "replace") if match else None
    try:
        return charsets.decode(page.content, page.charset, meta)
    except charsets.UnsafeEncoding as err:
        raise PageRejected("encoding", str(err)) from None


UNSPACED_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
# The start of a title or first line that announces an error instead of an article.
ERROR_PAGE = re.compile(
    r"^\W*(?:(?:error\s*)?40[34]\b|page not found|access denied|not found\W*$|(?:sorry\W+)?(?:the |this )?"
    r"(?:page|content|article)s? (?:you (?:requested|are looking for) )?(?:was |is )?"
    r"(?:not found|cannot be found|could not be found|does not exist|doesn'?t exist|"
    r"no longer (?:exists|available)))",
    re.IGNORECASE,
)


def _trafilatura_pass(tree: Any, url: str, precise: bool) -> Any:
    """One trafilatura run over the parsed page: recall-minded with structure, or precision-minded."""
    import trafilatura

    return trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=not precise,
        favor_precision=precise,
        favor_recall=not precise,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=not precise,  # link density per block tells teasers from text
        include_formatting=not precise,
        deduplicate=False,  # its process-wide cache would make output depend on order
    )


def _linked_share(tree: Any, blocks: list[boilerplate.Block]) -> float:
    """Share of the extracted words on lines that are the text of a link somewhere on the page.

    trafilatura falls back to plain text on pages that are only lists of links, and the
    link markup is lost; matching the lines back to the page's anchors finds them.
    """
    anchors = {boilerplate.line_key(a.text_content()) for a in tree.iter("a")} - {""}
    lines = [line for block in blocks for line in block.text.split("\n")]
    linked = sum(len(line.split()) for line in lines if boilerplate.line_key(line) in anchors)
    return linked / max(1, sum(len(line.split()) for line in lines))


def _check_article(
    tree: Any, blocks: list[boilerplate.Block], title: str | None, config: CleanConfig
) -> None:
    """Reject pages that are not articles: error pages and link-list (index) pages.

    An index page is one whose extracted text is mostly links.
    """
    words = sum(block.words for block in blocks)
    first_lines = [title or "", *(block.text for block in blocks[:3])]
    error = next((line for line in first_lines if ERROR_PAGE.search(line)), None)
    if words <= config.error_page_max_words and error is not None:
        raise PageRejected("error_page", f"reads as an error page ({words} words): {error[:80]!r}")
    chars = sum(len(block.text) for block in blocks)
    density = max(sum(block.link_chars for block in blocks) / max(1, chars), _linked_share(tree, blocks))
    if density >= config.index_link_density:
        raise PageRejected(
            "index_page", f"{density:.0%} of the text is links (limit {config.index_link_density:.0%})"
        )


def _extract_html(html: str, url: str, config: CleanConfig) -> dict:
    import trafilatura

    tree = trafilatura.load_html(html)
    if tree is None:
        raise PageRejected("no_article", "the HTML cannot be parsed")
    main = _trafilatura_pass(tree, url, precise=False)
    blocks = boilerplate.blocks_from_xml(main.body) if main is not None else []
    _check_article(tree, blocks, main.title if main is not None else None, config)
    if main is None or not blocks:
        raise PageRejected("no_article", "no article text found in the HTML")
    precise = _trafilatura_pass(tree, url, precise=True)
    lines, removed = boilerplate.select_blocks(
        blocks, (precise.text or "") if precise else "", main.title, config
    )
    lines = boilerplate.recover_split_article(tree, lines, config)
    fields = metadata.html_metadata(tree, url, main)
    return {"lines": lines, "removed": dict(removed), **fields}


def extract(page: RawPage, config: CleanConfig) -> Document | Rejection:
    """Clean one page, or say why it cannot be an article."""
    fetched_at = utc_iso(page.fetched_at)
    content_sha = hashlib.sha256(page.content).hexdigest()
    try:
        _check_bytes(page, config)
        text = decode(page)
        if page.content_type in HTML_TYPES:
            fields = _extract_html(text, page.url, config)
        else:
            fields = {"lines": text.splitlines()}
    except PageRejected as rejected:
        return Rejection(page.url, rejected.reason, rejected.detail, fetched_at, content_sha)
    except MemoryError:
        raise  # the worker's memory limit: `pipeline.workers` records it as memory_limit
    except Exception as err:  # a broken page must never stop the run: it is recorded instead
        return Rejection(
            page.url, "extraction_error", f"{type(err).__name__}: {err}", fetched_at, content_sha
        )
    lines = fields.pop("lines")
    source = source_of(page.url, fields.get("canonical_url"))
    return Document(
        url=page.url,
        text="\n".join(lines),
        fetched_at=fetched_at,
        content_sha=content_sha,
        source=source,
        content_type=page.content_type,
        **fields,
    )


def word_count(text: str) -> int:
    """Words, counting scripts written without spaces (Chinese, Japanese) at two characters a word."""
    unspaced = len(UNSPACED_SCRIPT.findall(text))
    return len(text.split()) + unspaced // 2


def finish(doc: Document, config: CleanConfig) -> Document | Rejection:
    """Final checks once boilerplate is gone: enough text left, and its language."""
    words = word_count(doc.text)
    if len(doc.text) < config.min_text_chars or words < config.min_text_words:
        return Rejection(
            doc.url,
            "too_short",
            f"{words} words / {len(doc.text)} characters after cleaning "
            f"(minimum {config.min_text_words} / {config.min_text_chars})",
            doc.fetched_at,
            doc.content_sha,
        )
    doc.language = metadata.language(doc.text)
    return doc


def finish_run(
    docs: list[Document],
    config: CleanConfig,
    known_templates: boilerplate.Templates | None = None,
    learned: boilerplate.SiteLines | None = None,
) -> list[Document | Rejection]:
    """The run-level half of cleaning: boilerplate over the whole run, then `finish` per page.

    Ingest and the benchmarks call this one function, so they measure what ingest does.
    """
    boilerplate.remove_boilerplate(docs, config, known_templates, learned)
    return [finish(doc, config) for doc in docs]
