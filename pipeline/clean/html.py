"""HTML pages: one parse, one prepared tree, and the article's blocks chosen from two readings of it.

trafilatura's cleaning and tag conversion run once. Its extractor then reads the
prepared tree twice: recall-minded (keeping structure and links, with its readability
and justext cross-checks) and precision-minded on a copy (cross-checked only when it
found much less). The precise reading is evidence about where the article begins and
ends; which reading is kept, and which blocks of it, is decided per page and per block
(`choose_blocks`). Error and index pages are rejected here, and an article cut into
sibling chunks gets them back. trafilatura's internal steps are called directly (pinned
version, requirements.txt): `bare_extraction` would parse, clean and convert once per
reading, and search for the article container once per reading (`pipeline.clean.extractor`
searches once for both).
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from copy import copy
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from lxml import etree
from lxml import html as lxml_html
from trafilatura.baseline import baseline
from trafilatura.core import _forum_thread_page, _prepare_tree
from trafilatura.external import compare_extraction
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.settings import Extractor
from trafilatura.utils import is_dubious_html, repair_faulty_html

from pipeline.clean.blocks import Block, blocks_from_xml, reconcile, select_blocks
from pipeline.clean.errors import PageRejected
from pipeline.clean.extractor import extract_content, extract_from_copy, first_candidate
from pipeline.clean.lines import SENTENCE_END, line_key
from pipeline.clean.metadata import byline, html_metadata
from pipeline.clean.xpaths import RAW_TREE_PRUNE, REMOVE_COMMENTS, REMOVE_COMMENTS_AND_LISTS
from pipeline.config import CleanConfig

# Readings of one prepared tree. Links are kept in both (link density tells teasers
# from text); only the recall reading keeps formatting, which mends split paragraphs.
RECALL = Extractor(recall=True, comments=False, tables=True, links=True, formatting=True)
PRECISE = Extractor(precision=True, comments=False, tables=True, links=True, formatting=False)

# trafilatura's `compare_extraction` keeps a recall reading longer than this many times
# `min_extracted_size` as it is, without reading the trees it is given (a copy each).
RECALL_CROSS_CHECKED_FACTOR = 10

# trafilatura's parser settings. lxml.html's own parser asks a Python method for the
# class of every element object it hands out (forms get classes of their own), about a
# million calls over a thousand pages; neither trafilatura nor these rules use the form
# classes, so here every element is an HtmlElement, chosen in C.
PARSER = lxml_html.HTMLParser(
    collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True
)
PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=lxml_html.HtmlElement,
        comment=lxml_html.HtmlComment,
        pi=lxml_html.HtmlProcessingInstruction,
        entity=lxml_html.HtmlEntity,
    )
)

# The start of a title or first line that announces an error instead of an article.
ERROR_PAGE = re.compile(
    r"^\W*(?:(?:error\s*)?40[34]\b|page not found|access denied|not found\W*$|(?:sorry\W+)?(?:the |this )?"
    r"(?:page|content|article)s? (?:you (?:requested|are looking for) )?(?:was |is )?"
    r"(?:not found|cannot be found|could not be found|does not exist|doesn'?t exist|"
    r"no longer (?:exists|available)))",
    re.IGNORECASE,
)


def parse_html(html: str) -> lxml_html.HtmlElement | None:
    """The page's tree as trafilatura's `load_html` makes it from a decoded page, with `PARSER`.

    None when it is no HTML: a page that does not say "html" near its start and parses
    to fewer than two elements.
    """
    beginning = html[:50].lower()
    html = repair_faulty_html(html, beginning)
    try:
        tree = lxml_html.fromstring(html, parser=PARSER)
    except (ValueError, etree.LxmlError):  # lxml takes a text that declares its encoding as bytes only
        tree = None
    if tree is None or len(tree) < 1:
        with contextlib.suppress(ValueError, etree.LxmlError):
            tree = lxml_html.fromstring(html.encode("utf8", "surrogatepass"), parser=PARSER)
    if tree is not None and is_dubious_html(beginning) and len(tree) < 2:
        return None
    return tree


@dataclass
class Readings:
    """The two readings of one page: the recall one as blocks, the precise one as its XML body."""

    recall: list[Block]
    precise_body: Any
    byline: str | None = None  # the authors in the byline, when they were asked for

    @cached_property
    def precise_text(self) -> str:
        """One line per top-level element, a space between text nodes (table cells, line breaks).

        What `reconcile` compares the recall blocks with.
        """
        lines = (" ".join(" ".join(element.itertext()).split()) for element in self.precise_body)
        return "\n".join(line for line in lines if line)


@dataclass
class Article:
    """The kept paragraphs of an HTML page, and what the block rules removed."""

    lines: list[str]
    removed: Counter = field(default_factory=Counter)


def prepare(tree: Any) -> tuple[Any, Any, Any]:
    """Prune `tree` in place, then clean and convert a copy of it for the extractor.

    Returns the pruned tree, the converted one, and the cleaned one before conversion (what
    trafilatura's justext cross-check and its byline search read).
    """
    is_forum = _forum_thread_page(tree)
    work = prune_unwanted_nodes(tree, RAW_TREE_PRUNE)
    if not is_forum:  # on a forum the "comments" are the posts
        work = prune_unwanted_nodes(work, REMOVE_COMMENTS_AND_LISTS)
    cleaned, unconverted = _prepare_tree(work, RECALL, None)
    return work, cleaned, unconverted


def read(tree: Any, config: CleanConfig, find_byline: bool = False) -> Readings:
    """Prune `tree` in place, prepare it once and read it recall-minded, then precision-minded
    from a copy.

    Follows trafilatura's own sequence (comments off): raw pruning, cleaning and conversion,
    the extractor with its cross-checks (readability, justext), and the baseline when it
    found next to nothing. The raw pruning works on `tree` itself, saving a copy of every
    page: what it removes (comment sections, pages appended by infinite scroll, share bars)
    is no part of the article for the checks that read the tree afterwards either. The
    precise reading gets the cross-checks only when it found much less than the recall one
    (`precise_min_share`): then its own extractor likely settled on a fragment, and they are
    what finds the article. Both readings start from the same article container and the
    same boilerplate in it, searched for once (`extractor.first_candidate`).
    """
    work, cleaned, unconverted = prepare(tree)
    found_byline = byline(unconverted) if find_byline else None  # before the cross-checks change it
    first = first_candidate(cleaned)
    precise, precise_text = extract_from_copy(cleaned, first, PRECISE, REMOVE_COMMENTS)
    body, text = extract_content(cleaned, RECALL, first)
    if len(precise_text) < config.precise_min_share * len(text):
        precise, precise_text = compare_extraction(
            copy(unconverted), copy(work), precise, precise_text, PRECISE
        )
    if len(text) <= RECALL_CROSS_CHECKED_FACTOR * RECALL.min_extracted_size:  # else no copy is read
        body, text = compare_extraction(unconverted, copy(work), body, text, RECALL)
    if len(text) < RECALL.min_extracted_size:
        rescue, rescue_text, _ = baseline(work)
        if len(rescue_text) > len(text):
            body = rescue
    return Readings(blocks_from_xml(body), precise, found_byline)


def _words(blocks: list[Block]) -> int:
    return sum(block.words for block in blocks)


def choose_blocks(readings: Readings, config: CleanConfig) -> tuple[list[Block], Counter]:
    """The blocks that are the article, and what was left out by rule.

    The recall reading finds more of the article but reaches into standfirsts, teasers
    and footers; the precise one stops at the article's edges but drops bits inside it.
    So, per block, what lies between the first and last block both readings agree on is
    kept (`reconcile`). Per page: when the precise reading found far more text
    (`precise_switch_ratio`: live blogs, articles in many blocks, text outside the
    densest container, where the recall reading settled on a fragment), it is the
    article; when it found too little (`precise_min_share`) it failed on this page and
    the recall reading stands as it is.
    """
    removed: Counter = Counter()
    recall_words, precise_words = _words(readings.recall), len(readings.precise_text.split())
    if precise_words >= config.precise_switch_ratio * max(1, recall_words):
        removed["shorter_reading"] = len(readings.recall)
        return blocks_from_xml(readings.precise_body), removed
    kept, outside = reconcile(readings.recall, readings.precise_text, config)
    if outside:
        removed["outside_article"] = outside
    return kept, removed


def _linked_share(tree: Any, blocks: list[Block]) -> float:
    """Share of the extracted words on lines that are the text of a link somewhere on the page.

    trafilatura falls back to plain text on pages that are only lists of links, and the
    link markup is lost; matching the lines back to the page's anchors finds them.
    """
    anchors = {line_key(a.text_content()) for a in tree.iter("a")} - {""}
    lines = [line for block in blocks for line in block.text.split("\n")]
    linked = sum(len(line.split()) for line in lines if line_key(line) in anchors)
    return linked / max(1, sum(len(line.split()) for line in lines))


def check_article(tree: Any, blocks: list[Block], title: str | None, config: CleanConfig) -> None:
    """Reject pages that are not articles: error pages and link-list (index) pages.

    An index page is one whose extracted text is mostly links: by the link markup of the
    blocks, or, when none came through, by matching lines to the page's anchors.
    """
    words = _words(blocks)
    first_lines = [title or "", *(block.text for block in blocks[:3])]
    error = next((line for line in first_lines if ERROR_PAGE.search(line)), None)
    if words <= config.error_page_max_words and error is not None:
        raise PageRejected("error_page", f"reads as an error page ({words} words): {error[:80]!r}")
    link_chars = sum(block.link_chars for block in blocks)
    density = link_chars / max(1, sum(len(block.text) for block in blocks))
    if link_chars == 0:  # no link markup came through: read the page's anchors instead
        density = _linked_share(tree, blocks)
    if density >= config.index_link_density:
        raise PageRejected(
            "index_page", f"{density:.0%} of the text is links (limit {config.index_link_density:.0%})"
        )


def _prose(text: str, min_words: int) -> bool:
    return len(text.split()) >= min_words and SENTENCE_END.search(text) is not None


def _signature(element: etree._Element) -> tuple[str, str]:
    return element.tag, element.get("class") or ""


def _chunk_siblings(container: etree._Element, levels: int) -> list[etree._Element]:
    """The container, or an ancestor, with its siblings of the same tag and class, in order.

    Some pages cut one article into several sibling chunks (to put ads between them);
    trafilatura then keeps the first chunk only.
    """
    element = container
    for _ in range(levels):
        parent = element.getparent()
        if parent is None:
            break
        tag, css_class = _signature(element)
        if css_class:
            chunks = [sibling for sibling in parent if _signature(sibling) == (tag, css_class)]
            if len(chunks) > 1:
                return chunks
        element = parent
    return []


def recover_split_article(tree: etree._Element, lines: list[str], config: CleanConfig) -> list[str]:
    """Add the prose of sibling chunks of the article's container that extraction left out."""
    known = {line_key(line): i for i, line in enumerate(lines) if _prose(line, config.chunk_min_words)}
    containers: Counter = Counter()
    for paragraph in tree.iter("p"):
        if line_key(paragraph.text_content()) in known:
            containers[paragraph.getparent()] += 1
    if not containers:
        return lines
    container, hits = containers.most_common(1)[0]
    if hits < 2:
        return lines
    chunks = _chunk_siblings(container, config.chunk_levels)
    own = next(
        (chunk for chunk in chunks if chunk is container or container in chunk.iterdescendants()), None
    )
    if own is None:
        return lines
    before: list[str] = []
    after: list[str] = []
    for chunk in chunks:
        if chunk is own:
            continue
        texts = [" ".join(p.text_content().split()) for p in chunk.iter("p")]
        prose = [
            text for text in texts if _prose(text, config.chunk_min_words) and line_key(text) not in known
        ]
        target = before if chunk.getparent().index(chunk) < chunk.getparent().index(own) else after
        target.extend(prose)
    added = sum(len(text.split()) for text in before + after)
    had = sum(len(line.split()) for line in lines)
    if added < config.chunk_min_added_words or added < config.chunk_min_added_share * had:
        return lines  # a stray "about us" box, not the missing part of the article
    first, last = min(known.values()), max(known.values())
    return lines[:first] + before + lines[first : last + 1] + after + lines[last + 1 :]


def extract_html(html: str, url: str, config: CleanConfig) -> tuple[Article, dict[str, Any]]:
    """The article's paragraphs and the page's metadata fields."""
    tree = parse_html(html)
    if tree is None:
        raise PageRejected("no_article", "the HTML cannot be parsed")
    fields = html_metadata(tree, url)
    readings = read(tree, config, find_byline=config.author_byline_search and not fields["author"])
    fields["author"] = fields["author"] or readings.byline
    check_article(tree, readings.recall, fields["title"], config)
    if not readings.recall:
        raise PageRejected("no_article", "no article text found in the HTML")
    blocks, removed = choose_blocks(readings, config)
    lines, rules = select_blocks(blocks, fields["title"], config)
    lines = recover_split_article(tree, lines, config)
    return Article(lines, removed + rules), fields
