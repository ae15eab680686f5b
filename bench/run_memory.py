"""Benchmark: peak memory of one ingest run as its page count grows.

    python bench/run_memory.py                         # runs of 10,000 and 30,000 pages
    python bench/run_memory.py --pages 2000 10000 --batch-pages 1000

For each size, a WARC of that many distinct news pages is written (synthetic, cached under
--work): 200 sites, texts of log-normal length around 500 words drawn from real words (the
words of the seeds, as bench/scale.py), one in six pages a truncated or extended copy of a
recent story from another site, each page in a shell of site chrome (navigation, scripts,
related links, footer) so the raw page is as large as a real one (about 40 KB). Then one real
`python -m pipeline ingest` over it, into a fresh local store, with the memory of every process
of the run (main process, forkserver, cleaning workers) summed every 50 ms.

Printed per size: wall time, pages/s, the peak summed RSS (which counts the pages the workers
share with the forkserver once per process), the peak summed PSS (shared pages split between
their users) and the main process's own peak RSS;
then the growth per page between the smallest and the largest run, against the issue's
targets (peak at 30,000 pages <= 1 GB, growth <= 5 KB per page).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psutil
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale import text_of, vocabulary, words_of
from tests.chaos.runs import Sampler, session_processes

SITES = 200
COPY_SHARE = 1 / 6
RECENT = 500  # copies are of one of the latest stories
PEAK_TARGET = 1e9  # bytes, at 30,000 pages
GROWTH_TARGET = 5e3  # bytes per page
MB = 1e6


def chrome(site: str, rng: np.random.Generator, words: list[str]) -> tuple[str, str]:
    """A site's page shell around the article: header (navigation, a script) and footer."""
    sections = " ".join(f'<li><a href="https://{site}/{w}">{w.title()}</a></li>' for w in words[:30])
    script = "var config = " + repr([int(n) for n in rng.integers(0, 10**9, 2500)]) + ";"
    header = f"<header><ul class='nav'>{sections}</ul></header><script>{script}</script>"
    footer = f"<footer><p>Skip to main content</p><p>&copy; {site} all rights reserved</p></footer>"
    return header, footer


def page_html(title: str, text: str, site: str, published: datetime, shell: tuple[str, str]) -> bytes:
    paragraphs = "".join(f"<p>{line}</p>" for line in text.split("\n"))
    related = "".join(f'<li><a href="https://{site}/more/{n}">Related story {n}</a></li>' for n in range(8))
    return (
        f"<!doctype html><html><head><title>{title} | {site}</title>"
        f'<meta property="article:published_time" content="{published:%Y-%m-%dT%H:%M:%SZ}">'
        f"</head><body>{shell[0]}<article><h1>{title}</h1>{paragraphs}</article>"
        f"<aside><h2>Related</h2><ul>{related}</ul></aside>{shell[1]}</body></html>"
    ).encode()


def copy_of(text: str, rng: np.random.Generator, words: list[str]) -> str:
    """Wire copy: truncated to 40-90% of its lines, or extended with new lines."""
    lines = text.split("\n")
    if rng.random() < 0.5:
        return "\n".join(lines[: max(1, int(len(lines) * rng.uniform(0.4, 0.9)))])
    return "\n".join(lines + text_of(int(rng.integers(60, 300)), rng, words).split("\n"))


def write_pages(out: Path, pages: int, seed: int = 7) -> None:
    rng, words = np.random.default_rng(seed), vocabulary()
    shells = {f"site{n}.example": chrome(f"site{n}.example", rng, words) for n in range(SITES)}
    start = datetime(2026, 11, 1, tzinfo=UTC)
    recent: list[str] = []
    with out.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for number, length in enumerate(words_of(pages, rng).tolist()):
            site = f"site{number % SITES}.example"
            if recent and rng.random() < COPY_SHARE:
                text = copy_of(recent[int(rng.integers(0, len(recent)))], rng, words)
            else:
                text = text_of(length, rng, words)
                recent = [*recent[-RECENT + 1 :], text]
            title = " ".join(text.split()[:8]).title()
            published = start + timedelta(seconds=number * 7)
            body = page_html(title, text, site, published, shells[site])
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], "HTTP/1.1")
            record = writer.create_warc_record(
                f"https://{site}/news/{number}",
                "response",
                payload=io.BytesIO(body),
                http_headers=headers,
                warc_headers_dict={"WARC-Date": f"{published + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}"},
            )
            writer.write_record(record)


class RunMemory(Sampler):
    """Peaks over the processes of one run's session (main process, forkserver, workers): the sum
    of their RSS (pages a worker shares with the forkserver count twice), the sum of their PSS
    (shared pages split between their users: the memory the run really takes), and the main
    process's RSS alone."""

    def __init__(self, session: int) -> None:
        super().__init__()
        self.session = session
        self.rss = self.pss = self.main = 0

    def sample(self) -> bool:
        rss = pss = 0
        for process in session_processes(self.session):
            with contextlib.suppress(psutil.Error):  # it ended while we looked
                memory = process.memory_full_info()
                rss, pss = rss + memory.rss, pss + memory.pss
                if process.pid == self.session:
                    self.main = max(self.main, memory.rss)
        self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)
        return False


def measure(warc: Path, batch_pages: int | None) -> tuple[float, RunMemory]:
    """Wall seconds and the memory peaks of one ingest of `warc`."""
    with tempfile.TemporaryDirectory() as store:
        command = [
            sys.executable,
            "-m",
            "pipeline",
            "ingest",
            "--input",
            str(warc),
            "--store",
            store,
            "--quiet",
        ]
        if batch_pages:
            settings = Path(store).with_suffix(".yaml")
            settings.write_text(f"run:\n  batch_pages: {batch_pages}\n")
            command += ["--config", str(settings)]
        started = time.monotonic()
        process = subprocess.Popen(command, start_new_session=True)
        with RunMemory(process.pid) as memory:
            if process.wait() != 0:
                raise SystemExit(f"ingest failed with exit code {process.returncode}: {' '.join(command)}")
        return time.monotonic() - started, memory


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, nargs="+", default=[10_000, 30_000])
    parser.add_argument(
        "--batch-pages", type=int, help="run.batch_pages for the runs (default: the setting's)"
    )
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "run-memory-bench")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    print(
        f"{'pages':>7} {'wall s':>7} {'pages/s':>8} {'RSS MB (all)':>13} {'PSS MB (all)':>13} {'main MB':>8}"
    )
    peaks = {}
    for pages in sorted(args.pages):
        warc = args.work / f"pages-{pages}.warc.gz"
        if not warc.exists():
            write_pages(warc, pages)
        wall, memory = measure(warc, args.batch_pages)
        peaks[pages] = memory.rss
        print(
            f"{pages:>7} {wall:>7.1f} {pages / wall:>8.1f} {memory.rss / MB:>13.0f} {memory.pss / MB:>13.0f}"
            f" {memory.main / MB:>8.0f}"
        )
    low, high = min(peaks), max(peaks)
    if high > low:
        growth = (peaks[high] - peaks[low]) / (high - low) / 1e3
        print(
            f"RSS peak growth {growth:.2f} KB/page, {low} to {high} pages (target <= {GROWTH_TARGET / 1e3:g})"
        )
    print(
        f"RSS peak at {high} pages: {peaks[high] / MB:.0f} MB (target at 30,000: <= {PEAK_TARGET / MB:.0f})"
    )


if __name__ == "__main__":
    main()
