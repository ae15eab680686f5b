"""Inputs: folders, single files and WARC archives become raw pages or rejections."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pipeline.records import RawPage, Rejection
from pipeline.sources import InputError, list_inputs, read_input

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def read_all(locations: list[str], max_bytes: int = 1_000_000) -> list[RawPage | Rejection]:
    return [item for file in list_inputs(locations) for item in read_input(file, max_bytes)]


def test_folder_is_read_recursively_with_types_from_extensions(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "page.htm").write_text("<html><body><p>Hi</p></body></html>")
    (tmp_path / "story.txt").write_text("A story")
    (tmp_path / ".hidden.txt").write_text("ignored: hidden files are not inputs")
    pages = read_all([str(tmp_path)])
    found = [(Path(p.url).name, p.content_type) for p in pages]
    assert found == [("story.txt", "text/plain"), ("page.htm", "text/html")]  # sorted by path
    assert all(p.url.startswith("file:///") and p.fetched_at.tzinfo for p in pages)


def test_seed_files_keep_their_names_in_their_urls() -> None:
    pages = read_all([str(SEEDS)])
    assert sorted(Path(p.url).name for p in pages) == sorted(p.name for p in SEEDS.iterdir())


def test_warc_response_records(tmp_path: Path, write_warc) -> None:
    warc = write_warc(
        tmp_path / "crawl.warc.gz",
        [
            ("https://a.example/story", 200, "text/html; charset=iso-8859-1", b"<p>caf\xe9</p>"),
            ("https://a.example/plain", 200, "text/plain", b"plain words"),
            ("https://a.example/gone", 410, "text/html", b"gone"),
            ("https://a.example/big", 200, "text/html", b"x" * 2000),
        ],
        date="2020-09-14T10:34:49Z",
    )
    items = read_all([str(warc)], max_bytes=1000)
    story, plain, gone, big = items
    assert isinstance(story, RawPage) and story.charset == "iso-8859-1" and story.content_type == "text/html"
    assert story.fetched_at.isoformat() == "2020-09-14T10:34:49+00:00"
    assert isinstance(plain, RawPage) and plain.content == b"plain words"
    assert isinstance(gone, Rejection) and (gone.reason, gone.detail) == ("http_status", "HTTP status 410")
    assert isinstance(big, Rejection) and big.reason == "too_large"


def test_oversized_file_is_rejected_without_reading_it(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_bytes(b"a" * 5000)
    [item] = read_all([str(tmp_path)], max_bytes=100)
    assert isinstance(item, Rejection) and item.reason == "too_large" and "5000 bytes" in item.detail


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        list_inputs([str(tmp_path / "nope")])


def test_redirects_and_fetch_failures_in_a_warc_become_rejections(tmp_path: Path, write_warc) -> None:
    from warcio.warcwriter import WARCWriter

    warc = write_warc(tmp_path / "fetched.warc.gz", [("https://a.example/old", 301, "text/html", b"")])
    with warc.open("ab") as handle:
        writer = WARCWriter(handle, gzip=True)
        payload = b"outcome: timeout\r\ndetail: no answer within 10 s\r\nattempts: 3\r\n"
        writer.write_record(
            writer.create_warc_record(
                "https://a.example/slow",
                "metadata",
                payload=io.BytesIO(payload),
                warc_content_type="application/warc-fields",
            )
        )
        writer.write_record(
            writer.create_warc_record(
                "https://a.example/",
                "metadata",
                payload=io.BytesIO(b"via: feed\r\n"),
                warc_content_type="application/warc-fields",
            )
        )
    redirect, failure = read_all([str(warc)])
    assert isinstance(redirect, Rejection) and redirect.reason == "redirect"
    assert isinstance(failure, Rejection)
    assert (failure.url, failure.reason, failure.detail) == (
        "https://a.example/slow",
        "timeout",
        "no answer within 10 s",
    )


def test_a_truncated_archive_yields_what_it_held_and_one_rejection(tmp_path: Path, write_warc) -> None:
    records = [
        (f"https://a.example/{n}", 200, "text/html", f"<p>page {n}</p>".encode() * 50) for n in range(3)
    ]
    whole = write_warc(tmp_path / "whole.warc.gz", records).read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(whole[: len(whole) * 5 // 6])  # inside the third record
    items = read_all([str(cut)])
    pages = [item for item in items if isinstance(item, RawPage)]
    [rejection] = [item for item in items if isinstance(item, Rejection)]
    assert [page.url for page in pages] == ["https://a.example/0", "https://a.example/1"]
    assert rejection.url == cut.as_uri() and rejection.reason == "corrupt_archive"
    assert f"after {len(pages)} records" in rejection.detail


def test_garbage_named_warc_is_a_rejection_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "junk.warc").write_bytes(b"this is not a WARC file at all\n" * 10)
    [item] = read_all([str(tmp_path / "junk.warc")])
    assert isinstance(item, Rejection) and item.reason == "corrupt_archive"


def test_other_2xx_answers_are_pages_but_partial_content_is_not(tmp_path: Path, write_warc) -> None:
    warc = write_warc(
        tmp_path / "w.warc.gz",
        [
            ("https://a.example/203", 203, "text/html", b"<p>x</p>"),
            ("https://a.example/206", 206, "text/html", b"<p"),
        ],
    )
    page, partial = read_all([str(warc)])
    assert (
        isinstance(page, RawPage) and isinstance(partial, Rejection) and partial.detail == "HTTP status 206"
    )


def test_an_s3_uri_naming_one_object_is_that_object_only(s3_bucket: str) -> None:
    from pipeline.store import make_s3_client

    client = make_s3_client()
    for key in ("in/a.html", "in/a.html.bak", "in/b.html"):
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"<p>x</p>")
    assert [f.uri for f in list_inputs([f"s3://{s3_bucket}/in/a.html"])] == [f"s3://{s3_bucket}/in/a.html"]
    assert len(list_inputs([f"s3://{s3_bucket}/in/"])) == 3
    assert len(list_inputs([f"s3://{s3_bucket}/in/a"])) == 2  # a prefix that names no object
