"""Benchmark: compacting 4 segments of N stories each, in memory and streamed.

    python bench/compaction.py                  # N = 25,000 and 250,000 (about 25 GB of disk at 250,000)
    python bench/compaction.py --sizes 25000

For each N, a child process writes 4 level-0 segments of N synthetic stories each into a fresh
local store, as bench/scale.py builds its index (realistic lengths, random shingles and
candidate keys, a few real texts); the first 1% of each segment's stories are new versions of
the last 1% of the one before, so a merge drops stale versions. Then, each in a fresh process,
the 4 segments are merged into one and the result put in the store:

* streamed: what compaction does (`segments.merged_file`, then `Store.put_file`);
* in memory: the merge compaction did before (every segment read whole, merged and encoded as
  one bytes object, then `Store.put`), kept below as the baseline, run under an address-space
  limit (`--memory-limit-gb`) so that it fails rather than exhausts a shared machine.

Printed per N and way: the merge's time, the peak RSS of its process and its RSS before the
merge (interpreter, libraries and the opened segments), and the merged segment's stories and size.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale import write_segment
from pipeline import layout
from pipeline.config import DedupConfig
from pipeline.dedup import index, segments
from pipeline.dedup.segments import Contents
from pipeline.dedup.stories import Story, story_key
from pipeline.store import LocalStore

CONFIG = DedupConfig()
SEGMENTS = 4  # the compaction fanout: 4 segments of one level become one
STALE_SHARE = 0.01  # of each segment's stories, new versions of the segment before's


def merge_in_memory(parts: list[Contents]) -> Contents:
    """The merge compaction used before it streamed (the baseline): a story's newest version wins
    with its candidate keys, page keys and text digests are united (a text's newest story wins)."""
    latest: dict[int, tuple[int, Story]] = {}
    for number, part in enumerate(parts):
        for story in part.stories:
            latest[story_key(story.story_id)] = (number, story)
    keep = [
        np.isin(part.candidate_stories, [k for k, (n, _) in latest.items() if n == number])
        for number, part in enumerate(parts)
    ]
    digests = np.concatenate([part.text_digests for part in parts[::-1]])
    text_stories = np.concatenate([part.text_stories for part in parts[::-1]])
    _, first = np.unique(digests, return_index=True)  # the newest segment's entry for each digest
    return Contents(
        stories=[story for _, story in sorted(latest.values(), key=lambda item: item[0])],
        candidate_keys=np.concatenate([p.candidate_keys[k] for p, k in zip(parts, keep, strict=True)]),
        candidate_stories=np.concatenate([p.candidate_stories[k] for p, k in zip(parts, keep, strict=True)]),
        page_keys=np.unique(np.concatenate([part.page_keys for part in parts])),
        text_digests=digests[first],
        text_stories=text_stories[first],
    )


def segment_keys() -> list[str]:
    return [layout.segment_key(f"part{number}") for number in range(SEGMENTS)]


def build(folder: Path, size: int, seed: int) -> dict:
    """SEGMENTS level-0 segments of `size` stories each, overlapping by STALE_SHARE."""
    store = LocalStore(folder / "store")
    stale = int(size * STALE_SHARE)
    for number, key in enumerate(segment_keys()):
        write_segment(Path(store.location(key)), folder, size, seed + number, number * (size - stale), 0)
    return {"bytes": sum(Path(store.location(key)).stat().st_size for key in segment_keys())}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_merge(folder: Path, how: str) -> dict:
    """Open the segments, merge them `how`, put the merged one in the store; time and memory."""
    store = LocalStore(folder / "store")
    parts = [index.open_segment(store, key, CONFIG, index.segment_cache(CONFIG)) for key in segment_keys()]
    scheme, key = index.scheme(CONFIG), layout.merged_segment_key(how)
    before = rss_mb()
    started = time.perf_counter()
    if how == "memory":
        merged = merge_in_memory([part.contents() for part in parts])
        encoded = segments.encode(merged, scheme, 1, CONFIG)
        del merged
        store.put(key, encoded)
        del encoded
    else:
        with segments.merged_file(parts, scheme, 1, CONFIG) as path:
            store.put_file(key, path)
    seconds = time.perf_counter() - started
    result = index.open_segment(store, key, CONFIG, index.segment_cache(CONFIG))
    answer = {
        "seconds": seconds,
        "rss_before_mb": before,
        "peak_rss_mb": rss_mb(),
        "stories": result.story_count,
        "candidate_entries": result.entries("candidate_keys"),
        "bytes": result.size,
    }
    store.delete(key)
    return answer


def child(*args: str, limit_gb: float | None = None) -> dict:
    def limit() -> None:
        if limit_gb:
            cap = int(limit_gb * (1 << 30))
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    answer = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, preexec_fn=limit
    )
    if answer.returncode != 0:
        return {"failed": (answer.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(answer.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 250_000])
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--memory-limit-gb", type=float, default=12.0)
    parser.add_argument("--folder", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--merge", choices=["memory", "stream"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build(args.folder, args.build, args.seed)))
        return
    if args.merge:
        print(json.dumps(one_merge(args.folder, args.merge)))
        return
    with tempfile.TemporaryDirectory(dir=args.folder) as work:
        for size in args.sizes:
            folder = Path(work) / str(size)
            folder.mkdir()
            started = time.perf_counter()
            built = child("--build", str(size), "--folder", str(folder), "--seed", str(args.seed))
            print(
                f"{SEGMENTS} x {size:,} stories: {built['bytes'] / 1e9:.2f} GB of segments "
                f"(built in {time.perf_counter() - started:.0f} s)",
                flush=True,
            )
            for how in ("stream", "memory"):
                limit = args.memory_limit_gb if how == "memory" else None
                run = child("--merge", how, "--folder", str(folder), limit_gb=limit)
                if "failed" in run:
                    print(f"  {how:>6}: failed under a {limit} GB limit: {run['failed']}", flush=True)
                    continue
                print(
                    f"  {how:>6}: {run['seconds']:6.1f} s  peak RSS {run['peak_rss_mb']:6.0f} MB "
                    f"(before the merge {run['rss_before_mb']:4.0f} MB)  merged: {run['stories']:,} stories, "
                    f"{run['candidate_entries']:,} candidate entries, {run['bytes'] / 1e9:.2f} GB",
                    flush=True,
                )
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
