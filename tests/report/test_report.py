"""The run report without Airflow: its figures (pipeline.report) and the self-contained page of
`python -m pipeline report`, opened in a real browser."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pipeline.corpus import iter_lineage, read_manifests
from pipeline.report import SAMPLE_URLS, find_story, run_report
from pipeline.store import LocalStore
from tests.conftest import run_cli
from tests.report.conftest import HOSTILE_URLS, expected_story, gold_story, syndicated_url

COUNTS = ("pages_in", "canonical", "duplicates", "already_ingested")


def test_run_figures_are_the_manifests_counts(seeded_store: Path) -> None:
    store = LocalStore(seeded_store)
    manifests = read_manifests(store)
    runs = run_report(store)["runs"]
    assert [run["run_id"] for run in runs] == ["dev-1", "dev-2", "dev-3"]
    for run, manifest in zip(runs, manifests, strict=True):
        counts = manifest["counts"]
        assert {name: run[name] for name in COUNTS} == {name: counts[name] for name in COUNTS}
        assert run["rejected_by_reason"] == counts["rejected"]
        assert run["rejected"] == sum(counts["rejected"].values())
        assert run["duplicate_rate"] == round(
            counts["duplicates"] / (counts["canonical"] + counts["duplicates"] or 1), 4
        )
        assert run["pages_per_second"] == round(counts["pages_in"] / counts["seconds"], 1)
    assert runs[1]["rejected_by_reason"] == {"binary": 1, "empty": 2, "no_article": 1, "too_short": 1}
    assert runs[2]["already_ingested"] == runs[2]["pages_in"] > 0  # the whole set again adds nothing


def test_rejections_by_reason_have_their_counts_and_rejected_sample_urls(seeded_store: Path) -> None:
    store = LocalStore(seeded_store)
    rejected = {row["url"]: row["reason"] for row in iter_lineage(store) if row["status"] == "rejected"}
    groups = run_report(store)["rejections"]
    assert {group["reason"]: group["pages"] for group in groups} == Counter(rejected.values())
    for group in groups:
        assert 1 <= len(group["samples"]) <= SAMPLE_URLS
        assert all(rejected[sample["url"]] == group["reason"] for sample in group["samples"])


def test_a_syndicated_url_leads_to_its_story_canonical_and_every_copy(seeded_store: Path) -> None:
    url = syndicated_url()
    article, rows = expected_story(seeded_store, url)
    story = find_story(LocalStore(seeded_store), url)

    assert story["story_id"] == article["id"]
    assert story["article"]["url"] == article["url"]
    assert sorted((page["url"], page["status"]) for page in story["pages"]) == sorted(
        (row["url"], row["status"]) for row in rows
    )
    assert story["pages"][0]["status"] == "canonical"
    copies = [page for page in story["pages"] if page["status"] == "duplicate"]
    assert all(0 < page["similarity"] <= 1 and page["method"] for page in copies)
    # The story is the labelled one: the URL and other copies of its gold story are in it.
    assert len(gold_story(url) & {page["url"] for page in story["pages"]}) >= 3
    assert [row["run_id"] for row in story["rows"]] == [row["run_id"] for row in rows if row["url"] == url]


def test_a_rejected_url_has_its_reason_and_no_story(seeded_store: Path) -> None:
    store = LocalStore(seeded_store)
    url = next(row["url"] for row in iter_lineage(store) if row["reason"] == "too_short")
    story = find_story(store, f"  {url}\n")  # pasted with blanks around it
    assert story["story_id"] is None and story["pages"] == []
    assert [(row["status"], row["reason"], row["run_id"]) for row in story["rows"]] == [
        ("rejected", "too_short", "dev-2")
    ]


def test_an_unknown_url_has_no_story(seeded_store: Path) -> None:
    assert find_story(LocalStore(seeded_store), "https://nowhere.example/never-fetched") is None


def cell_values(page: Any, selector: str) -> list[dict[str, str]]:
    """Each table row of `selector` as {data-field: text}."""
    to_fields = "tr => Object.fromEntries([...tr.cells].map(td => [td.dataset.field, td.textContent]))"
    return page.eval_on_selector_all(f"{selector} tbody tr", f"rows => rows.map({to_fields})")


def check_page_shows_the_store(page: Any, store: LocalStore) -> None:
    """The runs table, both charts and the rejections table of a loaded runs page (the stand-alone
    report or the Airflow view) against the manifests and lineage of the store."""
    manifests = read_manifests(store)
    shown = {row["run_id"]: row for row in cell_values(page, "#runs-table")}
    assert set(shown) == {manifest["run_id"] for manifest in manifests}
    for manifest in manifests:
        counts, row = manifest["counts"], shown[manifest["run_id"]]
        assert {name: int(row[name]) for name in COUNTS} == {name: counts[name] for name in COUNTS}
        assert int(row["rejected"]) == sum(counts["rejected"].values())
        assert float(row["seconds"]) == counts["seconds"]

    charted = page.evaluate(
        """() => ["pages-chart", "rates-chart"].map(id => {
             const chart = Chart.getChart(id);
             return {labels: chart.data.labels.map(label => label[1]),
                     series: Object.fromEntries(chart.data.datasets.map(d => [d.label, d.data]))};
           })"""
    )
    run_ids = [manifest["run_id"] for manifest in manifests]
    assert [chart["labels"] for chart in charted] == [run_ids, run_ids]  # one point per run, in order
    pages, rates = (chart["series"] for chart in charted)
    assert pages["canonical"] == [manifest["counts"]["canonical"] for manifest in manifests]
    assert pages["duplicates"] == [manifest["counts"]["duplicates"] for manifest in manifests]
    assert pages["already ingested"] == [manifest["counts"]["already_ingested"] for manifest in manifests]
    assert pages["rejected"] == [sum(manifest["counts"]["rejected"].values()) for manifest in manifests]
    assert all(len(series) == len(manifests) for series in rates.values())

    reasons: Counter[str] = Counter()
    for manifest in manifests:
        reasons.update(manifest["counts"]["rejected"])
    shown_reasons = {row["reason"]: int(row["pages"]) for row in cell_values(page, "#rejections-table")}
    assert shown_reasons == reasons
    # Here every reason has at most SAMPLE_URLS pages: all of them are shown, as they are.
    rejected = {row["url"] for row in iter_lineage(store) if row["status"] == "rejected"}
    assert set(page.locator("#rejections-table a").all_text_contents()) == rejected
    assert rejected >= set(HOSTILE_URLS)
    assert page.evaluate("window.pwned") is None  # the markup in those URLs never ran


def test_html_report_opens_in_a_browser_and_shows_the_manifests_figures(
    seeded_store: Path, tmp_path: Path, page: Any
) -> None:
    report = tmp_path / "report.html"
    result = run_cli("report", "--store", str(seeded_store), "--html", str(report))
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stderr and "3 runs" in result.stderr

    blocked: list[str] = []  # self-contained: the page asks for nothing but itself
    page.route("**/*", lambda route: route.continue_() if route.request.url == report.as_uri()
               else (blocked.append(route.request.url), route.abort()))
    page.goto(report.as_uri())
    page.wait_for_selector("body[data-ready=true]")
    check_page_shows_the_store(page, LocalStore(seeded_store))
    assert page.locator("#inspector").count() == 0  # no server to ask: no inspector
    assert blocked == []
    page.screenshot(path=tmp_path / "report.png", full_page=True)


def test_report_of_a_store_without_runs_exits_2(tmp_path: Path) -> None:
    result = run_cli("report", "--store", str(tmp_path / "empty"), "--html", str(tmp_path / "r.html"))
    assert result.returncode == 2
    assert "has no committed runs" in result.stderr
    assert not (tmp_path / "r.html").exists()
