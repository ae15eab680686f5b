"""Find syndicated copies and pick each story's canonical publication.

A page joins a story only by verifying against the story's reference text (its
canonical so far), never through a chain of copies. Verification is containment
counted in words: the share of the smaller text's own words that lie in word shingles
the other text also has. A shingle that several other stories have (a quoted
statement, a company's "About" paragraph) is nobody's own and is no evidence. MinHash
LSH (see `pipeline.shingles`) only proposes the candidates. docs/dedup.md explains the
method and why each threshold has its value.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import numpy as np

from pipeline.config import DedupConfig
from pipeline.records import Decision, Document
from pipeline.shingles import (
    Neighbours,
    Signer,
    band_keys,
    minhash_sample,
    shared_bands,
    shared_bands_within,
    shingle_batch,
    unique_sorted,
)

DAY_SECONDS = 24 * 3600


# --- verification ---------------------------------------------------------------------------------


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
    has at least four counters per distinct shingle, so shingles rarely share one.
    """

    def __init__(self, expected_shingles: int) -> None:
        self.bits = max(16, math.ceil(math.log2(4 * max(1, expected_shingles))))
        self.counts = np.zeros(1 << self.bits, dtype=np.int32)

    def slots(self, shingles: np.ndarray) -> np.ndarray:
        """The counter of each shingle."""
        return (shingles >> np.uint32(32 - self.bits)).astype(np.intp)

    def add(self, counters: np.ndarray) -> None:
        """One more story has these counters' shingles (a counter listed twice counts once)."""
        self.counts[counters] += 1

    def add_stories(self, texts: list[Text]) -> None:
        """Count many stories at once (each story's counters once)."""
        if not texts:
            return
        counters = np.concatenate([text.counters(self) for text in texts])
        owner = np.repeat(np.arange(len(texts), dtype=np.int64), [len(text.shingles) for text in texts])
        distinct = unique_sorted((owner << self.bits) | counters)
        self.counts += np.bincount(distinct & ((1 << self.bits) - 1), minlength=len(self.counts)).astype(
            np.int32
        )


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
        self._page_counts = self.frequency.counts[page.counters(self.frequency)]

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


# --- which copy is the original -------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """When a page may have been published, in POSIX seconds (a point when the page says so)."""

    earliest: float
    latest: float

    @property
    def middle(self) -> float:
        return self.latest if self.earliest == -math.inf else (self.earliest + self.latest) / 2

    def precedes(self, other: Window) -> bool:
        """Certainly published before `other`."""
        return self.latest < other.earliest


