"""Remove site chrome that extraction left behind, for HTML and text scrapes alike.

Three kinds of rule, each general (no site, phrase or URL of any data set is named):
- block rules (HTML only), on the structure trafilatura keeps: blocks that a
  precision-minded second extraction also found bound the article, and what lies
  outside them goes. Then repeats of the headline, link-dense teaser blocks ("related
  stories"), and headings with no text under them go; an article cut into sibling
  chunks gets its missing chunks back.
- line rules (every page): lines that are chrome wherever they appear (comment forms,
  share and skip links, "previous article", newsletter prompts, error-page leftovers),
  blocks of related-article links after a marker line, inline watermarks
  ("© www.site.news"), captions and credits, date lines and repeats of the title;
- site templates: lines that recur across different pages of one site, learned in the
  run and remembered across runs (`pipeline.templates`). A page's site is the host of its
  http(s) URL or declared canonical; pages of no known site have no template.
`docs/cleaning.md` lists the rules with the reasons behind them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lxml import etree

from pipeline.config import CleanConfig
from pipeline.metadata import is_date_line, normalise_date, site_of
from pipeline.records import Document

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
SENTENCE_END = re.compile(r"[.!?…:]['\"”’»)\]]*$")
TEMPLATE_MAX_WORDS = 30  # longer shared lines are quoted content, never chrome


def line_key(line: str) -> str:
    """A line reduced to lowercase words, so near-identical chrome compares equal."""
    text = unicodedata.normalize("NFKC", line).casefold()
    return " ".join(re.findall(r"\w+", text))


def _bare(line: str) -> str:
    return line.strip(" \t\u200b\u00a0:|-–—•·*[](){}\"'“”‘’.,;!?").strip()


def _is_short(line: str, words: int = 14) -> bool:
    return len(line.split()) <= words and not line.rstrip().endswith((".", "!", "?", ".”", '."'))


def _headline(line: str) -> bool:
    return 2 <= len(line.split()) <= 25 and not line.endswith(".")


def _same_headline(key: str, title_key: str) -> bool:
    """True for the title itself or a slightly reworded copy of it."""
    if not title_key or len(key.split()) > 40:
        return False
    words, title_words = set(key.split()), set(title_key.split())
    return len(words & title_words) / len(words | title_words) >= 0.8


# --- block rules (HTML) -------------------------------------------------------------

BLOCK_TAGS = {"p", "head", "quote", "code", "item"}
INLINE_TAGS = {"hi", "ref"}
SKIPPED_TAGS = {"graphic", "note", "del"}


@dataclass
class Block:
    """One paragraph-level element of trafilatura's XML output."""

    kind: str  # p, head, quote, code, item, row, or inline (a fragment trafilatura cut loose)
    text: str
    link_chars: int = 0
    open_end: bool = False  # the source text ended mid-sentence (trafilatura split a paragraph)

    @property
    def words(self) -> int:
        return len(self.text.split())

    @property
    def link_density(self) -> float:
        return self.link_chars / max(1, len(self.text))


def _element_text(element: etree._Element) -> str:
    """Text of an element with <lb/> as line breaks and whitespace runs collapsed."""
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        if node.tag == "lb":
            parts.append("\n")
        elif node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(element)
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _link_chars(element: etree._Element) -> int:
    return sum(len(" ".join("".join(ref.itertext()).split())) for ref in element.iter("ref"))


def _raw_tail_open(element: etree._Element) -> bool:
    raw = "".join(element.itertext())
    return bool(raw) and (raw[-1].isspace() or not SENTENCE_END.search(raw.strip()))


