"""Benchmark: the full ingest on a labelled WARC, scored as story pairs; dedup speed alone.

    python bench/dedup.py --dataset ../shared/eval/syndication-dev

The dataset folder holds `corpus.warc.gz` and `labels.json` ({url: {"cluster",
"original", "transforms", ...}}). The WARC goes through `ingest` into a fresh store
and the lineage is scored: pair precision / recall / F1 (two URLs are a pair when
they share a story), adjusted Rand index, recall per transform, and how often a
story's canonical is its original publication. Speed: pages/s of the whole ingest,
and of the dedup stage alone (shingles, signatures, LSH, verification, canonical
choice) on one core, with datasketch's per-page MinHash for comparison; the time for
many same-day copies of one story (the canonical choice's worst case); and the index's
stored bytes per page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from itertools import combinations
from math import comb
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datasketch import MinHash

from pipeline.clean import finish_run
from pipeline.config import Config, load_config
from pipeline.corpus import iter_lineage
from pipeline.dedup import Deduplicator, index
from pipeline.dedup.shingles import words
from pipeline.extract import extract_files
from pipeline.records import Document
from pipeline.runner import ingest
from pipeline.sources import list_inputs
from pipeline.store import LocalStore


def pairs(clusters: dict[str, str]) -> set[tuple[str, str]]:
    """Every unordered pair of URLs that share a cluster."""
    members: dict[str, list[str]] = defaultdict(list)
    for url, cluster in clusters.items():
        members[cluster].append(url)
    return {tuple(sorted(p)) for urls in members.values() for p in combinations(urls, 2)}  # type: ignore[misc]


def adjusted_rand_index(gold: dict[str, str], predicted: dict[str, str]) -> float:
    urls = list(gold)
    table = Counter((gold[u], predicted[u]) for u in urls)
    sum_cells = sum(comb(n, 2) for n in table.values())
    sum_gold = sum(comb(n, 2) for n in Counter(gold[u] for u in urls).values())
    sum_pred = sum(comb(n, 2) for n in Counter(predicted[u] for u in urls).values())
    expected = sum_gold * sum_pred / comb(len(urls), 2)
    best = (sum_gold + sum_pred) / 2
    return (sum_cells - expected) / (best - expected) if best != expected else 1.0


def current_canonicals(lineage: list[dict]) -> dict[str, str]:
    """Story id -> URL of its canonical, the latest run's word winning (superseding included)."""
    canonical: dict[str, str] = {}
    for row in lineage:
        if row["status"] in {"canonical", "superseded"} and row["article_id"]:
            canonical[row["article_id"]] = (
                row["url"] if row["status"] == "canonical" else row["canonical_url"]
            )
    return canonical


def score(labels: dict[str, dict], lineage: list[dict]) -> dict[str, float | dict]:
    """Pair P/R/F1, ARI, recall per transform, canonical-is-original share.

    A page the pipeline rejected is a story of its own; lineage rows come in commit order.
    """
    predicted = {url: f"single:{url}" for url in labels}
    for row in lineage:
        if row["url"] in labels and row["article_id"] and row["status"] in {"canonical", "duplicate"}:
            predicted[row["url"]] = row["article_id"]
    gold = {url: label["cluster"] for url, label in labels.items()}
    gold_pairs, predicted_pairs = pairs(gold), pairs(predicted)
    true = len(gold_pairs & predicted_pairs)
    precision = true / len(predicted_pairs) if predicted_pairs else 1.0
    recall = true / len(gold_pairs) if gold_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    originals = {label["cluster"]: url for url, label in labels.items() if label["original"]}
    per_transform: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for url, label in labels.items():
        if label["original"]:
            continue
        joined = predicted[url] == predicted[originals[label["cluster"]]]
        for transform in label["transforms"]:
            per_transform[transform][0] += joined
            per_transform[transform][1] += 1
    canonical_of = current_canonicals(lineage)
    multi = [c for c, n in Counter(gold.values()).items() if n > 1]
    right = sum(1 for c in multi if canonical_of.get(predicted[originals[c]]) == originals[c])
    return {
        "pair_precision": precision,
        "pair_recall": recall,
        "pair_f1": f1,
        "adjusted_rand_index": adjusted_rand_index(gold, predicted),
        "canonical_is_original": right / len(multi) if multi else 1.0,
        "recall_per_transform": {t: joined / total for t, (joined, total) in sorted(per_transform.items())},
    }