def _seconds(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def publication_window(published_at: str | None, fetched_at: str, unzoned_hours: float) -> Window:
    """The window a page's publication lies in.

    A time with a zone is a point; a time without one is read as UTC, give or take
    `unzoned_hours`, and so are the ends of a bare day. With no usable date, the page was
    out by the time it was fetched.
    """
    fetched = _seconds(datetime.fromisoformat(fetched_at.replace("Z", "+00:00")))
    try:
        moment = datetime.fromisoformat((published_at or "").replace("Z", "+00:00"))
    except ValueError:
        return Window(-math.inf, fetched)
    slack = unzoned_hours * 3600
    if len(published_at or "") <= len("2020-09-14"):  # a bare day
        start = _seconds(moment)
        return Window(start - slack, start + DAY_SECONDS - 1 + slack)  # the last second of the day
    if moment.tzinfo is None:
        return Window(_seconds(moment) - slack, _seconds(moment) + slack)
    return Window(_seconds(moment), _seconds(moment))


@dataclass
class Candidate:
    """A member of a story as the canonical choice sees it."""

    window: Window
    text: Text


def _reserve(array: np.ndarray, size: int) -> np.ndarray:
    """`array` with room for at least `size` items, doubling so that growing costs O(1) amortised."""
    if size <= len(array):
        return array
    grown = np.zeros(max(size, 2 * len(array)), dtype=array.dtype)
    grown[: len(array)] = array
    return grown


class _Tally:
    """For each distinct shingle of a story's members: how many members have it, and its weight
    (the sum of 1/size over them); for each member, how many of its shingles no other has.

    A member is kept as its difference from the first member, whose shingles are the first
    columns: a member's total weight is the first member's plus that of what it added, minus
    that of what it lacks. Copies differ from each other in a few shingles, so recomputing
    every member's total costs the differences, not all members' text.
    """

    def __init__(self) -> None:
        self.known = np.zeros(0, dtype=np.uint32)  # every distinct shingle so far, sorted
        self.known_columns = np.zeros(0, dtype=np.intp)  # the column of each
        self.weight = np.zeros(0, dtype=np.float64)
        self.holders = np.zeros(0, dtype=np.int64)
        self.owner = np.zeros(0, dtype=np.int64)  # the member that has a column, while it is the only one
        self.sizes: list[int] = []  # distinct shingles of each member
        self.alone = np.zeros(0, dtype=np.int64)  # each member's shingles that no other member has
        self.first_columns = 0
        # what each member added to (+1) or lacks of (-1) the first member: column, sign, member
        self._difference_rows = (np.zeros(0, np.intp), np.zeros(0, np.float64), np.zeros(0, np.intp))

    def _columns(self, distinct: np.ndarray) -> np.ndarray:
        """The column of each of these distinct sorted shingles, new ones given the next free ones."""
        places = np.searchsorted(self.known, distinct)
        found = places < len(self.known)
        found[found] = self.known[places[found]] == distinct[found]
        columns = np.empty(len(distinct), dtype=np.intp)
        columns[found] = self.known_columns[places[found]]
        new = ~found
        columns[new] = np.arange(len(self.known), len(self.known) + np.count_nonzero(new))
        self.known = np.insert(self.known, places[new], distinct[new])
        self.known_columns = np.insert(self.known_columns, places[new], columns[new])
        return columns

    def add(self, shingles: np.ndarray) -> None:
        member, known = len(self.sizes), len(self.known)
        distinct = unique_sorted(shingles)
        columns = self._columns(distinct)
        self.weight = _reserve(self.weight, len(self.known))
        self.holders = _reserve(self.holders, len(self.known))
        self.owner = _reserve(self.owner, len(self.known))
        self.alone = _reserve(self.alone, member + 1)
        old, new = columns[columns < known], columns[columns >= known]
        self.alone -= np.bincount(self.owner[old[self.holders[old] == 1]], minlength=len(self.alone))
        self.owner[new] = member
        self.alone[member] = len(new)
        self.holders[columns] += 1
        self.weight[columns] += 1.0 / max(1, len(distinct))
        self.sizes.append(len(distinct))
        if member == 0:
            self.first_columns = len(distinct)
        lacking = np.ones(self.first_columns, dtype=bool)
        lacking[columns[columns < self.first_columns]] = False
        added = columns[columns >= self.first_columns]
        missing = np.flatnonzero(lacking)
        columns_so_far, signs, owners = self._difference_rows
        self._difference_rows = (
            np.concatenate((columns_so_far, added, missing)),
            np.concatenate((signs, np.ones(len(added)), -np.ones(len(missing)))),
            np.concatenate((owners, np.full(len(added) + len(missing), member, dtype=np.intp))),
        )

    def support(self) -> np.ndarray:
        """Each member's mean share of each other member's shingles that it has."""
        columns, signs, owners = self._difference_rows
        count = len(self.sizes)
        totals = self.weight[: self.first_columns].sum() + np.bincount(
            owners, weights=signs * self.weight[columns], minlength=count
        )
        sizes = np.array(self.sizes, dtype=np.float64)
        return (totals - sizes / np.maximum(1.0, sizes)) / (count - 1)

    def added_share(self) -> np.ndarray:
        """Each member's share of its shingles that no other member has."""
        return self.alone[: len(self.sizes)] / np.maximum(1.0, np.array(self.sizes, dtype=np.float64))


class CanonicalChoice:
    """Which member of a story is its original publication, kept up to date as members join.

    Time first: a member that another certainly precedes is out. Among the rest, the
    fullest: the one holding most of the other members' text (a truncated copy does not),
    within `support_tolerance` of the best. Then, when at least three members can tell,
    the one with the least text that no other member has (copies add datelines, trailers,
    notes, local paragraphs); then the longest; then the first added.

    Joining costs the new member's shingles plus the members' differences from the first
    one, not a recount of every member's text: which members may be earliest is updated as
    pages join, and the text counts only start when two members first tie in time (with
    exact times they rarely do).
    """

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.members: list[Candidate] = []
        self.best = 0
        self._first_end = math.inf  # no member can have been published after this
        self._earliest: list[int] = []  # members that no other member certainly precedes
        self._tally: _Tally | None = None

    def add(self, member: Candidate) -> int:
        """Add a member; the index of the original among the members so far."""
        number = len(self.members)
        self.members.append(member)
        if member.window.latest < self._first_end:
            self._first_end = member.window.latest
            self._earliest = [i for i in self._earliest if self.members[i].window.earliest <= self._first_end]
        if member.window.earliest <= self._first_end:
            self._earliest.append(number)
        if self._tally is not None:
            self._tally.add(member.text.shingles)
        elif len(self._earliest) > 1:
            self._tally = _Tally()  # the first tie: count every member once, then keep the counts
            for earlier in self.members:
                self._tally.add(earlier.text.shingles)
        if len(self._earliest) == 1 or self._tally is None:
            self.best = self._earliest[0]
        else:
            self.best = self._fullest(self._tally)
        return self.best

    def _fullest(self, tally: _Tally) -> int:
        """Among the members that may be earliest, the full one with least added, then the longest."""
        earliest = np.array(self._earliest)
        support = tally.support()[earliest]
        full = earliest[support >= support.max() - self.config.support_tolerance]
        added = tally.added_share()[full] if len(self.members) >= 3 else np.zeros(len(full))
        # with two members, what one lacks the other "added": no evidence either way
        words = np.array([self.members[i].text.words for i in full])
        return int(full[np.lexsort((full, -words, added))[0]])


# --- stories --------------------------------------------------------------------------------------


@dataclass
class Story:
    """What the index keeps of one story: its canonical page, enough to verify and choose."""

    story_id: str
    canonical_url: str
    published_at: str | None
    fetched_at: str
    words: int
    shingles: np.ndarray  # uint32: the canonical text's shingles in text order


@dataclass(frozen=True)
class Supersession:
    """A stored story's canonical, replaced by an earlier or fuller publication."""

    story_id: str
    old_url: str
    new_url: str


def new_story_id(doc: Document) -> str:
    return "s_" + hashlib.sha256(f"{doc.url}\n{doc.content_sha}".encode()).hexdigest()[:20]


STORED = -1  # stands for the stored canonical where a document of the batch is expected


@dataclass
class _Group:
    """A story while a batch is assigned: its members and which one is the reference."""

    choice: CanonicalChoice  # the stored canonical (if any) first, then members that may be the original
    chosen: list[int]  # the document of each member of `choice` (STORED for the stored canonical)
    counted: np.ndarray  # the StoryFrequency counters this story has added to
    stored: Story | None = None
    members: list[int] = field(default_factory=list)  # documents of this batch
    joined: dict[int, tuple[int, Overlap]] = field(default_factory=dict)  # member -> (reference, overlap)

    @property
    def reference(self) -> int:
        """The member the story's pages verify against: its canonical so far."""
        return self.choice.best

    @property
    def canonical(self) -> int:
        """The document that is the story's canonical so far (STORED: the stored one)."""
        return self.chosen[self.reference]

    @property
    def text(self) -> Text:
        return self.choice.members[self.reference].text

    def join(self, doc: int, candidate: Candidate, found: Overlap | None, frequency: StoryFrequency) -> None:
        """Add a member; it becomes the reference if it is the better original."""
        if found is not None:
            self.joined[doc] = (self.reference, found)
        self.members.append(doc)
        self.chosen.append(doc)
        before = self.reference
        if self.choice.add(candidate) != before:
            counters = self.text.counters(frequency)
            new = counters[~np.isin(counters, self.counted)]
            frequency.add(new)
            self.counted = np.concatenate((self.counted, new))

    def join_identical(self, doc: int, candidate: Candidate, frequency: StoryFrequency) -> None:
        """Add a page whose text the story already holds.

        Its text was judged when the story first got it, so it brings nothing the choice
        could prefer on content: it is a copy, unless it is certainly published before the
        canonical (the original, found after a verbatim copy of it).
        """
        if candidate.window.precedes(self.choice.members[self.reference].window):
            self.join(doc, candidate, None, frequency)
        else:
            self.members.append(doc)


class Deduplicator:
    """Assign documents to stories, against stories known from earlier runs and each other.

    `known_texts` names the texts earlier runs placed (`Text.digest` -> story id), copies as
    well as canonicals: a page with one of those texts is that story's, whatever verification
    would say today. After `assign`, `changed` holds the stories created or given a new
    canonical (what the index must store), `superseded` the stored canonicals that were
    replaced and `placed_texts` the digest and story of every page of the batch.
    """

    def __init__(
        self, config: DedupConfig, stories: list[Story], known_texts: Mapping[int, str] | None = None
    ) -> None:
        self.config = config
        self.signer = Signer(config.num_perm, config.seed)
        self._stored = list(stories)
        self._stored_texts = [Text(story.shingles, story.words) for story in stories]
        self._stored_keys = self._band_keys([text.shingles for text in self._stored_texts])
        stored_of_story = {story.story_id: number for number, story in enumerate(self._stored)}
        self._stored_of_text = {
            digest: stored_of_story[story_id]
            for digest, story_id in (known_texts or {}).items()
            if story_id in stored_of_story
        }
        self._stored_of_text.update((text.digest, number) for number, text in enumerate(self._stored_texts))
        self.changed: list[Story] = []
        self.superseded: list[Supersession] = []
        self.placed_texts: dict[int, str] = {}

    def _band_keys(self, shingle_lists: list[np.ndarray]) -> np.ndarray:
        values, owner = minhash_sample(shingle_lists, self.config.minhash_sample)
        signatures = self.signer.signatures_of(values, owner, len(shingle_lists))
        return band_keys(signatures, self.config.bands, self.config.rows)

    def _window(self, published_at: str | None, fetched_at: str) -> Window:
        return publication_window(published_at, fetched_at, self.config.unzoned_hours)

    def _neighbours(self, keys: np.ndarray) -> tuple[Neighbours, Neighbours]:
        """For each page (row of `keys`), the stored stories and earlier pages it shares LSH bands with."""
        within = Neighbours.of_pairs(len(keys), *shared_bands_within(keys, self.config.max_bucket))
        if len(self._stored_keys) == 0:
            return Neighbours.of_pairs(len(keys), *(np.zeros(0, np.int64),) * 3), within
        stored = Neighbours.of_pairs(
            len(keys), *shared_bands(keys, self._stored_keys, self.config.max_bucket)
        )
        return stored, within

    def assign(self, docs: list[Document]) -> list[Decision]:
        """Decide for each document: a story's canonical, or a copy of one.

        Pages are placed earliest first (the longest first among equals). A page whose text
        a story already holds (word for word) joins that story; any other joins the candidate
        story it verifies against best, or else a new story of its own.
        """
        config = self.config
        shingle_lists, word_counts = shingle_batch([doc.text for doc in docs], config.shingle_words)
        texts = [
            Text(shingles, words) for shingles, words in zip(shingle_lists, word_counts.tolist(), strict=True)
        ]
        windows = [self._window(doc.published_at, doc.fetched_at) for doc in docs]
        order = sorted(range(len(docs)), key=lambda i: (windows[i].middle, -texts[i].words, docs[i].url))
        keys = self._band_keys(shingle_lists)[order]
        stored_neighbours, batch_neighbours = self._neighbours(keys)
        frequency = StoryFrequency(
            sum(map(len, shingle_lists)) + sum(len(t.shingles) for t in self._stored_texts)
        )
        frequency.add_stories(self._stored_texts)
        verifier = Verifier(config, frequency)
        groups: list[_Group] = []
        group_of_stored: dict[int, int] = {}
        group_of_text: dict[int, int] = {}  # text digest -> the group of the batch's pages with that text
        group_of_rank: list[int] = []  # the group each page (in placing order) went to

        def stored_group(stored: int) -> int:
            if stored not in group_of_stored:
                group_of_stored[stored] = len(groups)
                groups.append(self._stored_group(stored, frequency))
            return group_of_stored[stored]

        for rank, i in enumerate(order):
            candidate, digest = Candidate(windows[i], texts[i]), texts[i].digest
            twin = group_of_text.get(digest)
            if twin is None and digest in self._stored_of_text:
                twin = stored_group(self._stored_of_text[digest])
            if twin is not None:
                group_of_rank.append(twin)
                groups[twin].join_identical(i, candidate, frequency)
                continue
            bands: dict[int, int] = {}  # candidate group -> most LSH bands shared with one of its pages
            for stored, shared in stored_neighbours.of(rank):
                group = stored_group(stored)
                bands[group] = max(shared, bands.get(group, 0))
            for earlier, shared in batch_neighbours.of(rank):
                bands[group_of_rank[earlier]] = max(shared, bands.get(group_of_rank[earlier], 0))
            ranked = sorted(bands, key=lambda g: -bands[g])[: config.max_candidates]
            best = self._best_match(texts[i], [groups[g].text for g in ranked], verifier)
            group_of_text[digest] = len(groups) if best is None else ranked[best[0]]
            group_of_rank.append(group_of_text[digest])
            if best is None:
                frequency.add(texts[i].counters(frequency))
                groups.append(_Group(self._choice(candidate), [i], texts[i].counters(frequency), members=[i]))
            else:
                groups[ranked[best[0]]].join(i, candidate, best[1], frequency)
        return self._decide(docs, texts, [group for group in groups if group.members], verifier)

    def _stored_group(self, stored: int, frequency: StoryFrequency) -> _Group:
        story, text = self._stored[stored], self._stored_texts[stored]
        candidate = Candidate(self._window(story.published_at, story.fetched_at), text)
        return _Group(self._choice(candidate), [STORED], text.counters(frequency), story)

    def _choice(self, first: Candidate) -> CanonicalChoice:
        choice = CanonicalChoice(self.config)
        choice.add(first)
        return choice

    def _best_match(
        self, page: Text, references: list[Text], verifier: Verifier
    ) -> tuple[int, Overlap] | None:
        """The reference the page verifies against with the highest resemblance, if any."""
        if not references:
            return None
        verifier.start(page)
        best: tuple[int, Overlap] | None = None
        for number, reference in enumerate(references):
            found = verifier.overlap(reference)
            if found.verifies(self.config) and (best is None or found.resemblance > best[1].resemblance):
                best = (number, found)
        return best

    def _decide(
        self, docs: list[Document], texts: list[Text], groups: list[_Group], verifier: Verifier
    ) -> list[Decision]:
        """Each page's decision, now that every story's canonical is known."""
        decisions: list[Decision | None] = [None] * len(docs)
        for group in groups:
            story, canonical = self._canonical_story(docs, group)
            self.placed_texts.update((texts[i].digest, story.story_id) for i in group.members)
            for i in group.members:
                if i == canonical:
                    decisions[i] = Decision("canonical", story.story_id, story.canonical_url)
                    continue
                if np.array_equal(texts[i].shingles, group.text.shingles):
                    similarity, method = 1.0, "exact"
                else:
                    reference, found = group.joined.get(i, (-1, None))
                    if reference != group.reference or found is None:
                        verifier.start(texts[i])
                        found = verifier.overlap(group.text)
                    similarity, method = round(found.containment, 4), "containment"
                decisions[i] = Decision("duplicate", story.story_id, story.canonical_url, similarity, method)
        return decisions  # type: ignore[return-value]

    def _canonical_story(self, docs: list[Document], group: _Group) -> tuple[Story, int | None]:
        """The group's story with its chosen canonical, and which page of the batch that is.

        When the stored canonical stays, a page of the batch with its URL (the canonical
        page fetched again) is still the canonical. A new canonical is recorded in `changed`,
        and in `superseded` when it replaces a stored one.
        """
        stored, canonical = group.stored, group.canonical
        if stored is not None and canonical == STORED:
            again = [i for i in group.members if docs[i].url == stored.canonical_url]
            return stored, (again[0] if again else None)
        doc, text = docs[canonical], group.text
        story_id = stored.story_id if stored else new_story_id(doc)
        story = Story(story_id, doc.url, doc.published_at, doc.fetched_at, text.words, text.shingles)
        if stored is not None and stored.canonical_url != doc.url:
            self.superseded.append(Supersession(story_id, stored.canonical_url, doc.url))
        self.changed.append(story)
        return story, canonical