def blocks_from_xml(body: etree._Element | None) -> list[Block]:
    """Flatten trafilatura's XML body into paragraph blocks, mending split paragraphs."""
    if body is None:
        return []
    blocks: list[Block] = []

    def add(block: Block) -> None:
        previous = blocks[-1] if blocks else None
        continues = block.kind == "inline" or block.text[:1] in ",.;:)!?" or block.text[:1].islower()
        if previous and previous.kind in ("p", "inline") and previous.open_end and continues:
            joiner = "" if block.text[:1] in ",.;:)!?" else " "
            previous.text += joiner + block.text
            previous.link_chars += block.link_chars
            previous.open_end = block.open_end
            return
        blocks.append(block)

    def add_loose_text(text: str | None) -> None:
        text = " ".join((text or "").split())
        if text:
            add(Block("p", text, 0, not SENTENCE_END.search(text)))

    def visit(element: etree._Element) -> None:
        add_loose_text(element.text)
        for child in element:
            tag = child.tag
            if not isinstance(tag, str) or tag in SKIPPED_TAGS:
                continue
            if tag == "row" and not any(cell.find(".//p") is not None for cell in child):
                cells = [_element_text(cell) for cell in child if cell.tag == "cell"]
                text = " | ".join(cell for cell in cells if cell)
                if text:
                    add(Block("row", text, _link_chars(child)))
            elif tag in BLOCK_TAGS or tag in INLINE_TAGS:
                text = _element_text(child)
                if text:
                    kind = "inline" if tag in INLINE_TAGS else tag
                    add(Block(kind, text, _link_chars(child), _raw_tail_open(child)))
            else:
                visit(child)  # containers, and table cells that hold whole paragraphs
            add_loose_text(child.tail)

    visit(body)
    return blocks


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = line_key(text).split()
    return {tuple(words[i : i + 4]) for i in range(len(words) - 3)}


def _found_in(block: Block, shingles: set[tuple[str, ...]], key: str) -> bool:
    own = _shingles(block.text)
    if own:
        return len(own & shingles) / len(own) >= 0.5
    block_key = line_key(block.text)
    return bool(block_key) and f" {block_key} " in f" {key} "


def reconcile(blocks: list[Block], precise_text: str, config: CleanConfig) -> tuple[list[Block], int]:
    """Keep the blocks a precision-minded extraction agrees on, and all between them.

    The recall-minded extraction finds more of the article; the precise one stops at
    its edges (headline, standfirst, teasers). What lies between the first and last
    agreed block is article body. When the precise extraction lost most of the text
    it failed on this page, and the recall-minded blocks are kept as they are.
    """
    total_words = sum(block.words for block in blocks)
    if len(precise_text.split()) < config.precise_min_share * total_words:
        return blocks, 0
    shingles, key = _shingles(precise_text), line_key(precise_text)
    agreed = [i for i, block in enumerate(blocks) if _found_in(block, shingles, key)]
    if not agreed:
        return blocks, 0
    kept = blocks[agreed[0] : agreed[-1] + 1]
    return kept, len(blocks) - len(kept)


def _teaser_runs(blocks: list[Block], config: CleanConfig) -> set[int]:
    """Indexes of short link-dense blocks standing in runs: lists of other stories."""
    dense = [
        block.words <= config.teaser_max_words and block.link_density >= config.teaser_link_density
        for block in blocks
    ]
    teasers = set()
    for i, is_dense in enumerate(dense):
        if not is_dense:
            continue
        in_run = (i > 0 and dense[i - 1]) or (i + 1 < len(dense) and dense[i + 1])
        if in_run or TEASER_PREFIX.match(blocks[i].text) or blocks[i].kind == "item":
            teasers.add(i)
    return teasers


def select_blocks(
    blocks: list[Block], precise_text: str, title: str | None, config: CleanConfig
) -> tuple[list[str], Counter]:
    """Apply the block rules; return the kept paragraphs and the removals by rule."""
    removed: Counter = Counter()
    blocks, outside = reconcile(blocks, precise_text, config)
    if outside:
        removed["outside_article"] = outside
    teasers = _teaser_runs(blocks, config)
    title_key = line_key(title or "")
    kept: list[str] = []
    for i, block in enumerate(blocks):
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        if _same_headline(line_key(block.text), title_key):
            removed["title"] += 1
        elif i in teasers or (TEASER_PREFIX.match(block.text) and block.link_density >= 0.5):
            removed["teaser_links"] += 1
        elif block.kind == "head" and (following is None or following.kind == "head"):
            removed["empty_heading"] += 1
        else:
            kept.extend(block.text.split("\n"))
    return kept, removed


def _prose(text: str, min_words: int) -> bool:
    return len(text.split()) >= min_words and SENTENCE_END.search(text) is not None


def _signature(element: etree._Element) -> tuple[str, str]:
    return element.tag, element.get("class") or ""


def _chunk_siblings(container: etree._Element, levels: int = 3) -> list[etree._Element]:
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
    chunks = _chunk_siblings(container)
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


