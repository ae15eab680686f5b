"""Inputs: folders, single files and WARC archives become raw pages or rejections."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from pipeline.config import LimitsConfig
from pipeline.records import RawPage, Rejection
from pipeline.sources import InputError, list_inputs, read_input
from tests.conftest import REPO

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def read_all(locations: list[str], max_bytes: int = 1_000_000) -> list[RawPage | Rejection]:
    limits = LimitsConfig(max_page_bytes=max_bytes)
    return [item for file in list_inputs(locations) for item in read_input(file, limits)]


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
    assert isinstance(item, Rejection) and item.reason == "not_warc"


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


# --- hostile inputs: each is one row with its reason, and costs bounded work --------------------


def warc_record(url: str | None, body: bytes, status: int = 200, extra_headers: bytes = b"") -> bytes:
    """One uncompressed WARC response record, written by hand so it can be made malformed."""
    http = b"HTTP/1.1 %d X\r\nContent-Type: text/html\r\n" % status + extra_headers + b"\r\n" + body
    target = b"WARC-Target-URI: %s\r\n" % url.encode() if url else b""
    return (
        b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Date: 2020-09-14T10:00:00Z\r\n"
        + target
        + b"Content-Type: application/http; msgtype=response\r\nContent-Length: %d\r\n\r\n" % len(http)
        + http
        + b"\r\n\r\n"
    )


def gzip_member(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def good_records(count: int) -> list[bytes]:
    return [warc_record(f"https://a.example/{n}", b"<p>good page %d</p>" % n) for n in range(count)]


def test_special_files_in_a_folder_are_one_row_each_and_never_opened(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<p>fine</p>")
    os.mkfifo(tmp_path / "pipe.html")  # opening it for reading would block until a writer came
    (tmp_path / "gone.html").symlink_to(tmp_path / "nowhere.html")
    (tmp_path / "loop.html").symlink_to(tmp_path / "loop.html")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.txt").write_text("words")
    (tmp_path / "linked-sub").symlink_to(tmp_path / "sub")  # not followed: no second copy, no loops
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.html"))
    signal.alarm(20)  # a blocking open fails the test instead of hanging it
    try:
        rows = {Path(item.url).name: item for item in read_all([str(tmp_path)])}
    finally:
        signal.alarm(0)
        server.close()
    reasons = {name: item.reason for name, item in rows.items() if isinstance(item, Rejection)}
    assert reasons == {
        "pipe.html": "special_file",
        "sock.html": "special_file",
        "gone.html": "dangling_symlink",
        "loop.html": "symlink_loop",
        "linked-sub": "special_file",
    }
    assert isinstance(rows["page.html"], RawPage) and isinstance(rows["inner.txt"], RawPage)
    assert rows["gone.html"].url == (tmp_path / "gone.html").as_uri()  # named by its own path
    assert "FIFO" in rows["pipe.html"].detail and "nowhere.html" in rows["gone.html"].detail


def test_a_fifo_or_dangling_link_named_directly_is_a_row_too(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.warc")
    (tmp_path / "gone.warc.gz").symlink_to(tmp_path / "nowhere")
    [pipe] = read_all([str(tmp_path / "pipe.warc")])
    [gone] = read_all([str(tmp_path / "gone.warc.gz")])
    assert (pipe.reason, gone.reason) == ("special_file", "dangling_symlink")


def test_a_file_that_vanishes_before_it_is_read_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<p>here when listed</p>")
    [file] = list_inputs([str(tmp_path)])
    (tmp_path / "page.html").unlink()
    [item] = read_input(file, LimitsConfig())
    assert isinstance(item, Rejection) and item.reason == "unreadable" and "FileNotFoundError" in item.detail


def test_a_file_without_read_permission_is_unreadable(tmp_path: Path) -> None:
    """In a process without the capabilities that let root read any file, as a service user runs."""
    secret = tmp_path / "secret.html"
    secret.write_text("<p>x</p>")
    secret.chmod(0)
    drop = "-dac_override,-dac_read_search"
    as_a_user = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}"] if os.geteuid() == 0 else []
    code = (
        "from pipeline.config import LimitsConfig; from pipeline.sources import list_inputs, read_input; "
        f"[file] = list_inputs([{str(tmp_path)!r}]); [item] = read_input(file, LimitsConfig()); "
        "print(item.reason, item.detail)"
    )
    result = subprocess.run(
        [*as_a_user, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("unreadable") and "Permission denied" in result.stdout


def test_a_gzip_bomb_stops_at_the_ratio_limit_and_keeps_the_pages_before(tmp_path: Path) -> None:
    bomb_body = bytes(64 << 20)  # 64 MiB of zeros: about 64 KiB compressed
    archive = b"".join(gzip_member(record) for record in good_records(2))
    archive += gzip_member(warc_record("https://a.example/bomb", bomb_body))
    (tmp_path / "bomb.warc.gz").write_bytes(archive)
    items = read_all([str(tmp_path / "bomb.warc.gz")])
    assert [item.url for item in items if isinstance(item, RawPage)] == [
        "https://a.example/0",
        "https://a.example/1",
    ]
    record, archive = [item for item in items if isinstance(item, Rejection)]
    assert (record.url, record.reason) == ("https://a.example/bomb", "too_large")  # never buffered
    assert (archive.url, archive.reason) == ((tmp_path / "bomb.warc.gz").as_uri(), "compression_ratio")
    assert "after 3 records" in archive.detail


def test_decompressed_bytes_per_archive_are_capped(tmp_path: Path) -> None:
    records = good_records(40)
    (tmp_path / "long.warc.gz").write_bytes(b"".join(gzip_member(record) for record in records))
    limits = LimitsConfig(max_page_bytes=1000, max_archive_bytes=len(b"".join(records[:10])) + 100)
    items = [item for file in list_inputs([str(tmp_path)]) for item in read_input(file, limits)]
    pages = [item for item in items if isinstance(item, RawPage)]
    [stop] = [item for item in items if isinstance(item, Rejection)]
    assert stop.reason == "archive_too_large" and 9 <= len(pages) <= 10


@pytest.mark.parametrize("gzipped", [False, True])
def test_an_endless_header_line_is_refused_at_the_header_limit(tmp_path: Path, gzipped: bool) -> None:
    long_header = b"X-Long: " + b"a" * (8 << 20) + b"\r\n"  # 8 MiB on one header line
    records = [
        *good_records(2),
        warc_record("https://a.example/long", b"<p>x</p>", extra_headers=long_header),
    ]
    data = b"".join(gzip_member(r) for r in records) if gzipped else b"".join(records)
    path = tmp_path / ("long.warc.gz" if gzipped else "long.warc")
    path.write_bytes(data)
    items = read_all([str(path)])
    assert [item.url for item in items if isinstance(item, RawPage)] == [
        "https://a.example/0",
        "https://a.example/1",
    ]
    [refused] = [item for item in items if isinstance(item, Rejection)]
    assert refused.reason == "header_too_large" and refused.url == path.as_uri()


def test_a_header_block_of_many_short_lines_is_capped_too(tmp_path: Path) -> None:
    many = b"".join(b"X-%d: y\r\n" % n for n in range(20_000))  # ~200 KB of short lines
    path = tmp_path / "many.warc"
    path.write_bytes(warc_record("https://a.example/many", b"<p>x</p>", extra_headers=many))
    [refused] = read_all([str(path)])
    assert refused.reason == "header_too_large"


def test_a_record_without_target_uri_is_rejected_alone(tmp_path: Path) -> None:
    path = tmp_path / "anon.warc"
    path.write_bytes(warc_record(None, b"<p>whose?</p>") + b"".join(good_records(2)))
    items = read_all([str(path)])
    assert [item.url for item in items if isinstance(item, RawPage)] == [
        "https://a.example/0",
        "https://a.example/1",
    ]
    [anonymous] = [item for item in items if isinstance(item, Rejection)]
    assert (anonymous.url, anonymous.reason) == (f"{path.as_uri()}#record-1", "no_target_uri")


def test_a_record_declaring_a_huge_body_is_too_large_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.warc"
    path.write_bytes(warc_record("https://a.example/huge", b"x" * 50_000) + b"".join(good_records(1)))
    page, big, *rest = read_all([str(path)], max_bytes=1000)
    assert isinstance(page, RawPage) and not rest
    assert big.reason == "too_large" and "declares" in big.detail


def test_empty_archive_and_trailing_garbage(tmp_path: Path) -> None:
    (tmp_path / "empty.warc.gz").write_bytes(b"")
    (tmp_path / "tail.warc.gz").write_bytes(gzip_member(good_records(1)[0]) + b"\x1f\x8bgarbage")
    [empty] = read_all([str(tmp_path / "empty.warc.gz")])
    page, tail = read_all([str(tmp_path / "tail.warc.gz")])
    assert empty.reason == "empty"
    assert isinstance(page, RawPage) and tail.reason == "corrupt_archive" and "after 1 records" in tail.detail


def test_fetch_outcomes_map_to_the_closed_set_of_reasons(tmp_path: Path, write_warc) -> None:
    from warcio.warcwriter import WARCWriter

    path = tmp_path / "fetched.warc.gz"
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, outcome in [("https://a.example/404", "http_404"), ("https://a.example/new", "moon_phase")]:
            payload = f"outcome: {outcome}\r\ndetail: HTTP 404 Not Found\r\n".encode()
            writer.write_record(
                writer.create_warc_record(
                    url, "metadata", payload=io.BytesIO(payload), warc_content_type="application/warc-fields"
                )
            )
    missing, unknown = read_all([str(path)])
    assert (missing.reason, missing.detail) == ("http_status", "HTTP 404 Not Found")
    assert unknown.reason == "fetch_failed" and unknown.detail.startswith("moon_phase")


def test_a_reason_outside_the_closed_set_is_refused() -> None:
    with pytest.raises(ValueError, match="not a rejection reason"):
        Rejection("https://a.example/", "because")  # type: ignore[arg-type]


def test_every_reason_is_documented_for_readers() -> None:
    from pipeline.records import REASONS

    corpus = (Path(__file__).resolve().parent.parent / "docs" / "corpus.md").read_text()
    section = corpus[corpus.index("Rejection reasons") :]
    assert {reason for reason in REASONS if f"`{reason}`" not in section} == set()


def test_a_flood_of_blank_lines_between_records_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "blank.warc"
    path.write_bytes(good_records(1)[0] + b"\r\n" * 500_000 + good_records(2)[1])
    page, refused = read_all([str(path)])
    assert isinstance(page, RawPage) and refused.reason == "header_too_large"


def test_an_archive_gzipped_as_one_member_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "whole.warc.gz"
    path.write_bytes(gzip_member(b"".join(good_records(3))))
    assert [item.url for item in read_all([str(path)])] == [f"https://a.example/{n}" for n in range(3)]
