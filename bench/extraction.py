"""Extraction accuracy and speed: the pipeline's cleaning against bare trafilatura.

    python -m bench.extraction --dataset ../shared/eval/extraction-dev

The dataset is a folder with `html/<id>.html.gz` and `ground-truth.json`
({id: {"articleBody", "url"}}). Every page goes through the same functions as
`ingest` (extract -> remove_boilerplate over the whole set -> finish); a page the
pipeline rejects counts as an empty prediction. The gold bodies leave the headline
out, and so does the pipeline's `text` (the title is its own field), so both sides
are scored without titles. Bare trafilatura is scored on the same pages, with its
defaults and with favor_precision.

Metric (the dataset's README): tokens are \\w+, each text is the multiset of its
consecutive 4-token shingles; per page precision and recall (empty vs empty = 1),
averaged over pages; F1 from the two averages.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script or a module

from pipeline.clean import extract, finish_run
from pipeline.config import CleanConfig
from pipeline.records import Document, RawPage, Rejection

TOKEN = re.compile(r"\w+")


def shingles(text: str, size: int = 4) -> Counter:
    tokens = TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


def page_scores(predicted: str, gold: str) -> tuple[float, float]:
    """Precision and recall of one page's shingles; an empty page against an empty gold is perfect."""
    guess, truth = shingles(predicted), shingles(gold)
    if not guess and not truth:
        return 1.0, 1.0
    shared = sum((guess & truth).values())
    precision = shared / sum(guess.values()) if guess else 0.0
    recall = shared / sum(truth.values()) if truth else 0.0
    return precision, recall


@dataclass
class Score:
    precision: float
    recall: float
    pages: int

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def score(pairs: Iterable[tuple[str, str]]) -> Score:
    """Average per-page precision and recall over (predicted, gold) pairs."""
    results = [page_scores(predicted, gold) for predicted, gold in pairs]
    if not results:
        return Score(0.0, 0.0, 0)
    return Score(
        sum(p for p, _ in results) / len(results), sum(r for _, r in results) / len(results), len(results)
    )


def clean_run(
    pages: list[RawPage], config: CleanConfig, **boilerplate_options
) -> dict[str, Document | Rejection]:
    """The ingest path in one process: extract -> remove_boilerplate (the whole run) -> finish."""
    extracted = [extract(page, config) for page in pages]
    docs = [doc for doc in extracted if isinstance(doc, Document)]
    results: dict[str, Document | Rejection] = {item.url: item for item in extracted}
    results.update({item.url: item for item in finish_run(docs, config, **boilerplate_options)})
    return results


def clean_pages(pages: list[RawPage], config: CleanConfig, **boilerplate_options) -> dict[str, str]:
    """url -> cleaned text, "" for a rejected page."""
    results = clean_run(pages, config, **boilerplate_options)
    return {url: item.text if isinstance(item, Document) else "" for url, item in results.items()}


def load_dataset(folder: Path) -> tuple[list[RawPage], dict[str, str]]:
    """Raw pages and gold bodies (by URL) of a folder in extraction-dev's layout."""
    truth = json.loads((folder / "ground-truth.json").read_text())
    fetched = datetime(2019, 11, 20, tzinfo=UTC)
    pages, gold = [], {}
    for page_id, entry in sorted(truth.items()):
        content = gzip.decompress((folder / "html" / f"{page_id}.html.gz").read_bytes())
        pages.append(RawPage(entry["url"], content, "text/html", fetched))
        gold[entry["url"]] = entry["articleBody"]
    return pages, gold


def timed(run: Callable[[], dict[str, str]]) -> tuple[dict[str, str], float]:
    start = time.perf_counter()
    texts = run()
    return texts, time.perf_counter() - start


def bare_trafilatura(pages: list[RawPage], **options) -> dict[str, str]:
    import trafilatura

    return {page.url: trafilatura.extract(page.content, url=page.url, **options) or "" for page in pages}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, required=True, help="folder with html/ and ground-truth.json")
    args = parser.parse_args(argv)
    pages, gold = load_dataset(args.dataset)
    config = CleanConfig()
    contenders = {
        "pipeline (extract -> remove_boilerplate -> finish)": lambda: clean_pages(pages, config),
        "trafilatura defaults": lambda: bare_trafilatura(pages),
        "trafilatura favor_precision": lambda: bare_trafilatura(pages, favor_precision=True),
    }
    print(f"{len(pages)} pages from {args.dataset}")
    print(f"{'':52} {'precision':>9} {'recall':>7} {'F1':>7} {'pages/s':>8}")
    for name, run in contenders.items():
        texts, seconds = timed(run)
        result = score((texts[url], gold[url]) for url in gold)
        print(
            f"{name:52} {result.precision:9.4f} {result.recall:7.4f} {result.f1:7.4f} "
            f"{len(pages) / seconds:8.1f}"
        )


if __name__ == "__main__":
    main()
