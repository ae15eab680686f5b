"""Verification: is a page a copy of a story's reference text?

Containment counted in words: the share of the smaller text's own words that lie in word
shingles the other text also has. A shingle that several other stories have (a quoted
statement, a company's "About" paragraph) is nobody's own and is no evidence.
docs/dedup.md explains the method and why each threshold has its value.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from pipeline.config import DedupConfig
from pipeline.dedup.shingles import unique_sorted


@dataclass
class Text:
    """A text as verification sees it: its shingles in text order and its number of words."""

    shingles: np.ndarray  # uint32
    words: int
    marks: np.ndarray = field(init=False, repr=False)  # slot of each shingle in ShingleMarks
    _counters: tuple[int, np.ndarray] = field(init=False, repr=False, default=(0, np.zeros(0, np.intp)))

    def __post_init__(self) -> None:
        self.marks = (self.shingles & ShingleMarks.MASK).astype(np.intp)

    @cached_property
    def digest(self) -> int:
        """64 bits naming the text by its words: texts with the same words in the same order
        (after normalisation) have the same digest, whatever page or run they come from."""
        digest = hashlib.blake2b(self.shingles.astype(np.uint32).tobytes(), digest_size=8)
        digest.update(int(self.words).to_bytes(8, "little"))
        return int.from_bytes(digest.digest(), "little")

    def counters(self, frequency: StoryFrequency) -> np.ndarray:
        """The counter of each shingle in `frequency` (computed once)."""
        if self._counters[0] != frequency.bits:
            self._counters = (frequency.bits, frequency.slots(self.shingles))
        return self._counters[1]

    def covered_words(self, own: np.ndarray, shared: np.ndarray, size: int) -> tuple[int, int]:
        """How many words lie in at least one `own` shingle, and in at least one `shared` one
        (`shared` is a subset of `own`)."""
        level = own.view(np.uint8) + shared.view(np.uint8)  # 2 shared, 1 own only, 0 common
        covered = np.zeros(self.words, dtype=np.uint8)
        for place in range(min(size, self.words)):
            window = covered[place : place + len(level)]
            np.maximum(window, level, out=window)
        return int(np.count_nonzero(covered)), int(np.count_nonzero(covered == 2))


class StoryFrequency:
    """In how many stories each shingle occurs, in a hashed table of counters.

    Counting stories, not pages, keeps a story's many copies from making its own text
    look common. A story counts the shingles of its reference texts only: a wrap-up page
    quoting other stories' paragraphs must not make those paragraphs common. The table
    has at least `per_shingle` counters per distinct shingle, so shingles rarely share one.
    A counter stops at CEILING: verification only asks whether a count reaches `common_stories`
    (at most CEILING - 1), and a byte a counter keeps the table, whose every page a run
    touches, a quarter of the size.
    """

    CEILING = 255

    def __init__(self, per_shingle: int, expected_shingles: int) -> None:
        self.bits = max(16, math.ceil(math.log2(per_shingle * max(1, expected_shingles))))
        self.counts = np.zeros(1 << self.bits, dtype=np.uint8)

    def slots(self, shingles: np.ndarray) -> np.ndarray:
        """The counter of each shingle."""
        return (shingles >> np.uint32(32 - self.bits)).astype(np.intp)

    def add(self, counters: np.ndarray) -> None:
        """One more story has these counters' shingles (a counter listed twice counts once)."""
        self.counts[counters] = np.minimum(self.counts[counters], self.CEILING - 1) + 1

    def add_stories(self, texts: list[Text]) -> None:
        """Count many stories at once (each story's counters once)."""
        if not texts:
            return
        counters = np.concatenate([text.counters(self) for text in texts])
        owner = np.repeat(np.arange(len(texts), dtype=np.int64), [len(text.shingles) for text in texts])
        distinct = unique_sorted((owner << self.bits) | counters)
        # Counted per shingle, not over the whole table: the table grows with the stories fetched,
        # and a pass over it would cost time and memory in proportion. Sorted and counted by runs:
        # NumPy 2's np.unique(return_counts=True) takes several times as long.
        counters = np.sort(distinct & ((1 << self.bits) - 1))
        starts = np.flatnonzero(np.diff(counters, prepend=-1))
        stories = np.diff(starts, append=len(counters)) + self.counts[counters[starts]]
        self.counts[counters[starts]] = np.minimum(stories, self.CEILING)


