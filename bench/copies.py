"""Benchmark: recall on truncated and extended copies built from pages outside the dev syndication set.

    python bench/copies.py

The originals are the five seed scrapes and the extraction-dev articles that syndication-dev
does not use (at least `--min-words` words). Each original gets copies the way wire copy is
republished: truncated to a fraction of its words, extended with paragraphs of other
articles with their words shuffled (after, before or
around the original), each also with light rewording (one word in
twelve replaced). A copy is found when it lands in its original's story; precision counts
the pairs the dedup stage put in one story that are not copies of one original. The dedup
stage runs alone (no cleaning), all pages in one batch, originals an hour before their copies.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import load_config
from pipeline.dedup import Deduplicator
from pipeline.records import Document

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
EXTRACTION_DEV = Path("/work/shared/eval/extraction-dev/ground-truth.json")
SYNDICATION_DEV = Path("/work/shared/eval/syndication-dev/labels.json")
TRUNCATE = (0.1, 0.15, 0.2, 0.3, 0.5)
EXTEND = (1.0, 2.0, 4.0, 8.0)
PLACES = ("after", "before", "around")


def originals(extraction: Path, syndication: Path, min_words: int) -> list[str]:
    """Seed texts, and extraction-dev bodies whose opening syndication-dev does not use."""
    def opening(text: str) -> str:
        return " ".join(text.split()[:12])

    used = {opening(label["text"]) for label in json.loads(syndication.read_text()).values() if label["text"]}
    bodies = [page.get("articleBody") or "" for page in json.loads(extraction.read_text()).values()]
    texts = [path.read_text() for path in sorted(SEEDS.glob("*.txt"))]
    texts += [body for body in bodies if opening(body) not in used]
    return [text for text in texts if len(text.split()) >= min_words]


def paragraphs(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def truncated(text: str, share: float) -> str:
    """The first `share` of the words, whole lines kept as lines."""
    keep, lines = max(1, round(share * len(text.split()))), []
    for line in paragraphs(text):
        words = line.split()
        lines.append(" ".join(words[:keep]))
        keep -= len(words)
        if keep <= 0:
            break
    return "\n".join(lines)


def filler(donors: list[str], words: int, rng: np.random.Generator) -> list[str]:
    """About `words` words of new local paragraphs: paragraphs of other articles with their
    words shuffled, so they have the length and vocabulary of news but no passage in common
    with any other page (shared passages are a separate hard case, in syndication-dev)."""
    pool = [paragraph.split() for donor in donors for paragraph in paragraphs(donor)]
    chosen: list[str] = []
    for place in rng.permutation(len(pool)).tolist():
        chosen.append(" ".join(rng.permutation(pool[place]).tolist()))
        words -= len(pool[place])
        if words <= 0:
            break
    return chosen


def extended(text: str, share: float, place: str, donors: list[str], rng: np.random.Generator) -> str:
    added = filler(donors, round(share * len(text.split())), rng)
    own = paragraphs(text)
    if place == "after":
        return "\n".join(own + added)
    if place == "before":
        return "\n".join(added + own)
    half = len(added) // 2
    return "\n".join(added[:half] + own + added[half:])


def reworded(text: str, rng: np.random.Generator) -> str:
    """One word in twelve replaced by another word of the text."""
    lines = [line.split() for line in text.splitlines()]
    vocabulary = [word for line in lines for word in line]
    for line in lines:
        for place in range(len(line)):
            if rng.random() < 1 / 12:
                line[place] = vocabulary[rng.integers(len(vocabulary))]
    return "\n".join(" ".join(line) for line in lines)


def copies_of(texts: list[str], seed: int, min_words: int) -> list[tuple[int, str, str]]:
    """(original, kind, text) for every copy of at least `min_words` words."""
    rng = np.random.default_rng(seed)
    made = []
    for number, text in enumerate(texts):
        donors = texts[:number] + texts[number + 1 :]
        variants = [(f"truncate {share}", truncated(text, share)) for share in TRUNCATE]
        variants += [
            (f"extend {share} {place}", extended(text, share, place, donors, rng))
            for share in EXTEND
            for place in PLACES
        ]
        for kind, copy in variants:
            made.append((number, kind, copy))
            made.append((number, kind + " reworded", reworded(copy, rng)))
    return [(number, kind, copy) for number, kind, copy in made if len(copy.split()) >= min_words]


def document(url: str, text: str, hour: int) -> Document:
    return Document(
        url=url,
        text=text,
        fetched_at="2021-03-02T00:00:00Z",
        content_sha=url,
        published_at=f"2021-03-01T{hour:02d}:00:00Z",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", help="YAML settings file")
    parser.add_argument("--min-words", type=int, default=60)
    parser.add_argument(
        "--min-copy-words",
        type=int,
        default=30,
        help="shorter copies are left out: below min_own_words (25) a copy is not judged at all",
    )
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--extraction", type=Path, default=EXTRACTION_DEV)
    parser.add_argument("--syndication", type=Path, default=SYNDICATION_DEV)
    parser.add_argument("--misses", action="store_true", help="list the copies not found")
    args = parser.parse_args()
    config = load_config(args.config)
    texts = originals(args.extraction, args.syndication, args.min_words)
    made = copies_of(texts, args.seed, args.min_copy_words)
    docs = [document(f"https://original{n}.example/", text, 1) for n, text in enumerate(texts)]
    docs += [document(f"https://copy{c}.example/{n}", text, 2) for c, (n, _, text) in enumerate(made)]
    decisions = Deduplicator(config.dedup).assign(docs)
    story = [decision.story_id for decision in decisions]
    gold = list(range(len(texts))) + [number for number, _, _ in made]
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c, (number, kind, text) in enumerate(made):
        joined = story[len(texts) + c] == story[number]
        group = kind.split()[0] + (" reworded" if kind.endswith("reworded") else "")
        found[group][0] += joined
        found[group][1] += 1
        if args.misses and not joined:
            print(f"missed: original {number} ({len(texts[number].split())} words), {kind}, "
                  f"{len(text.split())} words")
    members: dict[str, list[int]] = defaultdict(list)
    for page, name in enumerate(story):
        members[name].append(page)
    predicted = {(a, b) for pages in members.values() for a, b in combinations(pages, 2)}
    true = {pair for pair in predicted if gold[pair[0]] == gold[pair[1]]}
    gold_pairs = sum(n * (n - 1) // 2 for n in Counter(gold).values())
    print(f"originals: {len(texts)}  copies: {len(made)}")
    for group, (joined, total) in sorted(found.items()):
        print(f"  {group:18s} {joined:4d} / {total:4d}  recall {joined / total:.4f}")
    recall = len(true) / gold_pairs
    precision = len(true) / len(predicted) if predicted else 1.0
    print(f"pair_precision {precision:.4f}  pair_recall {recall:.4f}  "
          f"pair_f1 {2 * precision * recall / (precision + recall):.4f}")


if __name__ == "__main__":
    main()
