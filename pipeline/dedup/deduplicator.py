"""Find syndicated copies and pick each story's canonical publication.

A page joins a story only by verifying against the story's reference text (its
canonical so far), never through a chain of copies (`verification`); MinHash LSH
(`signatures`) only proposes the candidates; `canonical` picks the original. docs/dedup.md
explains the method and why each threshold has its value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from pipeline.config import DedupConfig
from pipeline.dedup.canonical import Candidate, CanonicalChoice, Window, publication_window
from pipeline.dedup.shingles import shingle_batch
from pipeline.dedup.signatures import Neighbours, Postings, candidate_keys, shared_keys_within
from pipeline.dedup.stories import Story, Supersession, new_story_id
from pipeline.dedup.verification import Overlap, StoryFrequency, Text, Verifier
from pipeline.records import Decision, Document

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


class StoredStories(Protocol):
    """The stories of earlier runs, as deduplication asks for them: in batches, by key.

    `pipeline.dedup.index.IndexState` answers from the store's segments.
    """

    def candidates(self, keys: Postings, max_bucket: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(text, story key, keys shared) for every stored story sharing candidate keys with a text."""
        ...

    def stories_of_texts(self, digests: np.ndarray) -> np.ndarray:
        """For each text digest, the key of the story that placed that text (0: none)."""
        ...

    def stories(self, keys: np.ndarray) -> dict[int, Story]:
        """The current version of each of these stories (by key)."""
        ...