# --- line rules (every page) --------------------------------------------------------


@dataclass
class LineResult:
    lines: list[str]
    removed: Counter = field(default_factory=Counter)
    date: str | None = None  # the first date line of a text scrape (its publication time)
    title: str | None = None  # a text scrape's headline, found above its date line


MASTHEAD_MAX_LINES = 8  # a text scrape's date line, if it has one, comes this early
FOOTER_MAX_LINES = 5  # lines a text scrape's footer may have after its copyright line
COPYRIGHT_LINE = re.compile(
    r"(?:©|\(c\)|copyright\b).{0,80}|.{0,60}all rights reserved.{0,80}", re.IGNORECASE
)


def _footer_start(lines: list[str]) -> int:
    """Where a text scrape's footer begins: its last copyright line, when only a few lines follow."""
    for position in range(len(lines) - 1, max(-1, len(lines) - FOOTER_MAX_LINES - 2), -1):
        if COPYRIGHT_LINE.fullmatch(_bare(lines[position])):
            return position
    return len(lines)


def _masthead(lines: list[str]) -> tuple[int, str | None]:
    """In a text scrape "site name / tagline / headline / date": lines before the headline, and it.

    The headline is the last headline-like line above the first date line; what stands
    above it is the site's masthead.
    """
    for position, line in enumerate(lines[:MASTHEAD_MAX_LINES]):
        if is_date_line(_bare(line)):
            candidates = [
                i
                for i in range(position)
                if _headline(lines[i]) and not CHROME_LINE.fullmatch(_bare(lines[i]))
            ]
            if candidates:
                return candidates[-1], lines[candidates[-1]]
            return 0, None
    return 0, None


def page_rules(lines: Iterable[str], title: str | None, structured: bool = False) -> LineResult:
    """Apply the line rules to one page's lines.

    `structured` pages (HTML, already through the block rules) skip the rules that
    guess structure from plain lines (bullet menus, repeated lines, mastheads and
    footers, related-link blocks after all but unambiguous markers), which there would
    cut real lists and short paragraphs.
    """
    result = LineResult([])
    seen: set[str] = set()
    lines = [" ".join(raw.split()) for raw in lines]
    lines = [line for line in lines if line]
    if not structured:
        footer = _footer_start(lines)
        if footer < len(lines):
            result.removed["footer"] = len(lines) - footer
            lines = lines[:footer]
    if not structured and title is None:
        skipped, result.title = _masthead(lines)
        if result.title is not None:
            result.removed["masthead"] += skipped
            lines = lines[skipped + 1 :]
            title = result.title
    title_key = line_key(title or "")
    in_related_block = False
    for line in lines:
        without_mark = INLINE_WATERMARK.sub("", line).strip()
        if without_mark != line:
            result.removed["watermark"] += 1
            line = without_mark
        bare = _bare(line)
        key = line_key(line)
        if in_related_block:
            if LIST_BULLET.match(line) or _is_short(line):
                result.removed["related_links"] += 1
                continue
            in_related_block = False
        if RELATED_MARKER.fullmatch(bare) and (not structured or TEASER_HEADING.fullmatch(bare)):
            result.removed["related_links"] += 1
            in_related_block = True
            continue
        if not key or CHROME_LINE.fullmatch(bare):
            result.removed["chrome"] += 1
            continue
        if not structured and LIST_BULLET.match(line) and len(key.split()) <= 3:
            result.removed["navigation"] += 1  # breadcrumbs, menus and tag lists
            continue
        if (key in seen and not structured) or _same_headline(key, title_key):
            result.removed["repeat"] += 1  # structured pages repeat lines on purpose (refrains, recipes)
            continue
        if is_date_line(bare):
            result.removed["date_line"] += 1
            result.date = result.date or normalise_date(bare)
            continue
        if (CAPTION_CREDIT.search(line) and len(line.split()) < 60) or CREDIT_LINE.fullmatch(bare):
            result.removed["caption"] += 1
            if result.lines and line.startswith(result.lines[-1]):
                result.lines.pop()  # the same caption without its credit, just above
            continue
        seen.add(key)
        result.lines.append(line)
    return result


# --- site templates -----------------------------------------------------------------

