"""Turn raw pages into cleaned articles: `extract` per page (in worker processes), `finish_run` per run.

One module per concern:
- `decode`: bytes to text (refusing binaries and unknown types);
- `html`: one parse and the article's blocks from two readings of one prepared tree;
  `extractor`: trafilatura's extractor with the article container searched for once for both;
  `xpaths`: trafilatura's searches with a native test before each regular expression;
  `blocks`: trafilatura's XML as paragraph blocks and the block rules;
- `text`: plain-text scrapes (masthead, footer, headline and date line);
- `chrome`: line rules on every page (comment forms, share bars, watermarks, related lists);
- `metadata`: title, publication time, authors, site name, canonical URL;
- `dates`: date-only lines, and dates written any common way as ISO 8601;
- `language`: language and word count;
- `templates`: site templates learned over the run and remembered across runs (by `site_of`);
- `lines`: the line helpers all of them use (word keys computed once per line).
- `errors`: `PageRejected`, a page that cannot be an article, with its reason;
- `preload`: imported once by the workers' forkserver so new workers start with the models loaded.

Everything about one page happens in `extract`, so it runs in the worker processes;
`finish_run` only needs what the whole run shares: site templates, and the length check
that must come after them. So `html` (and trafilatura with it) is imported on the first
HTML page: the main process, which runs `finish_run`, never loads it.
`docs/cleaning.md` lists every rule and setting.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlparse

from pipeline.clean import chrome, templates
from pipeline.clean.decode import HTML_TYPES, check_bytes, decode
from pipeline.clean.errors import PageRejected
from pipeline.clean.language import language, word_count
from pipeline.clean.templates import SiteLines, Templates, site_of
from pipeline.clean.text import read_scrape
from pipeline.config import CleanConfig
from pipeline.records import Document, RawPage, Rejection, utc_iso

__all__ = ["SiteLines", "Templates", "extract", "finish", "finish_run", "source_of"]


def source_of(url: str, canonical: str | None = None) -> str:
    """The site a page belongs to (`templates.site_of`), else where it was read from.

    Falls back to the bucket of an s3: URL and "file" for a local file, so the field
    still says where an article came from when its publisher is unknown.
    """
    parts = urlparse(url)
    return site_of(url, canonical) or (parts.hostname or "").removeprefix("www.") or parts.scheme or "unknown"


def _page_fields(page: RawPage, config: CleanConfig) -> dict:
    """Lines, removals and metadata of one page, after the page's own rules (no site templates yet)."""
    check_bytes(page)
    text = decode(page)
    if page.content_type in HTML_TYPES:
        from pipeline.clean.html import extract_html  # see the module docstring; the workers preload it

        article, fields = extract_html(text, page.url, config)
        lines, removed, structured = article.lines, article.removed, True
    else:
        scrape = read_scrape(text, config)
        lines, removed, structured = scrape.lines, scrape.removed, False
        fields = {"title": scrape.title}
    result = chrome.page_rules(lines, fields["title"], config, structured=structured)
    fields["published_at"] = fields.get("published_at") or result.date
    text = "\n".join(result.lines)
    return {
        **fields,
        "text": text,
        "removed": dict(removed + result.removed),
        "language": language(text, config.language_sample_chars),
        "line_digests": templates.line_digests(result.lines),
    }


def extract(page: RawPage, config: CleanConfig) -> Document | Rejection:
    """Clean one page as far as one page allows, or say why it cannot be an article."""
    fetched_at = utc_iso(page.fetched_at)
    content_sha = hashlib.sha256(page.content).hexdigest()
    try:
        fields = _page_fields(page, config)
    except PageRejected as rejected:
        return Rejection(page.url, rejected.reason, rejected.detail, fetched_at, content_sha)
    except MemoryError:
        raise  # the worker's memory limit: `pipeline.workers` records it as memory_limit
    except Exception as err:  # a broken page must never stop the run: it is recorded instead
        return Rejection(
            page.url, "extraction_error", f"{type(err).__name__}: {err}", fetched_at, content_sha
        )
    return Document(
        url=page.url,
        fetched_at=fetched_at,
        content_sha=content_sha,
        source=source_of(page.url, fields.get("canonical_url")),
        content_type=page.content_type,
        **fields,
    )


def finish(doc: Document, config: CleanConfig) -> Document | Rejection:
    """The final check once site templates are gone: enough text left."""
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
    return doc


def finish_run(
    docs: list[Document],
    config: CleanConfig,
    known_templates: Templates | None = None,
    learned: SiteLines | None = None,
) -> list[Document | Rejection]:
    """The run-level half of cleaning: site templates over the whole run, then `finish` per page.

    Ingest and the benchmarks call this one function, so they measure what ingest does.
    """
    templates.remove_templates(docs, config, known_templates, learned)
    return [finish(doc, config) for doc in docs]
