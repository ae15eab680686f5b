"""Block rules: trafilatura's XML body as paragraph blocks, and which of them are the article.

The extraction's XML keeps the structure the rules need: headings, paragraphs, list
items, quotes, table rows, and which text is a link. Blocks outside the span a
precision-minded reading agrees on go (`reconcile`), then repeats of the headline,
link-dense teaser blocks ("related stories") and headings with no text under them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property

from lxml import etree

from pipeline.clean.chrome import TEASER_PREFIX
from pipeline.clean.lines import SENTENCE_END, line_key, same_headline
from pipeline.config import CleanConfig

BLOCK_TAGS = {"p", "head", "quote", "code", "item"}
INLINE_TAGS = {"hi", "ref"}
SKIPPED_TAGS = {"graphic", "note", "del"}


@dataclass
class Block:
    """One paragraph-level element of trafilatura's XML output.

    Its text is final once `blocks_from_xml` has built it, so the word count is counted once.
    """

    kind: str  # p, head, quote, code, item, row, or inline (a fragment trafilatura cut loose)
    text: str
    link_chars: int = 0
    open_end: bool = False  # the source text ended mid-sentence (trafilatura split a paragraph)

    @cached_property
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
    return set(zip(words, words[1:], words[2:], words[3:], strict=False))  # runs of 4 consecutive words


@dataclass
class _PreciseReading:
    """The precise reading's text, asked whether a block is in it (its shingles made on first need)."""

    text: str
    min_share: float

    @cached_property
    def lines(self) -> set[str]:
        return set(self.text.split("\n"))

    @cached_property
    def shingles(self) -> set[tuple[str, ...]]:
        return _shingles(self.text)

    @cached_property
    def key(self) -> str:
        return f" {line_key(self.text)} "

    def has(self, block: Block) -> bool:
        """The block is one of its lines, or enough of the block's 4-word shingles are in it."""
        if block.text in self.lines:
            return True
        own = _shingles(block.text)
        if own:
            return len(own & self.shingles) / len(own) >= self.min_share
        block_key = line_key(block.text)
        return bool(block_key) and f" {block_key} " in self.key


def reconcile(blocks: list[Block], precise_text: str, config: CleanConfig) -> tuple[list[Block], int]:
    """Keep the blocks from the first to the last one a precision-minded reading agrees on.

    The recall-minded reading finds more of the article; the precise one stops at
    its edges (headline, standfirst, teasers). What lies between the first and last
    agreed block is article body. When the precise reading lost most of the text
    it failed on this page, and the recall-minded blocks are kept as they are.
    """
    total_words = sum(block.words for block in blocks)
    if len(precise_text.split()) < config.precise_min_share * total_words:
        return blocks, 0
    precise = _PreciseReading(precise_text, config.precise_agree_share)
    first = next((i for i, block in enumerate(blocks) if precise.has(block)), None)
    if first is None:
        return blocks, 0
    last = next(i for i in range(len(blocks) - 1, first - 1, -1) if precise.has(blocks[i]))
    kept = blocks[first : last + 1]
    return kept, len(blocks) - len(kept)


def _teaser_runs(blocks: list[Block], config: CleanConfig) -> set[int]:
    """Indexes of short link-dense blocks standing in runs or at the article's edges.

    Lists of other stories, menus and breadcrumbs above or below the text; a linked
    sentence inside the text stays.
    """
    dense = [
        block.words <= config.teaser_max_words and block.link_density >= config.teaser_link_density
        for block in blocks
    ]
    teasers = set()
    for i, is_dense in enumerate(dense):
        if not is_dense:
            continue
        in_run = (i > 0 and dense[i - 1]) or (i + 1 < len(dense) and dense[i + 1])
        at_edge = len(dense) > 1 and i in (0, len(dense) - 1)
        if in_run or at_edge or TEASER_PREFIX.match(blocks[i].text) or blocks[i].kind == "item":
            teasers.add(i)
    return teasers


def select_blocks(blocks: list[Block], title: str | None, config: CleanConfig) -> tuple[list[str], Counter]:
    """Apply the block rules to the article's blocks; return the kept paragraphs and the removals by rule."""
    removed: Counter = Counter()
    teasers = _teaser_runs(blocks, config)
    title_key = line_key(title or "")
    kept: list[str] = []
    for i, block in enumerate(blocks):
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        if same_headline(line_key(block.text), title_key, config.headline_min_overlap):
            removed["title"] += 1
        elif i in teasers or (
            TEASER_PREFIX.match(block.text) and block.link_density >= config.teaser_prefix_link_density
        ):
            removed["teaser_links"] += 1
        elif block.kind == "head" and (following is None or following.kind == "head"):
            removed["empty_heading"] += 1
        else:
            kept.extend(block.text.split("\n"))
    return kept, removed
