"""Reading the corpus the way docs/corpus.md tells downstream readers to.

Readers trust only objects a run manifest in the commit log lists, in manifest `sequence`
order, and a later record of a story supersedes an earlier one. Everything here goes through
the `Store` protocol, so it reads a local folder and an S3 prefix alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from pipeline import commits
from pipeline.output import decode_jsonl_gz
from pipeline.store import Store


def read_manifests(store: Store) -> list[dict[str, Any]]:
    """Manifests of all committed runs, in commit (`sequence`) order, as the JSON docs/corpus.md
    describes: the entries of the commit log."""
    return [asdict(manifest) for manifest in commits.read_manifests(store)]


def _records(store: Store, manifests: list[dict[str, Any]], kind: str) -> Iterator[dict[str, Any]]:
    for manifest in manifests:
        for key in manifest["objects"][kind]:
            yield from decode_jsonl_gz(store.get(key))


def _newest_first(store: Store, manifests: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Article records in the reverse of the order they were written: runs by sequence, then a
    run's parts, then the lines of a part."""
    for manifest in sorted(manifests, key=lambda manifest: manifest["sequence"], reverse=True):
        for key in reversed(manifest["objects"]["articles"]):
            yield from reversed(list(decode_jsonl_gz(store.get(key))))


def iter_articles(store: Store, manifests: list[dict[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
    """The current record of every story: the one written last (the highest-sequence run that
    wrote it and, within a run that read its pages in batches, its later record).

    Reads newest record first and remembers only story ids, so memory stays small.
    """
    seen: set[str] = set()
    for article in _newest_first(store, read_manifests(store) if manifests is None else manifests):
        if article["id"] not in seen:
            seen.add(article["id"])
            yield article


def iter_lineage(store: Store, manifests: list[dict[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
    """Every lineage row of the given runs (default: all committed runs)."""
    yield from _records(store, read_manifests(store) if manifests is None else manifests, "lineage")


def site_of(article: dict[str, Any]) -> str:
    """The publisher an article is counted under: the host of its web address when it has one
    (`source`), else the publisher name the page gives, else "unknown". A page read from a file
    or bucket without a web address would otherwise be counted under `file` or the bucket."""
    web = any(
        (address or "").startswith(("http://", "https://"))
        for address in (article["url"], article.get("declared_canonical_url"))
    )
    return article["source"] if web else article.get("sitename") or "unknown"


def corpus_report(
    store: Store, manifests: list[dict[str, Any]] | None = None, top: int = 10
) -> dict[str, Any]:
    """Counts by publisher (`site_of`), duplicate rate and the stories with the most copies, over
    the given runs."""
    manifests = read_manifests(store) if manifests is None else manifests
    totals: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for manifest in manifests:
        counts = manifest["counts"]
        totals.update(
            {name: counts[name] for name in ("pages_in", "canonical", "duplicates", "already_ingested")}
        )
        rejected.update(counts["rejected"])

    articles = {article["id"]: article for article in iter_articles(store, manifests)}
    pages_per_story = Counter(
        row["article_id"]
        for row in iter_lineage(store, manifests)
        if row["status"] in {"canonical", "duplicate"}  # a superseded URL has its canonical row already
    )
    placed = totals["canonical"] + totals["duplicates"]
    return {
        "runs": [manifest["run_id"] for manifest in manifests],
        "first_commit": manifests[0]["committed_at"] if manifests else None,
        "last_commit": manifests[-1]["committed_at"] if manifests else None,
        "pages_in": totals["pages_in"],
        "canonical": totals["canonical"],
        "duplicates": totals["duplicates"],
        "already_ingested": totals["already_ingested"],
        "rejected": dict(rejected.most_common()),
        "duplicate_rate": round(totals["duplicates"] / placed, 4) if placed else 0.0,
        "articles_by_site": dict(Counter(site_of(a) for a in articles.values()).most_common()),
        "biggest_stories": [
            {
                "id": story_id,
                "pages": pages,
                "title": articles[story_id]["title"] if story_id in articles else None,
                "url": articles[story_id]["url"] if story_id in articles else None,
            }
            for story_id, pages in pages_per_story.most_common(top)
        ],
    }
