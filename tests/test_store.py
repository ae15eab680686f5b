"""Both store backends behave the same (the lease is tested in test_lease.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.store import UPLOAD_PART, LocalStore, S3Store, Store, StoreError, make_s3_client, open_store


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(f"s3://{bucket}/prefix")


def test_put_get_list_delete(store: Store) -> None:
    store.put("a/b/one.json", b"1")
    store.put("a/two.json", b"2")
    store.put("other.json", b"3")
    assert store.get("a/b/one.json") == b"1"
    assert store.list("a/") == ["a/b/one.json", "a/two.json"]
    store.put("a/two.json", b"two")  # overwrite
    assert store.get("a/two.json") == b"two"
    store.delete("a/two.json")
    store.delete("a/two.json")  # deleting twice is harmless
    assert store.list("a/") == ["a/b/one.json"]
    with pytest.raises(KeyError):
        store.get("a/two.json")


def test_put_if_absent_creates_once(store: Store) -> None:
    assert store.put_if_absent("locks/x", b"first")
    assert not store.put_if_absent("locks/x", b"second")
    assert store.get("locks/x") == b"first"


def test_range_reads_return_each_range_and_nothing_for_an_empty_one(store: Store) -> None:
    data = bytes(range(256)) * 40
    store.put("index/segments/r.seg", data)
    ranges = [(0, 10), (100, 100), (5000, 5120), (10230, 10240), *((n, n + 3) for n in range(0, 4000, 97))]
    assert store.get_ranges("index/segments/r.seg", ranges) == [data[a:b] for a, b in ranges]
    with pytest.raises(KeyError):
        store.get_ranges("index/segments/missing.seg", [(0, 1)])


def test_put_file_stores_the_file_whole_and_replaces_an_object(store: Store, tmp_path: Path) -> None:
    source = tmp_path / "merged.seg"
    source.write_bytes(b"first version")
    store.put_file("index/merged/r.seg", source)
    assert store.get("index/merged/r.seg") == b"first version"
    data = bytes(range(251)) * 4001  # about 1 MB, not a multiple of any chunk size
    source.write_bytes(data)
    store.put_file("index/merged/r.seg", source)
    assert store.get("index/merged/r.seg") == data
    assert store.list("index/") == ["index/merged/r.seg"]  # no temporary object left behind
    assert source.read_bytes() == data  # the caller's file is left as it was
    with pytest.raises(FileNotFoundError):
        store.put_file("index/merged/none.seg", tmp_path / "missing.seg")
    assert store.list("index/") == ["index/merged/r.seg"]


def test_put_file_uploads_a_large_file_to_s3_in_parts(s3_bucket: str, tmp_path: Path) -> None:
    store = open_store(f"s3://{s3_bucket}/prefix")
    source = tmp_path / "large.seg"
    data = (bytes(range(256)) * (UPLOAD_PART // 256 + 1))[: UPLOAD_PART + 1000]
    source.write_bytes(data)
    store.put_file("index/merged/large.seg", source)
    assert store.get("index/merged/large.seg") == data
    size, etag = store.head("index/merged/large.seg")
    assert size == len(data) and etag.strip('"').endswith("-2")  # a multipart upload of two parts


def test_put_file_to_a_bucket_that_went_away_is_a_clear_error(s3_bucket: str, tmp_path: Path) -> None:
    client = make_s3_client()
    store = S3Store(client, s3_bucket)
    client.delete_bucket(Bucket=s3_bucket)
    source = tmp_path / "merged.seg"
    source.write_bytes(b"x")
    with pytest.raises(StoreError, match="not usable"):
        store.put_file("index/merged/r.seg", source)


def test_keys_cannot_escape_a_local_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="escapes"):
        LocalStore(tmp_path / "store").put("../outside", b"x")


def test_unreachable_s3_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StoreError, match="s3://news/ is not usable"):
        open_store("s3://news")


def test_missing_bucket_is_a_clear_error(s3_env: str) -> None:
    with pytest.raises(StoreError, match="not usable"):
        open_store("s3://no-such-bucket/corpus")


def test_store_uris(tmp_path: Path) -> None:
    assert open_store(str(tmp_path / "a")).uri == (tmp_path / "a").as_uri()
    assert open_store((tmp_path / "b").as_uri()).uri == (tmp_path / "b").as_uri()
    with pytest.raises(StoreError, match="unsupported"):
        open_store("ftp://host/path")