class Deduplicator:
    """Assign documents to stories, against stories known from earlier runs and each other.

    `stored` names the texts earlier runs placed (`Text.digest` -> story), copies as well as
    canonicals: a page with one of those texts is that story's, whatever verification would
    say today. Only the stored stories a page of the batch shares candidate keys with (the
    `max_candidates` sharing most) are fetched. After `assign`, `changed` holds the stories
    created or given a new canonical (what the index must store), `superseded` the stored
    canonicals that were replaced and `placed_texts` the digest and story of every page of
    the batch.
    """

    def __init__(self, config: DedupConfig, stored: StoredStories | None = None) -> None:
        self.config = config
        self.stored = stored
        self._stored: list[Story] = []
        self._stored_texts: list[Text] = []
        self.changed: list[Story] = []
        self.superseded: list[Supersession] = []
        self.placed_texts: dict[int, str] = {}

    def _fetch_stored(self, keys: Postings, digests: np.ndarray) -> tuple[Neighbours, dict[int, int]]:
        """Fetch the stored stories the batch may join: for each page the `max_candidates` sharing
        most keys with it, and the stories holding one of its texts word for word. Returns each
        page's stored neighbours (numbered as fetched) and the fetched story of each known text."""
        none = Neighbours.of_pairs(keys.count, *(np.zeros(0, np.int64),) * 3)
        if self.stored is None:
            return none, {}
        page, story, shared = self.stored.candidates(keys, self.config.max_bucket)
        order = np.lexsort((story, -shared, page))  # per page, most shared first
        page, story, shared = page[order], story[order], shared[order]
        starts = np.searchsorted(page, page, side="left")
        keep = np.arange(len(page)) - starts < self.config.max_candidates
        page, story, shared = page[keep], story[keep], shared[keep]
        twins = self.stored.stories_of_texts(digests)
        wanted = np.unique(np.concatenate((story, twins[twins != 0])))
        fetched = self.stored.stories(wanted)
        number = {key: n for n, key in enumerate(fetched)}
        self._stored = list(fetched.values())
        self._stored_texts = [Text(s.shingles, s.words) for s in self._stored]
        found = np.array([key in number for key in story.tolist()], dtype=bool)
        rows = np.array([number[key] for key in story[found].tolist()], dtype=np.int64)
        order = np.lexsort((rows, page[found]))
        neighbours = Neighbours.of_pairs(keys.count, page[found][order], rows[order], shared[found][order])
        known = {
            digest: number[twin]
            for digest, twin in zip(digests.tolist(), twins.tolist(), strict=True)
            if twin in number
        }
        known.update((text.digest, n) for n, text in enumerate(self._stored_texts))
        return neighbours, known

    def _window(self, published_at: str | None, fetched_at: str) -> Window:
        return publication_window(published_at, fetched_at, self.config.unzoned_hours)

    def assign(self, docs: list[Document]) -> list[Decision]:
        """Decide for each document: a story's canonical, or a copy of one.

        Pages are placed earliest first (the longest first among equals). A page whose text
        a story already holds (word for word) joins that story; any other joins the candidate
        story it verifies against best, or else a new story of its own.
        """
        config = self.config
        shingle_lists, word_counts = shingle_batch(
            [doc.text for doc in docs], config.shingle_words, config.text_batch_characters
        )
        texts = [
            Text(shingles, words) for shingles, words in zip(shingle_lists, word_counts.tolist(), strict=True)
        ]
        windows = [self._window(doc.published_at, doc.fetched_at) for doc in docs]
        order = sorted(range(len(docs)), key=lambda i: (windows[i].middle, -texts[i].words, docs[i].url))
        rank_of = np.empty(len(docs), dtype=np.int64)
        rank_of[order] = np.arange(len(docs))
        keys = candidate_keys(shingle_lists, config).renumbered(rank_of)
        digests = np.array([text.digest for text in texts], dtype=np.uint64)
        stored_neighbours, stored_of_text = self._fetch_stored(keys, digests[order])
        batch_neighbours = Neighbours.of_pairs(keys.count, *shared_keys_within(keys, config.max_bucket))
        frequency = StoryFrequency(
            config.frequency_counters,
            sum(map(len, shingle_lists)) + sum(len(t.shingles) for t in self._stored_texts),
        )
        frequency.add_stories(self._stored_texts)
        verifier = Verifier(config, frequency)
        # A stored story met only as a candidate stays None, its stored text the reference: most
        # are met through a stock phrase and never joined, and need no group of their own.
        groups: list[_Group | None] = []
        group_of_stored: dict[int, int] = {}
        stored_of_group: dict[int, int] = {}
        group_of_text: dict[int, int] = {}  # text digest -> the group of the batch's pages with that text
        group_of_rank: list[int] = []  # the group each page (in placing order) went to

        def stored_group(stored: int) -> int:
            if stored not in group_of_stored:
                group_of_stored[stored] = len(groups)
                stored_of_group[len(groups)] = stored
                groups.append(None)
            return group_of_stored[stored]

        def joined(number: int) -> _Group:
            group = groups[number]
            if group is None:
                group = groups[number] = self._stored_group(stored_of_group[number], frequency)
            return group

        def reference(number: int) -> Text:
            group = groups[number]
            return self._stored_texts[stored_of_group[number]] if group is None else group.text

        for rank, i in enumerate(order):
            candidate, digest = Candidate(windows[i], texts[i]), texts[i].digest
            twin = group_of_text.get(digest)
            if twin is None and digest in stored_of_text:
                twin = stored_group(stored_of_text[digest])
            if twin is not None:
                group_of_rank.append(twin)
                joined(twin).join_identical(i, candidate, frequency)
                continue
            bands: dict[int, int] = {}  # candidate group -> most LSH bands shared with one of its pages
            for stored, shared in stored_neighbours.of(rank):
                group = stored_group(stored)
                bands[group] = max(shared, bands.get(group, 0))
            for earlier, shared in batch_neighbours.of(rank):
                bands[group_of_rank[earlier]] = max(shared, bands.get(group_of_rank[earlier], 0))
            ranked = sorted(bands, key=lambda g: -bands[g])[: config.max_candidates]
            best = self._best_match(texts[i], [reference(g) for g in ranked], verifier)
            group_of_text[digest] = len(groups) if best is None else ranked[best[0]]
            group_of_rank.append(group_of_text[digest])
            if best is None:
                frequency.add(texts[i].counters(frequency))
                groups.append(_Group(self._choice(candidate), [i], texts[i].counters(frequency), members=[i]))
            else:
                joined(ranked[best[0]]).join(i, candidate, best[1], frequency)
        placed = [group for group in groups if group is not None and group.members]
        return self._decide(docs, texts, placed, verifier)

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
            if not verifier.may_verify(reference):
                continue
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