class ShingleMarks:
    """Which shingles one text has, as a table a whole array of shingles is looked up in at once.

    A slot holds the shingle whose low bits are its number. Free slots hold a value whose
    low bits differ from their number, so no shingle matches them. Two shingles of one text
    that share a slot make one of them look absent: a text of n shingles loses about
    n / 131,072 of them (0.6%, five shingles, for 800 words).
    """

    BITS = 16
    MASK = np.uint32((1 << BITS) - 1)

    def __init__(self) -> None:
        self.free = np.arange(1 << self.BITS, dtype=np.uint32) ^ np.uint32(1)
        self.table = self.free.copy()
        self.marked = np.zeros(0, dtype=np.intp)

    def mark(self, text: Text) -> None:
        """Forget the text marked before, and mark this one's shingles."""
        self.table[self.marked] = self.free[self.marked]
        self.table[text.marks] = text.shingles
        self.marked = text.marks

    def has(self, text: Text) -> np.ndarray:
        """For each shingle of `text`, whether the marked text has it."""
        return self.table[text.marks] == text.shingles


@dataclass(frozen=True)
class Overlap:
    """How a page and a reference text overlap, in words that are each text's own."""

    own: tuple[int, int]  # (page, reference)
    shared: tuple[int, int]

    @property
    def containment(self) -> float:
        """Share of the smaller text's own words that lie in shingles the other text has."""
        smaller = 0 if self.own[0] <= self.own[1] else 1
        return self.shared[smaller] / self.own[smaller] if self.own[smaller] else 0.0

    @property
    def resemblance(self) -> float:
        """Share of both texts' own words found in the other (ranks candidate stories)."""
        total = self.own[0] + self.own[1]
        return (self.shared[0] + self.shared[1]) / total if total else 0.0

    def verifies(self, config: DedupConfig) -> bool:
        """A copy: most of the smaller text's own words are in the other, and there are enough."""
        return min(self.own) >= config.min_own_words and self.containment >= config.containment_threshold


class Verifier:
    """Measures one page against candidate reference texts (one page at a time)."""

    def __init__(self, config: DedupConfig, frequency: StoryFrequency) -> None:
        self.config = config
        self.frequency = frequency
        self._page_marks = ShingleMarks()
        self._reference_marks = ShingleMarks()
        self._page = Text(np.zeros(0, dtype=np.uint32), 0)
        self._page_counts = np.zeros(0, dtype=np.int32)

    def start(self, page: Text) -> None:
        self._page = page
        self._page_marks.mark(page)
        self._page_counts = self.frequency.counts[page.counters(self.frequency)].astype(np.int32)

    def may_verify(self, reference: Text) -> bool:
        """Whether the current page and a reference share enough shingles to verify at all, a
        cheap check before `overlap`: a shared shingle covers at most `shingle_words` words, and
        a copy needs `containment_threshold` of at least `min_own_words` words of the smaller
        text shared. A stored story met through one stock phrase stops here."""
        config = self.config
        needed = config.containment_threshold * config.min_own_words / config.shingle_words
        self._reference_marks.mark(reference)
        page_side = np.count_nonzero(self._reference_marks.has(self._page))
        return page_side >= needed or np.count_nonzero(self._page_marks.has(reference)) >= needed

    def overlap(self, reference: Text) -> Overlap:
        """Own and shared words of the current page and a story's reference text.

        A shingle that `common_stories` or more *other* stories have is common: it is
        neither a text's own nor evidence that the texts are copies.
        """
        page, size, common = self._page, self.config.shingle_words, self.config.common_stories
        self._reference_marks.mark(reference)
        in_reference = self._reference_marks.has(page)
        page_own = self._page_counts - in_reference < common  # the reference's story is not "other"
        reference_own = self.frequency.counts[reference.counters(self.frequency)] <= common
        page_words = page.covered_words(page_own, page_own & in_reference, size)
        reference_words = reference.covered_words(
            reference_own, reference_own & self._page_marks.has(reference), size
        )
        return Overlap(own=(page_words[0], reference_words[0]), shared=(page_words[1], reference_words[1]))
