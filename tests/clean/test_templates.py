"""Site templates: learned across pages of one site in a run, remembered across runs in the store."""

from __future__ import annotations

from pathlib import Path

from pipeline.clean import source_of
from pipeline.clean.lines import line_digest
from pipeline.clean.templates import learn_templates, remove_templates
from pipeline.commits import Manifest, RunCounts, RunObjects, append, commit_sequences
from pipeline.config import CleanConfig
from pipeline.layout import templates_key
from pipeline.records import Document
from pipeline.store import LocalStore
from pipeline.templates import load_templates, save_templates

CONFIG = CleanConfig()
NAV = "Home | World | Politics | Business"
STORIES = [
    "Rain is expected across the region on Friday, forecasters said in their weekly outlook.",
    "The city opened its third public library branch on Saturday with a reading festival.",
    "Local farmers reported a record apple harvest thanks to a warm and dry autumn.",
    "A new ferry line will link the two harbours from next spring, the port authority said.",
]


def doc(url: str, *lines: str) -> Document:
    return Document(
        url=url,
        text="\n".join(lines),
        fetched_at="2020-01-01T00:00:00Z",
        content_sha=url,
        source=url.split("/")[2],
        content_type="text/html",
    )


def site_pages(site: str, count: int, start: int = 0) -> list[Document]:
    return [
        doc(f"https://{site}/{i}", NAV, STORIES[i % len(STORIES)], "Our team")
        for i in range(start, start + count)
    ]


def test_lines_on_enough_pages_of_one_site_are_its_template() -> None:
    docs = site_pages("a.example", 3) + site_pages("b.example", 1)
    remove_templates(docs, CONFIG)
    assert [d.text for d in docs[:3]] == [STORIES[0], STORIES[1], STORIES[2]]
    assert docs[3].text == f"{NAV}\n{STORIES[0]}\nOur team"  # another site, seen once
    assert docs[0].removed["template"] == 2


def test_copies_of_one_story_do_not_make_a_template() -> None:
    short = "Officials confirmed the bridge will reopen in March"
    docs = [doc(f"https://a.example/{i}", short, STORIES[0]) for i in range(3)]
    templates, _ = learn_templates(docs, CONFIG)
    assert templates == {}


def test_templates_can_be_switched_off() -> None:
    docs = site_pages("a.example", 3)
    remove_templates(docs, CleanConfig(learn_templates=False))
    assert all(NAV in d.text for d in docs)


def commit(store: LocalStore, run_id: str) -> None:
    """Enter the run in the commit log (its template object is all these tests need)."""
    sequence = len(commit_sequences(store)) + 1
    append(store, Manifest(run_id, sequence, "2026-11-22T05:00:00Z", RunCounts(), RunObjects()))


def run(store: LocalStore, run_id: str, docs: list[Document]) -> list[Document]:
    learned: dict = {}
    remove_templates(docs, CONFIG, load_templates(store, CONFIG), learned)
    save_templates(store, run_id, learned, CONFIG)
    commit(store, run_id)
    return docs


