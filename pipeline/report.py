"""What the runs of a store did, shaped for people: per-run figures, rejections by reason, and
"where did this URL go?".

The Airflow view (plugins/news_views.py) and `python -m pipeline report` show the same data,
so it is shaped here, once, from what `pipeline.corpus` reads (committed runs only). Every
function returns plain JSON-ready dicts.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from pipeline.corpus import iter_articles, iter_lineage, read_manifests
from pipeline.records import utc_iso
from pipeline.store import Store

SAMPLE_URLS = 5  # sample URLs shown per rejection reason


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def run_figures(manifest: dict[str, Any]) -> dict[str, Any]:
    """One run's counts from its manifest, with its rates and throughput.

    duplicate_rate: duplicates among the pages placed in a story (canonical + duplicates), as in
    `corpus_report`; rejection_rate: rejected among all pages in; pages_per_second: pages in per
    second of the run (None for a run too short to time).
    """
    counts = manifest["counts"]
    rejected = sum(counts["rejected"].values())
    seconds = counts["seconds"]
    return {
        "run_id": manifest["run_id"],
        "sequence": manifest["sequence"],
        "committed_at": manifest["committed_at"],
        "pages_in": counts["pages_in"],
        "canonical": counts["canonical"],
        "duplicates": counts["duplicates"],
        "already_ingested": counts["already_ingested"],
        "superseded": counts.get("superseded", 0),
        "rejected": rejected,
        "rejected_by_reason": dict(sorted(counts["rejected"].items())),
        "seconds": seconds,
        "pages_per_second": round(counts["pages_in"] / seconds, 1) if seconds else None,
        "duplicate_rate": _rate(counts["duplicates"], counts["canonical"] + counts["duplicates"]),
        "rejection_rate": _rate(rejected, counts["pages_in"]),
    }


def rejections_by_reason(store: Store, manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rejected pages of the given runs by reason, most frequent first, each with up to
    SAMPLE_URLS of its most recent pages (url, detail, run) as examples.

    The counts come from the manifests; only the lineage of the newest runs with rejections is
    read, until every reason has its samples, so a page load stays cheap on a long history.
    """
    counts: Counter[str] = Counter()
    for manifest in manifests:
        counts.update(manifest["counts"]["rejected"])
    samples: dict[str, list[dict[str, Any]]] = {reason: [] for reason in counts}
    for manifest in sorted(manifests, key=lambda manifest: manifest["sequence"], reverse=True):
        if all(len(samples[reason]) >= min(SAMPLE_URLS, n) for reason, n in counts.items()):
            break
        if not manifest["counts"]["rejected"]:
            continue
        for row in iter_lineage(store, [manifest]):
            examples = samples.get(row["reason"]) if row["status"] == "rejected" else None
            if examples is not None and len(examples) < SAMPLE_URLS:
                examples.append({name: row[name] for name in ("url", "detail", "run_id")})
    return [{"reason": reason, "pages": n, "samples": samples[reason]} for reason, n in counts.most_common()]


def run_report(store: Store) -> dict[str, Any]:
    """Everything the runs page shows: each committed run's figures in commit order, the totals,
    and the rejections by reason."""
    manifests = read_manifests(store)
    runs = [run_figures(manifest) for manifest in manifests]
    summed = ("pages_in", "canonical", "duplicates", "already_ingested", "rejected", "seconds")
    totals = {name: sum(run[name] for run in runs) for name in summed}
    totals["seconds"] = round(totals["seconds"], 3)
    totals["duplicate_rate"] = _rate(totals["duplicates"], totals["canonical"] + totals["duplicates"])
    totals["rejection_rate"] = _rate(totals["rejected"], totals["pages_in"])
    return {
        "store": store.uri,
        "generated_at": utc_iso(datetime.now(UTC)),
        "runs": runs,
        "totals": totals,
        "rejections": rejections_by_reason(store, manifests),
    }


def _page(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("url", "status", "article_id", "similarity", "method", "reason", "detail", "fetched_at", "run_id")
    return {name: row.get(name) for name in keep}


def _article_summary(article: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "url", "title", "source", "sitename", "published_at", "language", "supersedes", "run_id")
    return {name: article.get(name) for name in keep}


def find_story(store: Store, url: str) -> dict[str, Any] | None:
    """Where a URL went: every lineage row of it (which run took it, as what), and, if it was
    placed in a story, that story's current canonical article and every page of the story with
    its similarity and how it was matched. None when no committed run has the URL.

    Reads the lineage twice (the URL's rows, then its story's rows) and keeps only those rows.
    """
    url = url.strip()  # as pasted
    manifests = read_manifests(store)
    rows = [_page(row) for row in iter_lineage(store, manifests) if row["url"] == url]
    if not rows:
        return None
    story_id = next((row["article_id"] for row in reversed(rows) if row["article_id"]), None)  # the latest
    result: dict[str, Any] = {"url": url, "rows": rows, "story_id": story_id, "article": None, "pages": []}
    if story_id is None:  # rejected every time it came in
        return result
    article = next((a for a in iter_articles(store, manifests) if a["id"] == story_id), None)
    result["article"] = _article_summary(article) if article else None
    pages = [_page(row) for row in iter_lineage(store, manifests) if row["article_id"] == story_id]
    order = {"canonical": 0, "duplicate": 1, "superseded": 2}  # then the closest copies first
    result["pages"] = sorted(pages, key=lambda p: (order.get(p["status"], 3), -(p["similarity"] or 0)))
    return result
