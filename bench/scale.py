"""Benchmark: a run of 1,000 new pages against an index of 10^4, 10^5 and 10^6 stories.

    python bench/scale.py                      # 10^4, 10^5, 10^6 (about 6 GB of disk at 10^6)
    python bench/scale.py --sizes 10000 100000

For each size, a child process writes a committed index of that many stories straight into a
fresh local store (one segment, as compaction leaves a large index: no million pages are
ingested). The stories have realistic lengths (log-normal around 500 words, as news) and
random shingles and candidate keys, which is what unrelated stories look like to the index,
but for stock phrases: news stories share phrases ("said in a statement"), and a page meets
every stored story whose sampled-shingle key is one of its phrases'. The index holds 10,000
such phrases with Zipf frequencies (the commonest in 3.3% of stories), calibrated on the
originals of syndication-dev: 32 of their 16,471 pairs share exactly one candidate key (0.19%;
the pairs sharing more are mostly the set's built hard negatives), and this model gives about
0.17%. So a run page meets more unrelated stories the larger the index, up to `max_bucket` a
key, and the run fetches and rejects them as it would. Among the stories are those of 200
real texts, generated from words (and phrases), with their true keys. Another child process
then times one run of 1,000 new pages against it: 200 copies of those stories (truncated,
extended, dated earlier or later), 800 new stories, all with stock phrases drawn the same
way. The run is what a run does under the lease: open the index, deduplicate, write its
segment, compact, commit.

Every size's index is built first (so the disk holds all of them at once); then each of
`--repeat` rounds times one run per size, the sizes in alternating order, so that the
machine's other work weighs on all sizes alike.
Before each timed run the index file is read once, so it is in the page cache as on a host
that runs often (`--cold` drops it from the cache instead: every probe is then a disk read).
Printed per size (medians of the rounds, each run on a fresh copy of the store state): the
run's time and CPU time (CPU time moves less with other work on the machine), the peak RSS of
the run's process, the units its probes gathered from the segments (a bucket per query, runs
of story offsets) with their bytes and seconds, the stored stories it fetched, and the
index's bytes per story; then a projection to 10^7 and 10^8 from the cost model in
docs/dedup.md ("The index"). The ratio of the largest size to the smallest is given as the
median of the rounds' ratios, and as the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import commits, layout
from pipeline.commits import Manifest, RunCounts, RunObjects
from pipeline.config import DedupConfig
from pipeline.dedup import Deduplicator, index, segments
from pipeline.dedup.shingles import shingle_batch
from pipeline.dedup.signatures import candidate_keys, sample_keys
from pipeline.dedup.stories import Story, story_key
from pipeline.dedup.verification import Text
from pipeline.records import Document
from pipeline.store import LocalStore

CONFIG = DedupConfig()
PLANTED = 200  # real stories in the index, copied by the run
RUN_PAGES = 1000
CHUNK = 50_000  # stories generated at a time while the index is written
BASE_LEVEL = 30  # the built segment stands for a fully compacted index: no run merges it
PHRASES = 10_000  # stock phrases, the i-th (from 0) in TOP_PHRASE / (i + 1) of the stories
TOP_PHRASE = 0.033  # two stories share a phrase with probability about 1.64 * TOP_PHRASE^2 = 0.18%


def words_of(count: int, rng: np.random.Generator) -> np.ndarray:
    """Story lengths in words: log-normal around 500 (news), 50 to 8,000."""
    return np.clip(rng.lognormal(np.log(500), 0.6, count), 50, 8000).astype(np.int64)


def vocabulary() -> list[str]:
    """Words to write texts with: every word of the seed scrapes, plus numbered names."""
    seeds = Path(__file__).resolve().parent.parent / "seeds"
    known = sorted({word for path in seeds.glob("*.txt") for word in path.read_text().split()})
    return known + [f"name{n}" for n in range(20_000)]


def text_of(length: int, rng: np.random.Generator, words: list[str]) -> str:
    chosen = rng.integers(0, len(words), length)
    lines = [" ".join(words[i] for i in chosen[at : at + 60]) for at in range(0, length, 60)]
    return "\n".join(lines)


def phrase_shares() -> np.ndarray:
    """The share of stories carrying each stock phrase (Zipf)."""
    return TOP_PHRASE / np.arange(1, PHRASES + 1)


def stock_phrases(seed: int) -> tuple[list[str], np.ndarray]:
    """PHRASES five-word phrases whose shingle is sampled as a candidate key, and those keys."""
    rng, words = np.random.default_rng(seed + 2), vocabulary()
    tries = [" ".join(words[i] for i in rng.integers(0, len(words), 5)) for _ in range(12 * PHRASES)]
    shingle_lists, _ = shingle_batch(tries, CONFIG.shingle_words, CONFIG.text_batch_characters)
    sampled = sample_keys(shingle_lists, CONFIG.containment_sample, 1)
    assert len(sampled.keys) >= PHRASES, "too few sampled phrases: raise the tries"
    return [tries[n] for n in sampled.owner[:PHRASES]], sampled.keys[:PHRASES]


def with_phrases(text: str, rng: np.random.Generator, phrases: list[str]) -> str:
    """The text with the stock phrases a story carries (each with its share), as lines of their own."""
    chosen = np.flatnonzero(rng.random(PHRASES) < phrase_shares())
    lines = text.split("\n")
    for phrase in chosen.tolist():
        lines.insert(int(rng.integers(0, len(lines) + 1)), phrases[phrase])
    return "\n".join(lines)


def planted_texts(seed: int) -> list[str]:
    rng, words = np.random.default_rng(seed), vocabulary()
    phrases, _ = stock_phrases(seed)
    return [with_phrases(text_of(int(n), rng, words), rng, phrases) for n in words_of(PLANTED, rng)]


def phrase_entries(size: int, seed: int, rng: np.random.Generator) -> np.ndarray:
    """(key, story row) of the stock phrases' keys among `size` stories: each phrase in its share
    of them, at most `max_bucket` (what the index keeps of one key)."""
    _, keys = stock_phrases(seed)
    counts = np.minimum(rng.binomial(size, phrase_shares()), CONFIG.max_bucket)
    rows = np.concatenate([rng.choice(size, count, replace=False) for count in counts.tolist()])
    return np.stack((np.repeat(keys, counts), rows.astype(np.uint64)))


def story(number: int, words: int, shingles: np.ndarray) -> Story:
    return Story(
        f"s_synthetic_{number:012d}",
        f"https://site{number % 5000}.example/{number}",
        "2020-01-01T00:00:00Z",
        "2020-01-02T00:00:00Z",
        words,
        shingles,
    )


def candidate_table(
    writer: segments.SectionWriter, size: int, real: np.ndarray, story_keys: np.ndarray, rng
) -> dict:
    """The candidate-key table, written bucket range by bucket range: random keys (what unrelated
    stories' band and sampled-shingle keys are) for 128 a story, and the planted stories' true
    keys (`real`: key, story key) merged into their buckets."""
    mean = CONFIG.index_bucket_entries
    per_story = CONFIG.bands + CONFIG.containment_keys
    buckets = max(1, -(-(per_story * size + real.shape[1]) // mean))
    real_bucket = segments.bucket_of(real[0], buckets).astype(np.int64)
    entries = 0
    chunk = max(1, CHUNK * per_story // mean)
    for first in range(0, buckets, chunk):
        end = min(buckets, first + chunk)
        counts = rng.poisson(per_story * size / buckets, end - first)
        bucket = np.repeat(np.arange(first, end), counts)
        low = np.ceil(bucket * 2.0**32 / buckets)
        high = np.ceil((bucket + 1) * 2.0**32 / buckets)
        top = (low + rng.random(len(bucket)) * (high - low)).astype(np.uint64)
        keys = (top << np.uint64(32)) | rng.integers(0, 1 << 32, len(bucket), dtype=np.uint64)
        values = story_keys[rng.integers(0, size, len(keys))]
        mine = (real_bucket >= first) & (real_bucket < end)
        keys, values = np.concatenate((keys, real[0, mine])), np.concatenate((values, real[1, mine]))
        order = np.argsort(keys)
        segments.write_buckets(
            writer, "candidate_keys", (keys[order], values[order]), buckets, (first, end), CONFIG
        )
        entries += len(keys)
    return segments.table_header(buckets, entries, CONFIG)


def write_segment(
    target: Path, work: Path, size: int, seed: int, first: int = 0, level: int = BASE_LEVEL
) -> None:
    """A segment of `size` stories (numbered from `first`), PLANTED of them real, written to `target`
    section by section (each section to a file in `work` first)."""
    rng = np.random.default_rng(seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    writer = segments.SectionWriter(work)
    real = planted_texts(seed)
    shingle_lists, word_counts = shingle_batch(real, CONFIG.shingle_words, CONFIG.text_batch_characters)
    real_keys = candidate_keys(shingle_lists, CONFIG)
    planted_at = np.sort(rng.choice(size, PLANTED, replace=False))
    lengths = words_of(size, rng)
    lengths[planted_at] = word_counts
    story_keys, offsets, position = np.zeros(size, np.uint64), [np.zeros(1, np.uint64)], 0
    real_of = dict(zip(planted_at.tolist(), range(PLANTED), strict=True))
    texts: list[tuple[int, int]] = []  # (digest, story key)
    for start in range(0, size, CHUNK):
        records = []
        for number in range(start, min(size, start + CHUNK)):
            if number in real_of:
                shingles = shingle_lists[real_of[number]]
            else:
                shingles = rng.integers(0, 1 << 32, max(1, lengths[number] - 4), dtype=np.uint64).astype(
                    np.uint32
                )
            made = story(first + number, int(lengths[number]), shingles)
            story_keys[number] = story_key(made.story_id)
            records.append(segments._record(made))
            if number in real_of:
                texts.append((Text(shingles, made.words).digest, int(story_keys[number])))
        sizes = np.cumsum([len(record) for record in records]).astype(np.uint64) + np.uint64(position)
        position = int(sizes[-1])
        offsets.append(sizes)
        writer.append("story_records", b"".join(records))
    common = phrase_entries(size, seed, rng)
    real = np.concatenate(
        (
            np.stack((real_keys.keys, story_keys[planted_at][real_keys.owner])),
            [common[0], story_keys[common[1]]],
        ),
        axis=1,
    )
    digests = np.array(texts, dtype=np.uint64).reshape(-1, 2)
    tables = {
        "candidate_keys": candidate_table(writer, size, real, story_keys, rng),
        "story_keys": segments.layout_table(
            writer, "story_keys", story_keys, np.arange(size, dtype=np.uint64), CONFIG
        ),
        "page_keys": segments.layout_table(  # hashes over the whole 64-bit range, as `index.page_key` gives
            writer, "page_keys", rng.integers(1, 2**64, 2 * size, dtype=np.uint64), np.zeros(2 * size), CONFIG
        ),
        "text_digests": segments.layout_table(writer, "text_digests", digests[:, 0], digests[:, 1], CONFIG),
    }
    writer.append("story_offsets", np.concatenate(offsets).astype("<u8").tobytes())
    header = {"scheme": index.scheme(CONFIG), "level": level, "stories": size, "tables": tables}
    writer.finish(target, header)


def build(folder: Path, size: int, seed: int) -> dict:
    """A store whose index holds `size` stories, PLANTED of them real, in one committed segment."""
    store = LocalStore(folder / "store")
    key = layout.segment_key("base")
    target = Path(store.location(key))
    write_segment(target, folder, size, seed)
    commits.append(store, Manifest("base", 1, "2026-01-01T00:00:00Z", RunCounts(), RunObjects(index=key)))
    commits.roll_forward(store)
    return {"bytes": target.stat().st_size, "stories": size}


def run_pages(seed: int) -> list[Document]:
    """PLANTED copies of the planted stories (cut, extended, earlier or later) and new stories."""
    rng, words = np.random.default_rng(seed + 1), vocabulary()
    real = planted_texts(seed)
    phrases, _ = stock_phrases(seed)
    pages = []
    for number, text in enumerate(real):
        lines = text.split("\n")
        kind = number % 4
        body = {0: lines[: max(1, len(lines) // 3)], 1: [*lines, text_of(300, rng, words)], 2: lines}.get(
            kind, [text_of(40, rng, words), *lines]
        )
        published = "2019-12-31T00:00:00Z" if kind == 2 else "2020-01-05T00:00:00Z"  # 2: supersedes
        pages.append((f"https://copy{number}.example/a", "\n".join(body), published))
    for number, length in enumerate(words_of(RUN_PAGES - PLANTED, rng)):
        text = with_phrases(text_of(int(length), rng, words), rng, phrases)
        pages.append((f"https://new{number}.example/a", text, "2020-01-05T00:00:00Z"))
    return [
        Document(
            url=url, text=body, fetched_at="2020-01-06T00:00:00Z", content_sha=url, published_at=published
        )
        for url, body, published in pages
    ]


def count_probe_reads() -> dict:
    """Count the units, bytes and seconds of what probes gather from segments (whether mapped or
    read by ranges), and the stories fetched, by wrapping the methods that do it."""
    counts = {"units": 0, "bytes": 0, "seconds": 0.0, "stories": 0}
    gather = segments.Segment._units

    def counted(self: segments.Segment, name: str, units: np.ndarray, width: int) -> np.ndarray:
        started = time.perf_counter()
        rows = gather(self, name, units, width)
        counts["seconds"] += time.perf_counter() - started
        counts["units"] += len(units)
        counts["bytes"] += rows.nbytes
        return rows

    fetch = index.IndexState.stories

    def fetched(self: index.IndexState, keys: np.ndarray) -> dict:
        found = fetch(self, keys)
        counts["stories"] += len(found)
        return found

    segments.Segment._units = counted
    index.IndexState.stories = fetched
    return counts


def one_run(folder: Path, seed: int) -> dict:
    """What a run does under the lease after cleaning: open, deduplicate, write, compact, commit."""
    docs = run_pages(seed)
    Deduplicator(CONFIG).assign(docs[:5])  # builds the per-process character tables
    store = LocalStore(folder / "store")
    reads = count_probe_reads()
    started, cpu_started = time.perf_counter(), time.process_time()
    state = index.load_index(store, CONFIG)
    seen = state.seen.among([index.page_key(doc.url, doc.content_sha) for doc in docs])
    fresh = [doc for doc, known in zip(docs, seen.tolist(), strict=True) if not known]
    dedup = Deduplicator(CONFIG, state)
    decisions = dedup.assign(fresh)
    keys = [index.page_key(doc.url, doc.content_sha) for doc in fresh]
    objects = RunObjects(index=layout.segment_key("run"))
    store.put(objects.index, index.encode_segment(dedup.changed, keys, CONFIG, dedup.placed_texts))
    state.parts.append(index.open_segment(store, objects.index, CONFIG, index.segment_cache(CONFIG)))
    index.compact(store, "run", state, objects, CONFIG)
    commits.append(store, Manifest("run", state.sequence + 1, "2026-01-02T00:00:00Z", RunCounts(), objects))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    joined = sum(1 for d in decisions[:PLANTED] if d.story_id.startswith("s_synthetic_"))
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "read_mb": reads["bytes"] / 1e6,
        "units": reads["units"],
        "read_seconds": reads["seconds"],
        "fetched": reads["stories"],
        "copies_found": joined,
        "superseded": len(dedup.superseded),
    }


def child(*args: str) -> dict:
    answer = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout.strip()
    return json.loads(answer.splitlines()[-1])


def settle(folder: Path, cold: bool) -> None:
    """Before a timed run: the build's writes flushed (else the run's own fsync waits behind
    gigabytes of them), and the index file either read once, so it sits in the page cache as on
    a host that runs often, or (`cold`) dropped from it, so every probe is a disk read."""
    os.sync()
    for path in (folder / "store").rglob("*.seg"):
        handle = os.open(path, os.O_RDONLY)
        try:
            if cold:
                os.posix_fadvise(handle, 0, 0, os.POSIX_FADV_DONTNEED)
            else:
                while os.read(handle, 1 << 24):
                    pass
        finally:
            os.close(handle)


def reset_run(folder: Path) -> None:
    """Remove what a timed run wrote, so the next one starts from the built index."""
    store = LocalStore(folder / "store")
    for key in store.list(""):
        if "run" in key.split("/")[-1] and "base" not in key:
            store.delete(key)
    for sequence in commits.commit_sequences(store):
        if sequence > 1:
            store.delete(layout.commit_key(sequence))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--folder", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument(
        "--cold", action="store_true", help="drop the index from the page cache before each run"
    )
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build(args.folder, args.build, args.seed)))
        return
    if args.run:
        print(json.dumps(one_run(args.folder, args.seed)))
        return
    results = {}
    with tempfile.TemporaryDirectory(dir=args.folder) as work:
        folders = {size: Path(work) / str(size) for size in args.sizes}
        built = {}
        for size, folder in folders.items():
            folder.mkdir()
            started = time.perf_counter()
            built[size] = child("--build", str(size), "--folder", str(folder), "--seed", str(args.seed))
            print(f"{size:>9,} stories: built in {time.perf_counter() - started:.0f} s", flush=True)
        runs: dict[int, list[dict]] = {size: [] for size in args.sizes}
        for number in range(args.repeat):
            for size in args.sizes if number % 2 == 0 else args.sizes[::-1]:
                reset_run(folders[size])
                settle(folders[size], args.cold)
                runs[size].append(child("--run", "--folder", str(folders[size]), "--seed", str(args.seed)))
    timed = ("seconds", "cpu_seconds", "peak_rss_mb", "read_seconds")  # the rest is alike in every round
    for size in args.sizes:
        results[size] = {
            **runs[size][0],
            **{key: statistics.median(run[key] for run in runs[size]) for key in timed},
            "bytes_per_story": built[size]["bytes"] / size,
        }
        run = results[size]
        print(
            f"{size:>9,} stories: run {run['seconds']:6.2f} s (CPU {run['cpu_seconds']:4.2f} s)  "
            f"peak RSS {run['peak_rss_mb']:6.0f} MB  "
            f"read {run['read_mb']:6.1f} MB in {run['units']:>6} units, {run['read_seconds']:.2f} s  "
            f"index {run['bytes_per_story']:6.0f} B/story  "
            f"(copies found {run['copies_found']}/{PLANTED}, superseded {run['superseded']}, "
            f"stories fetched {run['fetched']})"
        )
    smallest, largest = min(args.sizes), max(args.sizes)

    def ratio(key: str) -> str:
        rounds = [big[key] / small[key] for big, small in zip(runs[largest], runs[smallest], strict=True)]
        of_medians = results[largest][key] / results[smallest][key]
        return (
            f"{statistics.median(rounds):.2f}x (rounds {min(rounds):.2f}-{max(rounds):.2f}x, "
            f"of the medians {of_medians:.2f}x)"
        )

    print(f"time at {largest:,} / at {smallest:,}, median of the rounds: {ratio('seconds')}")
    print(f"  CPU time: {ratio('cpu_seconds')}")
    rss = results[largest]["peak_rss_mb"] - results[smallest]["peak_rss_mb"]
    print(f"  peak RSS difference: {rss:+.0f} MB")
    project(results)


def probe_model(size: int) -> tuple[float, float]:
    """(buckets, bytes) a run's candidate probes gather from an index of `size` stories, by the
    cost model: each probe needs one bucket's filter; of `buckets`, about
    buckets * (1 - e^(-probes/buckets)) are distinct, each filter gathered once from the mapped
    segment, and the bucket itself for the keys the filter lets through (`filter_pass_rate` of the
    absent ones; the keys the index holds, which depend on the texts, are not modelled)."""
    probes = RUN_PAGES * (CONFIG.bands + CONFIG.containment_keys)
    slots = segments.slots_for(CONFIG.index_bucket_entries)
    buckets = size * (CONFIG.bands + CONFIG.containment_keys) / CONFIG.index_bucket_entries
    touched = buckets * (1 - np.exp(-probes / buckets))
    bits, hashes = CONFIG.index_filter_bits, CONFIG.index_filter_hashes
    through = segments.filter_pass_rate(bits, hashes) if bits else 1.0
    return touched, touched * (8 * segments.filter_words(CONFIG) + through * slots * 16)


def project(results: dict[int, dict]) -> None:
    """10^7 and 10^8 from the cost model: a run's time is its gathers (distinct buckets given by
    the model, at the cost per bucket measured at the largest size) plus the rest of its work
    (measured at the largest size); gathers stop growing once every probe needs a bucket of its
    own. The rest still grows a little beyond: more stored stories share a page's stock
    phrases, up to `max_candidates` fetched a page (printed as a bound)."""
    largest_size = max(results)
    largest = results[largest_size]
    per_bucket = largest["read_seconds"] / probe_model(largest_size)[0]
    rest = largest["seconds"] - largest["read_seconds"]
    per_story = largest["bytes_per_story"]
    for size in (*sorted(results), 10**7, 10**8):
        buckets, read = probe_model(size)
        kind = "measured" if size in results else "projected"
        print(
            f"{kind:>9} {size:>11,} stories: model {buckets:8.0f} buckets {read / 1e6:5.0f} MB, "
            f"run {rest + per_bucket * buckets:5.2f} s, index {per_story * size / 1e9:6.1f} GB"
        )
    print(
        f"stored stories fetched: {largest['fetched']} at {largest_size:,}, "
        f"at most {CONFIG.max_candidates * RUN_PAGES:,} (max_candidates a page)"
    )


if __name__ == "__main__":
    main()
