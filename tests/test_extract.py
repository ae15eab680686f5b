"""The extraction stage: pages cleaned in limited workers, results in input order."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Config
from pipeline.extract import extract_files
from pipeline.records import Document, Rejection
from pipeline.sources import list_inputs

ARTICLE = "<html><body><article>{}</article></body></html>".format(
    "".join(
        f"<p>Paragraph {n} of a real article, with enough words to be kept as text.</p>" for n in range(12)
    )
)


def limited(cpu_seconds: float = 20, memory_mb: int = 1024) -> Config:
    return Config.model_validate(
        {"limits": {"page_cpu_seconds": cpu_seconds, "page_memory_mb": memory_mb}, "clean": {"workers": 2}}
    )


def test_a_page_of_a_million_tags_is_rejected_and_the_others_are_cleaned_in_order(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(ARTICLE)
    (tmp_path / "b-million.html").write_bytes(b"<html><body>" + b"<p>x</p>" * 1_000_000 + b"</body></html>")
    (tmp_path / "c.html").write_text(ARTICLE.replace("real", "second"))
    (tmp_path / "d.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (tmp_path / "e.html").write_text(ARTICLE.replace("real", "third"))
    results = list(extract_files(list_inputs([str(tmp_path)]), limited(cpu_seconds=2)))
    assert [Path(item.url).name for item in results] == [
        "a.html",
        "b-million.html",
        "c.html",
        "d.png",
        "e.html",
    ]
    million = results[1]
    assert isinstance(million, Rejection) and million.reason == "time_limit" and million.content_sha
    assert all(isinstance(results[n], Document) for n in (0, 2, 4))
    assert isinstance(results[3], Rejection) and results[3].reason == "binary"


def test_rejections_from_reading_pass_through_in_place(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(ARTICLE)
    (tmp_path / "b.html").symlink_to(tmp_path / "missing.html")
    (tmp_path / "c.html").write_text(ARTICLE.replace("real", "other"))
    results = list(extract_files(list_inputs([str(tmp_path)]), limited()))
    assert [(Path(item.url).name, type(item).__name__) for item in results] == [
        ("a.html", "Document"),
        ("b.html", "Rejection"),
        ("c.html", "Document"),
    ]
