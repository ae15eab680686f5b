"""The local cache of S3 index segments: one GET per segment, then probes of the mapped copy."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path

from pipeline.dedup import index
from pipeline.dedup.cache import SegmentCache
from pipeline.store import S3Store, make_s3_client
from tests.dedup.test_index import CONFIG, probe_view, stories

KEY = "index/segments/r1.seg"


def counted_store(bucket: str) -> tuple[S3Store, Counter]:
    """An S3 store (client made after the moto fixture is up) counting the requests it sends."""
    client = make_s3_client()
    calls: Counter = Counter()
    client.meta.events.register("before-call.s3", lambda model, **_: calls.update([model.name]))
    return S3Store(client, bucket, "corpus"), calls


def stored(bucket: str) -> tuple[S3Store, Counter, list]:
    store, calls = counted_store(bucket)
    every = stories(40)
    store.put(KEY, index.encode_segment(every, list(range(40)), CONFIG.dedup, {}))
    calls.clear()
    return store, calls, every


def probe(store: S3Store, cache: SegmentCache, every: list) -> tuple:
    part = index.open_segment(store, KEY, CONFIG.dedup, cache)
    return probe_view(index.IndexState([part], 1), every)


def test_a_segment_is_downloaded_once_then_probed_locally(s3_bucket: str, tmp_path: Path) -> None:
    store, calls, every = stored(s3_bucket)
    cache = SegmentCache(tmp_path / "cache", 1 << 20)
    uncached = probe(store, SegmentCache(tmp_path / "none", 0), every)
    ranged = calls["GetObject"]
    assert ranged > 3  # today's behaviour with the cache off: a GET per range
    calls.clear()
    assert probe(store, cache, every) == uncached
    assert calls == Counter({"HeadObject": 1, "GetObject": 1})
    calls.clear()
    assert probe(store, cache, every) == uncached  # a later run: the copy is already here
    assert calls == Counter({"HeadObject": 1})


def test_a_damaged_copy_is_downloaded_again(s3_bucket: str, tmp_path: Path) -> None:
    store, calls, every = stored(s3_bucket)
    cache = SegmentCache(tmp_path, 1 << 20)
    expected = probe(store, cache, every)
    (copy,) = tmp_path.glob("*.seg")
    copy.write_bytes(copy.read_bytes()[:-100])  # truncated
    calls.clear()
    assert probe(store, cache, every) == expected
    assert calls["GetObject"] == 1
    assert not list(tmp_path.glob(".tmp-*"))


def test_a_download_abandoned_by_a_killed_run_is_removed_and_one_in_progress_kept(
    s3_bucket: str, tmp_path: Path
) -> None:
    store, _, every = stored(s3_bucket)
    tmp_path.mkdir(exist_ok=True)
    abandoned, in_progress = tmp_path / ".tmp-abandoned", tmp_path / ".tmp-in-progress"
    for temp in (abandoned, in_progress):
        temp.write_bytes(b"DEDUPSEG1\n half a segment")
    hours_ago = time.time() - 2 * 3600
    os.utime(abandoned, (hours_ago, hours_ago))

    probe(store, SegmentCache(tmp_path, 1 << 20), every)  # downloads a copy

    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".tmp-")) == [
        in_progress.name
    ]


def test_segments_beyond_the_cap_are_read_by_ranges_and_old_copies_evicted(
    s3_bucket: str, tmp_path: Path
) -> None:
    store, calls, every = stored(s3_bucket)
    size, _ = store.head(KEY)
    store.put("index/segments/r2.seg", store.get(KEY))
    cache = SegmentCache(tmp_path, size + size // 2)  # room for one copy
    index.open_segment(store, KEY, CONFIG.dedup, cache)
    index.open_segment(store, "index/segments/r2.seg", CONFIG.dedup, cache)
    assert len(list(tmp_path.glob("*.seg"))) == 1  # the older copy made room
    small = SegmentCache(tmp_path / "small", size - 1)
    calls.clear()
    probe(store, small, every)
    assert calls["GetObject"] > 3 and not (tmp_path / "small").exists()


def fill(bucket: str, folder: str, rounds: int) -> None:
    store, _ = counted_store(bucket)
    cache = SegmentCache(Path(folder), 1 << 20)
    for _ in range(rounds):
        part = index.open_segment(store, KEY, CONFIG.dedup, cache)
        assert part.story_count == 40


def test_two_processes_filling_the_cache_at_once_leave_one_good_copy(s3_bucket: str, tmp_path: Path) -> None:
    store, _, every = stored(s3_bucket)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=fill, args=(s3_bucket, str(tmp_path), 5)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    (copy,) = tmp_path.glob("*.seg")
    assert copy.read_bytes() == store.get(KEY) and not list(tmp_path.glob(".tmp-*"))
    cached = probe(store, SegmentCache(tmp_path, 1 << 20), every)
    assert cached == probe(store, SegmentCache(tmp_path, 0), every)
