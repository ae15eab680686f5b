"""Find syndicated copies: exact text hashes, then MinHash LSH candidates verified exactly.

A page joins a story only by verifying against that story's canonical text (no
transitive chains), by Jaccard similarity of word shingles or by containment, so a
truncated or extended wire copy still matches. Signatures are computed for whole
batches at once with numpy and wrapped in datasketch's LeanMinHash for the LSH.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import xxhash
from datasketch import LeanMinHash, MinHash, MinHashLSH

from pipeline.config import DedupConfig
from pipeline.records import Decision, Document

WORD = re.compile(r"\w+")
MAX_HASH = np.uint32((1 << 32) - 1)


def words(text: str) -> list[str]:
    """Lowercased word tokens; punctuation, case and Unicode variants do not matter."""
    return WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def text_hash(text: str) -> str:
    """Hash of the normalised words: equal for copies that differ only in layout."""
    return hashlib.sha256(" ".join(words(text)).encode()).hexdigest()[:32]


def shingles(text: str, size: int) -> np.ndarray:
    """Sorted unique 32-bit hashes of the text's `size`-word shingles."""
    tokens = words(text)
    if len(tokens) < size:
        grams = [" ".join(tokens)] if tokens else []
    else:
        grams = [" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)]
    hashes = np.fromiter(
        (xxhash.xxh32_intdigest(g.encode()) for g in grams), dtype=np.uint32, count=len(grams)
    )
    return np.unique(hashes)


class Signer:
    """MinHash signatures for many shingle sets at once, equal to datasketch's own.

    datasketch 2.0's default "affine32" scheme: each 32-bit hash is pre-mixed with the
    MurmurHash3 finalizer, then permutation k is `a_k * h + b_k` in wrapping uint32.
    Doing that for a whole batch in numpy is what makes the dedup stage fast.
    """

    SCHEME = "affine32"
    FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)

    def __init__(self, num_perm: int, seed: int) -> None:
        self.seed = seed
        a, b = MinHash(num_perm=num_perm, seed=seed, scheme=self.SCHEME).permutations
        self.a = a.astype(np.uint32)
        self.b = b.astype(np.uint32)

    @classmethod
    def _premix(cls, hv: np.ndarray) -> np.ndarray:
        s1, m1, s2, m2, s3 = cls.FMIX32
        hv = hv ^ (hv >> np.uint32(s1))
        hv = hv * np.uint32(m1)
        hv = hv ^ (hv >> np.uint32(s2))
        hv = hv * np.uint32(m2)
        return hv ^ (hv >> np.uint32(s3))

    def signatures(self, shingle_sets: list[np.ndarray], chunk: int = 1 << 15) -> np.ndarray:
        """One row of `num_perm` minimum hash values per shingle set (an empty set gives all-max)."""
        rows = np.full((len(shingle_sets), len(self.a)), MAX_HASH, dtype=np.uint32)
        lengths = np.array([len(s) for s in shingle_sets], dtype=np.int64)
        nonempty = np.flatnonzero(lengths)
        if len(nonempty) == 0:
            return rows
        values = self._premix(np.concatenate([shingle_sets[i] for i in nonempty]).astype(np.uint32))
        owner = np.repeat(nonempty, lengths[nonempty])
        a, b = self.a[:, None], self.b[:, None]
        with np.errstate(over="ignore"):
            for lo in range(0, len(values), chunk):  # chunks bound memory to num_perm x chunk
                permuted = a * values[None, lo : lo + chunk] + b  # one row per permutation: contiguous
                docs = owner[lo : lo + chunk]
                first = np.concatenate(([0], np.flatnonzero(np.diff(docs)) + 1))
                np.minimum.at(rows, docs[first], np.minimum.reduceat(permuted, first, axis=1).T)
        return rows

    def lean(self, signature: np.ndarray) -> LeanMinHash:
        return LeanMinHash(seed=self.seed, hashvalues=signature, scheme=self.SCHEME)


def similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Exact Jaccard and containment (share of the smaller set found in the other)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0, 0.0
    shared = len(np.intersect1d(a, b, assume_unique=True))
    return shared / (len(a) + len(b) - shared), shared / min(len(a), len(b))


@dataclass
class Story:
    """What the index keeps of one story: enough to verify a new page against its canonical."""

    story_id: str
    canonical_url: str
    sort_time: str
    text_length: int
    shingles: np.ndarray  # uint32, sorted unique
    signature: np.ndarray  # uint32, num_perm


def match(shingle_set: np.ndarray, story: Story, config: DedupConfig) -> tuple[float, str] | None:
    """(similarity, method) if the page verifies as a copy of the story's canonical, else None."""
    jaccard, containment = similarity(shingle_set, story.shingles)
    if jaccard >= config.jaccard_threshold:
        return jaccard, "jaccard"
    smaller = min(len(shingle_set), len(story.shingles))
    if smaller >= config.min_containment_shingles and containment >= config.containment_threshold:
        return containment, "containment"
    return None


def new_story_id(doc: Document) -> str:
    return "s_" + hashlib.sha256(f"{doc.url}\n{doc.content_sha}".encode()).hexdigest()[:20]


class Deduplicator:
    """Assign documents to stories, against stories known from earlier runs and this one."""

    def __init__(self, config: DedupConfig, stories: list[Story], exact: dict[str, str]) -> None:
        self.config = config
        self.signer = Signer(config.num_perm, config.seed)
        self.lsh = MinHashLSH(num_perm=config.num_perm, params=(config.bands, config.rows))
        self.stories: dict[str, Story] = {}
        self.exact = dict(exact)  # text hash -> story id
        self.new_story_ids: list[str] = []
        self.new_exact: dict[str, str] = {}
        for story in stories:
            self._add(story)

    def _add(self, story: Story) -> None:
        self.stories[story.story_id] = story
        self.lsh.insert(story.story_id, self.signer.lean(story.signature), check_duplication=False)

    def assign(self, docs: list[Document]) -> list[Decision]:
        """Decide for each document, earliest first, so a story's canonical is its first publication."""
        order = sorted(range(len(docs)), key=lambda i: (docs[i].sort_time, -len(docs[i].text), docs[i].url))
        shingle_sets = [shingles(doc.text, self.config.shingle_words) for doc in docs]
        signatures = self.signer.signatures(shingle_sets)
        decisions: list[Decision | None] = [None] * len(docs)
        for i in order:
            decisions[i] = self._decide(docs[i], shingle_sets[i], signatures[i])
        return decisions  # type: ignore[return-value]

    def _decide(self, doc: Document, shingle_set: np.ndarray, signature: np.ndarray) -> Decision:
        digest = text_hash(doc.text)
        story_id = self.exact.get(digest)
        if story_id is not None:
            story = self.stories[story_id]
            return self._joined(doc, story, 1.0, "exact")
        best: tuple[float, str, Story] | None = None
        for candidate in self.lsh.query(self.signer.lean(signature)):
            story = self.stories[candidate]
            verified = match(shingle_set, story, self.config)
            if verified and (best is None or verified[0] > best[0]):
                best = (*verified, story)
        if best is not None:
            return self._joined(doc, best[2], best[0], best[1], digest)
        story = Story(new_story_id(doc), doc.url, doc.sort_time, len(doc.text), shingle_set, signature)
        self._add(story)
        self.new_story_ids.append(story.story_id)
        self._remember(digest, story.story_id)
        return Decision("canonical", story.story_id, doc.url)

    def _joined(self, doc: Document, story: Story, score: float, method: str, digest: str = "") -> Decision:
        if digest:
            self._remember(digest, story.story_id)
        if doc.url == story.canonical_url:  # the canonical page itself, reprocessed
            return Decision("canonical", story.story_id, doc.url)
        return Decision("duplicate", story.story_id, story.canonical_url, round(score, 4), method)

    def _remember(self, digest: str, story_id: str) -> None:
        if digest not in self.exact:
            self.exact[digest] = story_id
            self.new_exact[digest] = story_id
