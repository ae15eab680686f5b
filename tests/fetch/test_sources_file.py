"""The sources file: the documented example loads, and every mistake is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.fetch import FetchOptions, Source, SourcesError, load_sources

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return path


def test_the_example_file_loads() -> None:
    sources = load_sources(REPO / "examples" / "sources.yaml")
    assert {s.kind for s in sources} == {"feed", "sitemap", "urls"}
    assert all(s.options.user_agent for s in sources)


def test_defaults_apply_and_sources_override_them(tmp_path: Path) -> None:
    (tmp_path / "picked.txt").write_text("# hand-picked\nhttps://example.org/a\n\nhttps://example.org/b\n")
    path = write(
        tmp_path,
        """
defaults: {rate: 0.5, user_agent: "TestBot/1.0 (+mailto:ops@example.org)"}
sources:
  - name: wire
    feed: [https://example.org/rss, https://example.org/atom]
    rate: 2
    allow_networks: [10.0.0.0/8]
  - name: news.sitemap
    sitemap: https://example.org/news-sitemap.xml
    max_pages: 20
  - {name: picked, urls_file: picked.txt}
""",
    )
    wire, sitemap, picked = load_sources(path)
    assert wire == Source(
        "wire",
        "feed",
        ("https://example.org/rss", "https://example.org/atom"),
        FetchOptions(
            rate=2, user_agent="TestBot/1.0 (+mailto:ops@example.org)", allow_networks=("10.0.0.0/8",)
        ),
    )
    assert sitemap.options.rate == 0.5 and sitemap.options.max_pages == 20
    assert picked.kind == "urls" and picked.urls == ("https://example.org/a", "https://example.org/b")
    assert Source.from_dict(wire.to_dict()) == wire  # travels through a scheduler as plain data


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources: []", "'sources' must be a non-empty list"),
        ("source: []", "unknown top-level key(s) ['source']"),
        ("sources: [{feed: 'https://a.org/rss'}]", "needs a 'name'"),
        ("sources: [{name: 'a b', feed: 'https://a.org/rss'}]", "needs a 'name'"),
        ("sources: [{name: a}]", "give exactly one of feed, sitemap, urls or urls_file"),
        ("sources: [{name: a, feed: x, sitemap: y}]", "give exactly one of"),
        ("sources: [{name: a, feed: 'ftp://a.org/rss'}]", "not absolute http(s) URLs"),
        (
            "sources: [{name: a, feed: 'https://a.org/rss', rate: fast}]",
            "option 'rate' must be a number >= 0",
        ),
        (
            "sources: [{name: a, feed: 'https://a.org/rss', max_pages: 0}]",
            "'max_pages' must be an integer >= 1",
        ),
        ("sources: [{name: a, feed: 'https://a.org/rss', retries: true}]", "'retries' must be an integer"),
        ("sources: [{name: a, feed: 'https://a.org/rss', allow_networks: [intranet]}]", "a list of CIDRs"),
        ("sources: [{name: a, feed: 'https://a.org/rss', ratelimit: 1}]", "unknown key(s) ['ratelimit']"),
        ("defaults: {speed: 1}\nsources: [{name: a, feed: 'https://a.org/rss'}]", "'defaults' must be"),
        ("sources: [{name: a, urls_file: missing.txt}]", "cannot read urls_file"),
        (
            "sources:\n - {name: a, feed: 'https://a.org/rss'}\n - {name: a, urls: ['https://a.org/x']}",
            "unique",
        ),
        ("sources: [{name: a, feed: [}", "not valid YAML"),
    ],
)
def test_mistakes_are_reported_with_their_place(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SourcesError) as raised:
        load_sources(write(tmp_path, text))
    assert message in str(raised.value)
    assert str(tmp_path / "sources.yaml") in str(raised.value)


def test_a_missing_file_is_a_sources_error(tmp_path: Path) -> None:
    with pytest.raises(SourcesError, match="cannot read sources file"):
        load_sources(tmp_path / "nope.yaml")