def test_a_small_site_is_learned_over_several_runs(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    first = run(store, "20200101T000000Z", site_pages("a.example", 1))
    assert NAV in first[0].text  # one page: nothing to compare with yet
    run(store, "20200102T000000Z", site_pages("a.example", 1, start=1))
    run(store, "20200103T000000Z", site_pages("a.example", 1, start=2))
    later = run(store, "20200104T000000Z", site_pages("a.example", 1, start=3))
    assert later[0].text == STORIES[3]
    chrome = {line_digest("home world politics business"), line_digest("our team")}
    assert load_templates(store, CONFIG) == {"a.example": chrome}


def test_only_committed_runs_are_remembered(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    save_templates(store, "20200101T000000Z", {"a.example": {"home world": 5}}, CONFIG)
    assert load_templates(store, CONFIG) == {}
    commit(store, "20200101T000000Z")
    assert load_templates(store, CONFIG) == {"a.example": {"home world"}}


def test_saved_evidence_is_capped_per_site_and_deterministic(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    config = CleanConfig(template_memory_max_lines=2)
    learned = {"a.example": {"one": 1, "two": 5, "three": 3}}
    key = save_templates(store, "r1", learned, config)
    first = store.get(key)
    save_templates(store, "r1", learned, config)
    assert store.get(key) == first and key == templates_key("r1")
    commit(store, "r1")
    assert load_templates(store, CleanConfig(template_memory_min_pages=1)) == {"a.example": {"two", "three"}}


def test_only_the_newest_runs_count(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for number in range(3):
        save_templates(store, f"r{number}", {"a.example": {"old line": 2}}, CONFIG)
        commit(store, f"r{number}")
    assert load_templates(store, CONFIG) == {"a.example": {"old line"}}
    assert load_templates(store, CleanConfig(template_memory_runs=1)) == {}


QUOTE = (
    "We will not rest until every family in this valley has clean water again, the minister told "
    "reporters on Tuesday."
)


def local_page(url: str, text: str, canonical: str | None = None) -> Document:
    return Document(
        url=url,
        text=text,
        source=source_of(url, canonical),
        fetched_at="2020-01-01T00:00:00Z",
        content_sha=url,
        canonical_url=canonical,
        content_type="text/plain",
    )


def test_pages_with_no_known_site_share_no_template(tmp_path: Path) -> None:
    """A folder or a bucket holds many publishers: a quote they share is content, not chrome."""
    store = LocalStore(tmp_path)
    for prefix in ("file:///data/scrapes", "s3://landing/dt=2020-01-01/hour=00"):
        docs = [local_page(f"{prefix}/{i}.txt", f"{STORIES[i]}\n{STORIES[i + 1]}\n{QUOTE}") for i in range(3)]
        run_id = f"run-{prefix.split(':')[0]}"
        run(store, run_id, docs)
        assert all(QUOTE in d.text for d in docs), prefix
        assert load_templates(store, CleanConfig(template_memory_min_pages=1)) == {}


def test_a_declared_canonical_names_the_site_of_a_local_page() -> None:
    docs = [
        local_page(f"file:///data/{i}.html", f"{NAV}\n{STORIES[i]}", f"https://www.a.example/{i}")
        for i in range(3)
    ]
    templates, _ = learn_templates(docs, CONFIG)
    assert templates == {"a.example": {line_digest("home world politics business")}}


def test_the_newest_runs_are_the_last_committed_whatever_their_names(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    # commit order differs from name order: a reprocess run's id sorts after an ingest run's
    for run_id, line in [("cli-9", "oldest"), ("news_reprocess-1", "old"), ("news_ingest-2", "new")]:
        save_templates(store, run_id, {"a.example": {line: 1}}, CONFIG)
        commit(store, run_id)
    newest = CleanConfig(template_memory_runs=1, template_memory_min_pages=1)
    assert load_templates(store, newest) == {"a.example": {"new"}}


def test_workers_hand_over_one_digest_per_line() -> None:
    from datetime import UTC, datetime

    from pipeline.clean import extract
    from pipeline.clean.lines import line_key
    from pipeline.records import RawPage

    text = "\n".join([NAV, *STORIES])
    page = RawPage("https://a.example/1.txt", text.encode(), "text/plain", datetime.now(UTC))
    extracted = extract(page, CONFIG)
    assert isinstance(extracted, Document)
    lines = extracted.text.splitlines()
    assert extracted.line_digests == [line_digest(line_key(line)) for line in lines]


def test_a_document_without_digests_gets_them() -> None:
    docs = site_pages("a.example", 3)
    docs[0].line_digests = ["stale"]
    remove_templates(docs, CONFIG)
    assert [d.text for d in docs] == STORIES[:3]
    assert all(len(d.line_digests) == len(d.text.splitlines()) for d in docs)
