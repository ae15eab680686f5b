"""Which copy is a story's canonical, within a run and across runs (superseding, stable ids)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import corpus, output
from pipeline.config import DedupConfig
from pipeline.dedup import (
    Candidate,
    CanonicalChoice,
    Deduplicator,
    Story,
    Text,
    publication_window,
)
from pipeline.records import Document
from pipeline.runner import ingest
from pipeline.shingles import shingle_batch
from pipeline.store import LocalStore, Store
from tests.dedup.texts import DATELINE, LOCAL_PARAGRAPHS, NOTE, TRAILER, TRANSFORMS, WIRE_STORY, document, utc

CONFIG = DedupConfig()


def test_publication_windows() -> None:
    fetched = "2020-09-15T00:00:00Z"
    exact = publication_window("2020-09-14T10:30:00+02:00", fetched, 0)
    assert exact.earliest == exact.latest == utc("2020-09-14T08:30:00Z").timestamp()
    day = publication_window("2020-09-14", fetched, 0)
    assert (day.earliest, day.latest) == (
        utc("2020-09-14T00:00:00Z").timestamp(),
        utc("2020-09-14T23:59:59Z").timestamp(),
    )
    unzoned = publication_window("2020-09-14T10:00:00", fetched, 2)
    assert unzoned.latest - unzoned.earliest == 4 * 3600
    for missing in (None, "", "not a date"):
        undated = publication_window(missing, fetched, 0)
        assert undated.latest == utc(fetched).timestamp() and not undated.precedes(exact)
    assert exact.precedes(publication_window("2020-09-14T09:00:00Z", fetched, 0))
    assert not day.precedes(publication_window("2020-09-14T22:00:00Z", fetched, 0))
    assert day.precedes(publication_window("2020-09-15T00:00:00Z", fetched, 0))


def members(*versions: tuple[list[str], str | None]) -> list[Candidate]:
    batch, word_counts = shingle_batch(["\n".join(p) for p, _ in versions], CONFIG.shingle_words)
    return [
        Candidate(publication_window(published, "2020-09-20T00:00:00Z", 0), Text(shingles, words))
        for (_, published), shingles, words in zip(versions, batch, word_counts.tolist(), strict=True)
    ]


def choose_canonical(candidates: list[Candidate], config: DedupConfig) -> int:
    """The original among the members, added in this order."""
    choice = CanonicalChoice(config)
    for candidate in candidates:
        choice.add(candidate)
    return choice.best


def test_the_earliest_publication_wins() -> None:
    chosen = choose_canonical(
        members(
            (TRANSFORMS["extend"](WIRE_STORY), "2020-09-14T09:00:00Z"), (WIRE_STORY, "2020-09-14T11:00:00Z")
        ),
        CONFIG,
    )
    assert chosen == 0


def test_a_truncated_copy_published_at_the_same_time_loses_to_the_full_text() -> None:
    same_time = "2020-09-14T09:00:00Z"
    assert choose_canonical(members((WIRE_STORY[:4], same_time), (WIRE_STORY, same_time)), CONFIG) == 1
    # Only the day known: the truncated copy is not certainly earlier.
    assert (
        choose_canonical(
            members((WIRE_STORY[:4], "2020-09-14"), (WIRE_STORY, "2020-09-14T18:00:00Z")), CONFIG
        )
        == 1
    )


def test_among_same_day_copies_the_original_is_the_one_the_others_derive_from() -> None:
    """Copies add datelines, notes, trailers and local paragraphs; the original has least of its own."""
    day = "2020-09-14"
    versions = [
        ([DATELINE + WIRE_STORY[0], *WIRE_STORY[1:], *LOCAL_PARAGRAPHS], day),
        ([NOTE, *WIRE_STORY, TRAILER], day),
        (WIRE_STORY, day),
        (WIRE_STORY[:5], day),
    ]
    assert choose_canonical(members(*versions), CONFIG) == 2


def test_a_copy_without_a_date_does_not_beat_a_dated_full_original() -> None:
    """An undated copy might be earliest, but a truncated one is not the full original."""
    versions = [
        (WIRE_STORY[:4], None),
        (WIRE_STORY, "2020-09-14T09:00:00Z"),
        ([NOTE, *WIRE_STORY], "2020-09-15T09:00:00Z"),
    ]
    assert choose_canonical(members(*versions), CONFIG) == 1


def recounted_choice(candidates: list[Candidate]) -> int:
    """The canonical rule computed from scratch with Python sets: the plain definition."""
    sets = [set(candidate.text.shingles.tolist()) for candidate in candidates]
    first_end = min(candidate.window.latest for candidate in candidates)
    earliest = [i for i, c in enumerate(candidates) if c.window.earliest <= first_end]
    if len(earliest) == 1:
        return earliest[0]
    count = len(sets)
    support = [
        sum(len(sets[i] & sets[j]) / max(1, len(sets[j])) for j in range(count) if j != i) / (count - 1)
        for i in range(count)
    ]
    others = [set().union(*(sets[j] for j in range(count) if j != i)) for i in range(count)]
    added = [len(sets[i] - others[i]) / max(1, len(sets[i])) if count >= 3 else 0.0 for i in range(count)]
    best = max(support[i] for i in earliest)
    full = [i for i in earliest if support[i] >= best - CONFIG.support_tolerance]
    return min(full, key=lambda i: (added[i], -candidates[i].text.words, i))


def test_the_choice_kept_as_members_join_equals_a_recount() -> None:
    """The counts kept member by member decide as counting everything again would."""
    day, transforms = "2020-09-14", list(TRANSFORMS.values())
    versions = [
        (WIRE_STORY[:4], "2020-09-14T09:00:00Z"),  # alone and earliest: time decides
        (TRANSFORMS["trailer"](WIRE_STORY), None),  # undated: now two may be earliest
        *[(transforms[n % len(transforms)](WIRE_STORY), day) for n in range(12)],
        (WIRE_STORY, day),
        ([*WIRE_STORY[:3], *LOCAL_PARAGRAPHS], "2020-09-13"),  # a day earlier: drops the others
        (WIRE_STORY[1:], "2020-09-13T10:00:00"),
    ]
    moves = []
    for order in (versions, versions[::-1], versions[1::2] + versions[::2]):
        candidates = members(*order)
        choice, chosen = CanonicalChoice(CONFIG), []
        for number, candidate in enumerate(candidates, 1):
            chosen.append(choice.add(candidate))
            assert chosen[-1] == recounted_choice(candidates[:number])
        moves.append(len(set(chosen)))
    assert max(moves) >= 3  # the choice moved as members came


def story_of(url: str, paragraphs: list[str], published: str) -> Story:
    [text], [words] = shingle_batch(["\n".join(paragraphs)], CONFIG.shingle_words)
    return Story("s_stored", url, published, "2020-09-20T00:00:00Z", int(words), text)


def test_an_earlier_publication_in_a_later_run_supersedes_and_keeps_the_story_id() -> None:
    stored = story_of(
        "https://copy.example/a", [DATELINE + WIRE_STORY[0], *WIRE_STORY[1:]], "2020-09-14T12:00:00Z"
    )
    original = document("https://wire.example/a", WIRE_STORY, "2020-09-14T08:00:00Z")
    dedup = Deduplicator(CONFIG, [stored])
    [decision] = dedup.assign([original])
    assert (decision.status, decision.story_id, decision.canonical_url) == (
        "canonical",
        "s_stored",
        original.url,
    )
    assert [(s.story_id, s.old_url, s.new_url) for s in dedup.superseded] == [
        ("s_stored", stored.canonical_url, original.url)
    ]
    [changed] = dedup.changed
    assert (changed.story_id, changed.canonical_url, changed.published_at) == (
        "s_stored",
        original.url,
        original.published_at,
    )
    # The next run verifies against the new canonical.
    later_copy = document(
        "https://other.example/a", TRANSFORMS["trailer"](WIRE_STORY), "2020-09-15T08:00:00Z"
    )
    [copy_decision] = Deduplicator(CONFIG, [changed]).assign([later_copy])
    assert (copy_decision.status, copy_decision.story_id, copy_decision.canonical_url) == (
        "duplicate",
        "s_stored",
        original.url,
    )


def test_a_fuller_publication_at_the_same_time_supersedes() -> None:
    stored = story_of("https://wire.example/urgent", WIRE_STORY[:4], "2020-09-14T08:00:00Z")
    full = document("https://wire.example/full", WIRE_STORY, "2020-09-14T08:00:00Z")
    dedup = Deduplicator(CONFIG, [stored])
    assert dedup.assign([full])[0].status == "canonical"
    assert [s.new_url for s in dedup.superseded] == [full.url]


def test_a_later_or_refetched_page_leaves_the_stored_canonical_alone() -> None:
    stored = story_of("https://wire.example/a", WIRE_STORY, "2020-09-14T08:00:00Z")
    later = document("https://copy.example/a", TRANSFORMS["extend"](WIRE_STORY), "2020-09-14T12:00:00Z")
    again = document("https://wire.example/a", WIRE_STORY, "2020-09-14T08:00:00Z")
    dedup = Deduplicator(CONFIG, [stored])
    later_decision, again_decision = dedup.assign([later, again])
    assert (later_decision.status, later_decision.canonical_url) == ("duplicate", stored.canonical_url)
    assert (again_decision.status, again_decision.story_id) == ("canonical", "s_stored")
    assert dedup.superseded == [] and dedup.changed == []


def digest_of(doc: Document) -> int:
    [shingles], [words] = shingle_batch([doc.text], CONFIG.shingle_words)
    return Text(shingles, int(words)).digest


def test_identical_later_copies_of_a_storys_pages_never_supersede_nor_add_a_story() -> None:
    """A run that meets word-for-word copies of pages an earlier run placed leaves the stories alone,
    though the choice sees only the stored canonical and, with two members, would take the fuller."""
    day = "2020-09-14"
    original = document("https://wire.example/a", WIRE_STORY, day)
    copies = [
        document(f"https://{kind}.example/a", TRANSFORMS[kind](WIRE_STORY), day)
        for kind in ("extend", "trailer")
    ]
    first = Deduplicator(CONFIG, [])
    assert {d.canonical_url for d in first.assign([original, *copies])} == {original.url}
    for page in (original, *copies):
        mirror = document(
            page.url.replace("://", "://mirror."), page.text.split("\n"), day, "2021-01-01T00:00:00Z"
        )
        later = Deduplicator(CONFIG, first.changed, first.placed_texts)
        [decision] = later.assign([mirror])
        assert (decision.status, decision.canonical_url) == ("duplicate", original.url)
        assert later.changed == [] and later.superseded == []
        assert later.placed_texts == {digest_of(mirror): first.changed[0].story_id}


def test_an_identical_copy_certainly_published_earlier_is_the_original_found_late() -> None:
    stored = story_of("https://copy.example/a", WIRE_STORY, "2020-09-14T12:00:00Z")
    original = document("https://wire.example/a", WIRE_STORY, "2020-09-14T08:00:00Z", "2021-01-01T00:00:00Z")
    dedup = Deduplicator(CONFIG, [stored])
    [decision] = dedup.assign([original])
    assert (decision.status, decision.story_id) == ("canonical", "s_stored")
    assert [s.new_url for s in dedup.superseded] == [original.url]


def test_identical_copies_in_one_run_do_not_outvote_the_original() -> None:
    """A copy's additions repeated word for word by its own copies are still additions: among
    same-day members the original, which adds nothing, stays the canonical."""
    day = "2020-09-14"
    original = document("https://wire.example/a", WIRE_STORY, day)
    noted = TRANSFORMS["note"](WIRE_STORY)
    copies = [document(f"https://site{n}.example/a", noted, day) for n in range(4)]
    trailer = document("https://trailer.example/a", TRANSFORMS["trailer"](WIRE_STORY), day)
    decisions = Deduplicator(CONFIG, []).assign([*copies, trailer, original])
    assert {d.canonical_url for d in decisions} == {original.url}


# --- end to end: the corpus a reader sees ------------------------------------------------------------


def page(title: str, paragraphs: list[str], published: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<html><head><title>{title}</title><meta property="article:published_time" content="{published}">'
        f"</head><body><article><h1>{title}</h1>{body}</article></body></html>"
    ).encode()


def rows(store: Store, kind: str) -> list[dict]:
    return [
        row
        for manifest in corpus.read_manifests(store)
        for key in manifest["objects"][kind]
        for row in output.decode_jsonl_gz(store.get(key))
    ]


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "corpus")


def test_a_later_run_with_the_original_supersedes_the_stored_copy(
    store: LocalStore, tmp_path: Path, write_warc
) -> None:
    copy_url, original_url, late_url = (
        "https://copy.example/dam",
        "https://wire.example/dam",
        "https://late.example/dam",
    )
    first = write_warc(
        tmp_path / "first.warc.gz",
        [
            (
                copy_url,
                200,
                "text/html",
                page(
                    "Dam rebuild approved",
                    [DATELINE + WIRE_STORY[0], *WIRE_STORY[1:], TRAILER],
                    "2020-09-14T12:00:00Z",
                ),
            ),
        ],
    )
    second = write_warc(
        tmp_path / "second.warc.gz",
        [
            (
                original_url,
                200,
                "text/html",
                page("Water authority approves dam plan", WIRE_STORY, "2020-09-14T08:00:00Z"),
            ),
        ],
    )
    third = write_warc(
        tmp_path / "third.warc.gz",
        [
            (
                late_url,
                200,
                "text/html",
                page("Millbrook dam to be rebuilt", [NOTE, *WIRE_STORY[:6]], "2020-09-15T08:00:00Z"),
            ),
        ],
    )
    assert ingest([str(first)], store, "run-1").canonical == 1
    assert ingest([str(second)], store, "run-2").canonical == 1
    assert ingest([str(third)], store, "run-3").duplicates == 1

    manifests = corpus.read_manifests(store)
    assert [m["counts"]["superseded"] for m in manifests] == [0, 1, 0]
    articles = rows(store, "articles")
    assert [a["url"] for a in articles] == [copy_url, original_url]
    assert len({a["id"] for a in articles}) == 1  # the story keeps its id
    assert articles[1]["supersedes"] == copy_url
    [current] = corpus.iter_articles(store)
    assert current["url"] == original_url

    lineage = {(row["run_id"], row["url"]): row for row in rows(store, "lineage")}
    superseded = lineage[("run-2", copy_url)]
    assert (superseded["status"], superseded["canonical_url"]) == ("superseded", original_url)
    assert lineage[("run-3", late_url)]["canonical_url"] == original_url
    # Every URL leads to the current canonical through its story id.
    assert {row["article_id"] for row in lineage.values()} == {current["id"]}
    assert json.loads(store.get("runs/run-2/manifest.json"))["schema_version"] == output.SCHEMA_VERSION
