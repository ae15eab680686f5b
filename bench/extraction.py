"""Extraction accuracy and speed: the pipeline's cleaning against bare trafilatura.

    python -m bench.extraction --dataset ../shared/eval/extraction-dev
    python -m bench.extraction --dataset ../shared/eval/extraction-dev --compare --warc pages.warc.gz
    python -m bench.extraction --write-warc pages.warc.gz --min-pages 1000 \
        --dataset ../shared/eval/extraction-dev --warc ../shared/eval/syndication-dev/corpus.warc.gz

The dataset is a folder with `html/<id>.html.gz` and `ground-truth.json`
({id: {"articleBody", "url"}}). Every page goes through the same functions as
`ingest` (`clean.extract` per page, then `clean.finish_run` over the whole set); a page the
pipeline rejects counts as an empty prediction. The gold bodies leave the headline out,
and so does the pipeline's `text` (the title is its own field), so both sides are scored
without titles. Bare trafilatura is scored on the same pages, with its defaults (and,
without `--compare`, with favor_precision).

`--compare` puts the pipeline's cleaning and bare `trafilatura.extract` (defaults) side
by side on the same pages in one process (one core): pages per CPU-second of each (CPU
time of this process, so other work on a shared machine counts less), their ratio, and
the F1, precision and recall of both on the dataset. The speed pages are the WARC's
(`--warc`, all its HTML and text responses) or else the dataset's; the two contenders
take turns on batches of pages for `--rounds` rounds, and the medians are printed.
`--write-warc` builds such a WARC from the dataset and other WARCs, repeating the pages
under distinct URLs (a query "bench-copy=N" added) until it holds `--min-pages`.
`--only-trafilatura --warc FILE` only runs bare trafilatura over the WARC: the yardstick
when a whole `ingest` process is timed from outside (`bench.ingest_speed`).

Metric (the dataset's README): tokens are \\w+, each text is the multiset of its
consecutive 4-token shingles; per page precision and recall (empty vs empty = 1),
averaged over pages; F1 from the two averages.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script or a module

from pipeline.clean import extract, finish_run
from pipeline.config import CleanConfig, LimitsConfig
from pipeline.records import Document, RawPage, Rejection, utc_iso
from pipeline.sources import read_warc

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
    pages: list[RawPage], config: CleanConfig, **template_options
) -> dict[str, Document | Rejection]:
    """The ingest path in one process: `extract` per page, then `finish_run` over the whole set."""
    extracted = [extract(page, config) for page in pages]
    docs = [doc for doc in extracted if isinstance(doc, Document)]
    results: dict[str, Document | Rejection] = {item.url: item for item in extracted}
    results.update({item.url: item for item in finish_run(docs, config, **template_options)})
    return results


def clean_pages(pages: list[RawPage], config: CleanConfig, **template_options) -> dict[str, str]:
    """url -> cleaned text, "" for a rejected page."""
    results = clean_run(pages, config, **template_options)
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


def warc_pages(path: Path) -> list[RawPage]:
    """The HTML and text pages of a WARC, read as ingest reads them."""
    with path.open("rb") as stream:
        return [
            page
            for page in read_warc(stream, LimitsConfig(), str(path))
            if isinstance(page, RawPage) and page.content_type in ("text/html", "text/plain")
        ]


def write_warc(pages: list[RawPage], out: Path, min_pages: int) -> int:
    """Write the pages to a WARC, repeated under distinct URLs up to `min_pages`; return the count."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    written = 0
    with out.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for copy in range(-(-min_pages // len(pages))):
            for page in pages:
                joiner = "&" if "?" in page.url else "?"
                url = page.url if copy == 0 else f"{page.url}{joiner}bench-copy={copy}"
                content_type = page.content_type + (f"; charset={page.charset}" if page.charset else "")
                headers = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
                record = writer.create_warc_record(
                    url,
                    "response",
                    payload=io.BytesIO(page.content),
                    http_headers=headers,
                    warc_headers_dict={"WARC-Date": utc_iso(page.fetched_at)},
                )
                writer.write_record(record)
                written += 1
    return written


def compare_speed(pages: list[RawPage], config: CleanConfig, rounds: int, batch: int) -> tuple[float, float]:
    """Median pages per CPU-second of the pipeline's cleaning and of bare trafilatura.

    The two take turns on each batch of pages (who goes first alternates), so a change
    in the machine's load falls on both alike.
    """
    batches = [pages[i : i + batch] for i in range(0, len(pages), batch)]
    ours, theirs = [], []
    for round_number in range(rounds):
        seconds = {"pipeline": 0.0, "trafilatura": 0.0}
        docs: list[Document] = []
        for number, part in enumerate(batches):
            order = ["pipeline", "trafilatura"]
            for name in order if (number + round_number) % 2 == 0 else reversed(order):
                start = time.process_time()
                if name == "pipeline":
                    docs.extend(
                        doc for doc in (extract(page, config) for page in part) if isinstance(doc, Document)
                    )
                else:
                    bare_trafilatura(part)
                seconds[name] += time.process_time() - start
        start = time.process_time()
        finish_run(docs, config)
        seconds["pipeline"] += time.process_time() - start
        ours.append(len(pages) / seconds["pipeline"])
        theirs.append(len(pages) / seconds["trafilatura"])
        print(f"  round {round_number + 1}: pipeline {ours[-1]:.1f}, trafilatura {theirs[-1]:.1f} pages/s")
    return statistics.median(ours), statistics.median(theirs)


def print_scores(
    pages: list[RawPage], gold: dict[str, str], config: CleanConfig, all_contenders: bool
) -> None:
    contenders = {
        "pipeline (clean.extract -> clean.finish_run)": lambda: clean_pages(pages, config),
        "trafilatura defaults": lambda: bare_trafilatura(pages),
    }
    if all_contenders:
        contenders["trafilatura favor_precision"] = lambda: bare_trafilatura(pages, favor_precision=True)
    print(f"{'':52} {'precision':>9} {'recall':>7} {'F1':>7} {'pages/s':>8}")
    for name, run in contenders.items():
        texts, seconds = timed(run)
        result = score((texts[url], gold[url]) for url in gold)
        print(
            f"{name:52} {result.precision:9.4f} {result.recall:7.4f} {result.f1:7.4f} "
            f"{len(pages) / seconds:8.1f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, help="folder with html/ and ground-truth.json")
    parser.add_argument("--compare", action="store_true", help="speed per core and F1 of both")
    parser.add_argument("--warc", type=Path, action="append", default=[], help="pages for the speed test")
    parser.add_argument("--rounds", type=int, default=3, help="speed rounds (medians are printed)")
    parser.add_argument("--batch", type=int, default=50, help="pages per turn in the speed test")
    parser.add_argument("--write-warc", type=Path, help="write the dataset's and --warc pages to this WARC")
    parser.add_argument("--min-pages", type=int, default=1000, help="--write-warc: repeat up to this")
    parser.add_argument(
        "--only-trafilatura", action="store_true", help="just run trafilatura.extract on the --warc pages"
    )
    args = parser.parse_args(argv)
    if args.only_trafilatura:  # the yardstick for timing a whole `ingest` process from outside
        found = bare_trafilatura([page for path in args.warc for page in warc_pages(path)])
        print(f"{len(found)} pages, {sum(1 for text in found.values() if text)} with text")
        return
    pages, gold = load_dataset(args.dataset)
    config = CleanConfig()
    if args.write_warc:
        every = pages + [page for path in args.warc for page in warc_pages(path)]
        written = write_warc(every, args.write_warc, args.min_pages)
        print(f"{written} pages ({len(every)} distinct) written to {args.write_warc}")
        return
    print(f"{len(pages)} pages from {args.dataset}")
    print_scores(pages, gold, config, all_contenders=not args.compare)
    if not args.compare:
        return
    speed_pages = [page for path in args.warc for page in warc_pages(path)] or pages
    where = ", ".join(str(path) for path in args.warc) or str(args.dataset)
    print(f"speed on {len(speed_pages)} pages from {where}, one process, CPU time:")
    ours, theirs = compare_speed(speed_pages, config, args.rounds, args.batch)
    print(f"pipeline cleaning   {ours:8.1f} pages/s per core (median of {args.rounds})")
    print(f"bare trafilatura    {theirs:8.1f} pages/s per core")
    print(f"ratio pipeline / trafilatura: {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
