"""Site templates, text scrapes and dates, on a labelled WARC whose pages share site templates.

    python -m bench.templates --dataset ../shared/eval/syndication-dev

The dataset is a folder with `corpus.warc.gz` and `labels.json` ({url: {"original",
"published", "text", ...}}). Pages go through the ingest path (bench.extraction.clean_run).
It prints:
1. the original pages' text (labels with a `text`) scored against that text, with the
   extraction-dev metric, with and without template learning, for HTML and text/plain
   pages apart;
2. the same when the corpus arrives as a series of small runs in fetch order: no
   templates, templates learned within each run only, and templates also remembered
   across runs (pipeline.templates in a scratch store), with precision by how many
   pages of the same site came before (the tenth page against the first);
3. publication dates against the labels' `published`: share found, share equal to the
   minute, share on the right day (a time the page gave without a zone is compared as
   the wall-clock time it states);
4. how often each metadata field is filled.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script or a module

from bench.extraction import Score, clean_run, score
from pipeline.commits import Manifest, RunCounts, RunObjects, append
from pipeline.config import CleanConfig, LimitsConfig
from pipeline.records import Document, RawPage, Rejection, utc_iso
from pipeline.sources import read_warc
from pipeline.store import LocalStore
from pipeline.templates import load_templates, save_templates

Results = dict[str, Document | Rejection]
ORDINAL_BUCKETS = ((1, 1), (2, 4), (5, 9), (10, 10**9))


def load_pages(folder: Path) -> tuple[list[RawPage], dict[str, dict]]:
    """The WARC's pages in fetch order, and the labels by URL."""
    labels = json.loads((folder / "labels.json").read_text())
    with open(folder / "corpus.warc.gz", "rb") as stream:
        pages = [
            page for page in read_warc(stream, LimitsConfig()) if isinstance(page, RawPage)
        ]
    return sorted(pages, key=lambda page: (page.fetched_at, page.url)), labels


def text_of(result: Document | Rejection | None) -> str:
    return result.text if isinstance(result, Document) else ""


def originals(
    pages: list[RawPage], labels: dict[str, dict], content_type: str | None = None
) -> list[RawPage]:
    return [
        page
        for page in pages
        if labels.get(page.url, {}).get("text") and content_type in (None, page.content_type)
    ]


def score_originals(results: Results, pages: list[RawPage], labels: dict[str, dict]) -> Score:
    return score((text_of(results.get(page.url)), labels[page.url]["text"]) for page in pages)


def in_runs(pages: list[RawPage], run_size: int, config: CleanConfig, remember: bool) -> Results:
    """Clean the pages as consecutive runs of `run_size`, remembering templates in a store if asked."""
    results: Results = {}
    with tempfile.TemporaryDirectory() as scratch:
        store = LocalStore(scratch)
        for number, start in enumerate(range(0, len(pages), run_size)):
            run_id = f"bench{number:05d}"
            known = load_templates(store, config) if remember else None
            learned: dict = {}
            results.update(
                clean_run(pages[start : start + run_size], config, known_templates=known, learned=learned)
            )
            save_templates(store, run_id, learned, config)
            manifest = Manifest(run_id, number + 1, utc_iso(datetime.now(UTC)), RunCounts(), RunObjects())
            append(store, manifest)  # committed, as a run's commit would enter it
    return results


def by_site_ordinal(results: Results, pages: list[RawPage], labels: dict[str, dict]) -> list[Score]:
    """Scores of the original pages grouped by how many pages of their site came before."""
    seen: dict[str, int] = defaultdict(int)
    buckets: list[list[tuple[str, str]]] = [[] for _ in ORDINAL_BUCKETS]
    for page in pages:
        site = page.url.split("/")[2]
        seen[site] += 1
        if labels.get(page.url, {}).get("text"):
            for bucket, (low, high) in enumerate(ORDINAL_BUCKETS):
                if low <= seen[site] <= high:
                    buckets[bucket].append((text_of(results.get(page.url)), labels[page.url]["text"]))
    return [score(bucket) for bucket in buckets]