def cleaned_documents(warc: Path, config: Config) -> list[Document]:
    """Every page of the WARC cleaned as ingest cleans it (canonical and copies alike)."""
    items = extract_files(list_inputs([str(warc)]), config)
    docs = [item for item in items if isinstance(item, Document)]
    return [doc for doc in finish_run(docs, config.clean) if isinstance(doc, Document)]


def dedup_speed(docs: list[Document], config: Config, repeat: int) -> tuple[float, float]:
    """Pages/s of the dedup stage alone on one core: the median and the best of `repeat` runs."""
    Deduplicator(config.dedup).assign(docs)  # builds the per-process character tables
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        Deduplicator(config.dedup).assign(docs)
        rates.append(len(docs) / (time.perf_counter() - started))
    return statistics.median(rates), max(rates)


def copies_seconds(story: Document, copies: int, config: Config) -> float:
    """Seconds to deduplicate `copies` copies of one story, each with a line of its own and all
    dated the same day: they tie in time, so every page that joins makes content decide again."""
    docs = [
        replace(
            story,
            url=f"https://outlet{number}.example/story",
            text=f"Outlet {number} reports.\n{story.text}",
            published_at=story.fetched_at[:10],
        )
        for number in range(copies)
    ]
    started = time.perf_counter()
    decisions = Deduplicator(config.dedup).assign(docs)
    seconds = time.perf_counter() - started
    assert len({decision.story_id for decision in decisions}) == 1, (
        "the copies were not found to be one story"
    )
    return seconds


def datasketch_speed(docs: list[Document], config: Config) -> float:
    """Pages/s of datasketch's own MinHash, one update per shingle (signatures only, no LSH)."""
    size = config.dedup.shingle_words
    started = time.perf_counter()
    for doc in docs:
        tokens = words(doc.text)
        minhash = MinHash(num_perm=config.dedup.num_perm, seed=config.dedup.seed)
        minhash.update_batch([" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)])
    return len(docs) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset", required=True, type=Path, help="folder with corpus.warc.gz and labels.json"
    )
    parser.add_argument("--config", help="YAML settings file")
    parser.add_argument("--repeat", type=int, default=10, help="timed dedup runs for the speed figure")
    args = parser.parse_args()
    config = load_config(args.config)
    labels = json.loads((args.dataset / "labels.json").read_text())
    with tempfile.TemporaryDirectory() as folder:
        store = LocalStore(folder)
        started = time.perf_counter()
        summary = ingest([str(args.dataset / "corpus.warc.gz")], store, "bench", config)
        seconds = time.perf_counter() - started
        result = score(labels, list(iter_lineage(store)))
        bytes_per_page = index.load_index(store, config.dedup).bytes_per_page
    print(
        f"pages: {summary.pages_in}  canonical: {summary.canonical}  duplicates: {summary.duplicates}  "
        f"rejected: {summary.rejected}"
    )
    for name in ("pair_precision", "pair_recall", "pair_f1", "adjusted_rand_index", "canonical_is_original"):
        print(f"{name:24s} {result[name]:.4f}")
    print("recall per transform:")
    for transform, value in result["recall_per_transform"].items():  # type: ignore[union-attr]
        print(f"  {transform:12s} {value:.4f}")
    print(f"ingest pages/s           {summary.pages_in / seconds:.1f}  ({seconds:.2f} s, all stages)")
    docs = cleaned_documents(args.dataset / "corpus.warc.gz", config)
    median, best = dedup_speed(docs, config, args.repeat)
    print(f"dedup-only pages/s       {median:.0f}  (one core; median of {args.repeat} runs, best {best:.0f})")
    print(
        f"datasketch MinHash p/s   {datasketch_speed(docs, config):.0f}  (per-page updates, signatures only)"
    )
    longest = max(docs, key=lambda doc: len(doc.text))
    timings = {copies: copies_seconds(longest, copies, config) for copies in (250, 500, 1000)}
    print(
        f"1000 copies of one story: {timings[1000]:.2f} s  (250: {timings[250]:.2f} s, "
        f"500: {timings[500]:.2f} s; same day, {len(longest.text.split())} words)"
    )
    print(f"index bytes per page     {bytes_per_page:.0f}")


if __name__ == "__main__":
    main()