Templates = Mapping[str, Iterable[str]]  # site -> digests of the lines that are its chrome
SiteLines = dict[str, dict[str, int]]  # site -> line digest -> pages it was seen on


def line_digest(key: str) -> str:
    """A short fixed-size name for a line key: templates are remembered without page text."""
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def _short_keys(doc: Document) -> set[str]:
    keys = {line_key(line) for line in doc.text.splitlines()}
    return {key for key in keys if key and len(key.split()) <= TEMPLATE_MAX_WORDS}


def _site(doc: Document) -> str | None:
    return site_of(doc.url, doc.canonical_url)


def learn_templates(docs: list[Document], config: CleanConfig) -> tuple[dict[str, set[str]], SiteLines]:
    """Lines that recur across different pages of one site: that site's template.

    A line shared only by pages that share most of their words too is content of copies
    of one story, not template, so it is kept. Pages of no known site (a folder or a
    bucket of many publishers) take no part: what they share may be a quote. Also
    returns the evidence worth remembering across runs: template lines with their page
    counts, and the short lines of sites seen on too few pages here to tell.
    """
    pages_by_line: dict[tuple[str, str], list[int]] = defaultdict(list)
    page_keys = []
    page_words = []
    sites = [_site(doc) for doc in docs]
    pages_per_source: Counter = Counter(site for site in sites if site)
    for index, (doc, site) in enumerate(zip(docs, sites, strict=True)):
        page_keys.append({line_key(line) for line in doc.text.splitlines()} - {""})
        page_words.append(sum(len(key.split()) for key in page_keys[-1]))
        if site is None:
            continue
        for key in _short_keys(doc):
            pages_by_line[(site, key)].append(index)
    templates: dict[str, set[str]] = defaultdict(set)
    evidence: SiteLines = defaultdict(dict)
    verdicts: dict[tuple[int, ...], bool] = {}
    for (source, key), pages in pages_by_line.items():
        if len(pages) < config.template_min_pages:
            if pages_per_source[source] < config.template_memory_small_site:
                evidence[source][line_digest(key)] = len(pages)
            continue
        group = tuple(pages)
        if group not in verdicts:
            shared = set.intersection(*(page_keys[i] for i in group))
            shared_words = sum(len(shared_key.split()) for shared_key in shared)
            verdicts[group] = shared_words / max(1, min(page_words[i] for i in group)) < 0.5
        if not verdicts[group]:
            continue
        evidence[source][line_digest(key)] = len(pages)
        if len(pages) / pages_per_source[source] >= config.template_min_share:
            templates[source].add(line_digest(key))
    return dict(templates), dict(evidence)


def _strip_template(doc: Document, template: set[str]) -> None:
    lines = doc.text.splitlines()
    kept = [line for line in lines if line_digest(line_key(line)) not in template]
    if len(kept) != len(lines):
        doc.removed["template"] = doc.removed.get("template", 0) + len(lines) - len(kept)
    if doc.content_type == "text/plain" and doc.title is None and kept and _headline(kept[0]):
        doc.title = kept.pop(0)
        title_key = line_key(doc.title)
        kept = [line for line in kept if not _same_headline(line_key(line), title_key)]
    doc.text = "\n".join(kept)


def remove_boilerplate(
    docs: list[Document],
    config: CleanConfig,
    known_templates: Templates | None = None,
    learned: SiteLines | None = None,
) -> list[Document]:
    """Apply line rules, then site templates (learned now and known before), in place.

    When `learned` is given it is filled with this run's template evidence, for
    `pipeline.templates.save_templates` to remember.
    """
    for doc in docs:
        result = page_rules(doc.text.splitlines(), doc.title, structured=doc.content_type != "text/plain")
        doc.text = "\n".join(result.lines)
        for rule, count in result.removed.items():
            doc.removed[rule] = doc.removed.get(rule, 0) + count
        doc.published_at = doc.published_at or result.date
        doc.title = doc.title or result.title
    templates, evidence = learn_templates(docs, config) if config.learn_templates else ({}, {})
    if learned is not None:
        learned.update(evidence)
    for source, keys in (known_templates or {}).items():
        templates.setdefault(source, set()).update(keys)
    for doc in docs:
        site = _site(doc)
        _strip_template(doc, templates.get(site, set()) if site else set())
    return docs