def _moment(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def date_accuracy(
    results: Results, pages: Iterable[RawPage], labels: dict[str, dict]
) -> tuple[int, int, int, int]:
    """Pages with a labelled date: (count, dated, equal to the minute, right day)."""
    total = found = exact = same_day = 0
    for page in pages:
        gold = _moment(labels.get(page.url, {}).get("published") or "")
        result = results.get(page.url)
        if gold is None or not isinstance(result, Document):
            continue
        total += 1
        ours = _moment(result.published_at or "")
        if ours is None:
            continue
        found += 1
        if ours.tzinfo is None:  # the page gave no zone: its wall-clock time is what it said
            gold = gold.replace(tzinfo=None)
        same_day += ours.date() == gold.date()
        exact += len(result.published_at or "") > 10 and abs((ours - gold).total_seconds()) < 60
    return total, found, exact, same_day


def row(name: str, result: Score) -> str:
    return f"  {name:58} {result.precision:9.4f} {result.recall:7.4f} {result.f1:7.4f} {result.pages:6d}"


def header(title: str) -> str:
    return f"{title}\n  {'':58} {'precision':>9} {'recall':>7} {'F1':>7} {'pages':>6}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset", type=Path, required=True, help="folder with corpus.warc.gz and labels.json"
    )
    parser.add_argument("--run-size", type=int, default=40, help="pages per run in the multi-run figures")
    args = parser.parse_args(argv)
    pages, labels = load_pages(args.dataset)
    config = CleanConfig()
    without = CleanConfig(learn_templates=False)
    print(
        f"{len(pages)} pages from {args.dataset}, {len(originals(pages, labels))} originals with a gold text"
    )

    learned, unlearned = clean_run(pages, config), clean_run(pages, without)
    print(header("1. Originals' text, the whole corpus as one run"))
    for label, content_type in (("HTML", "text/html"), ("text/plain", "text/plain"), ("all", None)):
        chosen = originals(pages, labels, content_type)
        print(row(f"{label}: templates learned", score_originals(learned, chosen, labels)))
        print(row(f"{label}: no templates", score_originals(unlearned, chosen, labels)))

    print(header(f"2. Originals' text, the corpus as runs of {args.run_size} pages in fetch order"))
    modes: dict[str, Callable[[], Results]] = {
        "no templates": lambda: in_runs(pages, args.run_size, without, remember=False),
        "learned within each run": lambda: in_runs(pages, args.run_size, config, remember=False),
        "learned and remembered across runs": lambda: in_runs(pages, args.run_size, config, remember=True),
    }
    for name, run in modes.items():
        results = run()
        print(row(name, score_originals(results, originals(pages, labels), labels)))
        for (low, high), result in zip(ORDINAL_BUCKETS, by_site_ordinal(results, pages, labels), strict=True):
            span = f"{low}" if low == high else f"{low}+" if high > 10**6 else f"{low}-{high}"
            print(row(f"    page {span} of its site", result))

    print("3. Publication dates against the labels (all pages)")
    for label, content_type in (("HTML", "text/html"), ("text/plain", "text/plain"), ("all", None)):
        chosen = [page for page in pages if content_type in (None, page.content_type)]
        total, found, exact, same_day = date_accuracy(learned, chosen, labels)
        print(
            f"  {label:11} pages {total:4d}  dated {found / total:6.1%}  "
            f"same minute {exact / total:6.1%}  same day {same_day / total:6.1%}"
        )

    print("4. Metadata filled (articles kept)")
    docs = [item for item in learned.values() if isinstance(item, Document)]
    for name in ("title", "published_at", "author", "sitename", "language", "canonical_url"):
        filled = sum(1 for doc in docs if getattr(doc, name))
        print(f"  {name:14} {filled / len(docs):6.1%}")
    rejected = [item for item in learned.values() if isinstance(item, Rejection)]
    print(f"  rejected pages: {len(rejected)} {sorted({r.reason for r in rejected})}")


if __name__ == "__main__":
    main()
