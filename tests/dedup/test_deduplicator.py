"""Which pages are copies of one story: every kind of syndication joins, look-alikes stay apart."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import DedupConfig
from pipeline.dedup import Deduplicator
from pipeline.dedup.index import in_memory
from pipeline.dedup.shingles import shingle_batch
from pipeline.dedup.verification import Overlap, StoryFrequency, Text, Verifier
from pipeline.records import Decision, Document
from tests.dedup.texts import (
    DATELINE,
    LOCAL_PARAGRAPHS,
    MATCH_FACTS,
    MATCH_REPORT,
    NOTE,
    PRESS_RELEASES,
    STATEMENT,
    STORIES_QUOTING_THE_STATEMENT,
    TRAILER,
    TRANSFORMS,
    WIRE_STORY,
    document,
    edited,
    text,
    watermarked,
)

CONFIG = DedupConfig()
NOTE_OF_THE_HARBOUR = "Notice number 99 from the harbour office."
ORIGINAL = document("https://wire.example/dam-vote", WIRE_STORY, "2020-09-14T08:00:00Z")


def assign(docs: list[Document], config: DedupConfig = CONFIG) -> list[Decision]:
    return Deduplicator(config).assign(docs)


def stories(decisions: list[Decision]) -> int:
    return len({decision.story_id for decision in decisions})


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_a_syndicated_copy_joins_its_original(transform: str) -> None:
    copy = document(
        f"https://copy.example/{transform}", TRANSFORMS[transform](WIRE_STORY), "2020-09-14T11:00:00Z"
    )
    copy_decision, original_decision = assign([copy, ORIGINAL])
    assert original_decision.status == "canonical"
    assert copy_decision.status == "duplicate"
    assert copy_decision.story_id == original_decision.story_id
    assert copy_decision.canonical_url == ORIGINAL.url
    assert copy_decision.similarity >= CONFIG.containment_threshold


def test_all_copies_of_a_story_form_one_story_whatever_the_order() -> None:
    copies = [
        document(f"https://copy{n}.example/story", transform(WIRE_STORY), f"2020-09-14T1{n}:00:00Z")
        for n, transform in enumerate(TRANSFORMS.values())
    ]
    for docs in ([*copies, ORIGINAL], [ORIGINAL, *reversed(copies)]):
        decisions = assign(docs)
        assert stories(decisions) == 1
        assert [d.canonical_url for d in decisions] == [ORIGINAL.url] * len(docs)


def test_an_exact_copy_is_reported_as_exact() -> None:
    copy = document("https://mirror.example/dam-vote", WIRE_STORY, "2020-09-14T12:00:00Z")
    copy_decision, _ = assign([copy, ORIGINAL])
    assert (copy_decision.method, copy_decision.similarity) == ("exact", 1.0)


def quoting_the_statement() -> list[Document]:
    """Stories and notices that all quote one statement, which makes its shingles common."""
    notices = ([f"Notice number {n} from the town hall.", STATEMENT] for n in range(3))
    return [
        document(f"https://quote{n}.example/story", paragraphs, "2020-09-14T08:00:00Z")
        for n, paragraphs in enumerate([*STORIES_QUOTING_THE_STATEMENT, *notices])
    ]


def test_identical_copies_form_one_story_even_with_too_little_own_text_to_judge() -> None:
    """Verification cannot judge a text that is mostly a common quote; word-for-word copies
    of it are still one story."""
    notice = [NOTE_OF_THE_HARBOUR, STATEMENT]
    copies = [
        document(f"https://port{n}.example/notice", notice, f"2020-09-14T1{n}:00:00Z") for n in range(3)
    ]
    decisions = assign([*quoting_the_statement(), *copies])
    canonical, *others = decisions[-3:]
    assert canonical.status == "canonical" and canonical.canonical_url == copies[0].url
    assert [(d.status, d.story_id, d.method) for d in others] == [
        ("duplicate", canonical.story_id, "exact")
    ] * 2


def test_an_identical_copy_joins_a_stored_story_verification_cannot_judge() -> None:
    notice = [NOTE_OF_THE_HARBOUR, STATEMENT]
    first = Deduplicator(CONFIG)
    first.assign(
        [*quoting_the_statement(), document("https://port.example/notice", notice, "2020-09-14T10:00:00Z")]
    )
    later = Deduplicator(CONFIG, in_memory(first.changed, CONFIG))
    [decision] = later.assign([document("https://mirror.example/notice", notice, "2020-09-14T10:00:00Z")])
    assert (decision.status, decision.canonical_url) == ("duplicate", "https://port.example/notice")
    assert later.changed == [] and later.superseded == []


def test_stories_quoting_one_statement_stay_apart() -> None:
    docs = [
        document(f"https://news{n}.example/story", paragraphs, f"2020-09-1{n}T08:00:00Z")
        for n, paragraphs in enumerate(STORIES_QUOTING_THE_STATEMENT)
    ]
    assert stories(assign(docs)) == len(docs)


def test_press_releases_sharing_boilerplate_stay_apart() -> None:
    docs = [
        document(f"https://newsroom.example/release-{n}", paragraphs, f"2020-09-1{n}T08:00:00Z")
        for n, paragraphs in enumerate(PRESS_RELEASES)
    ]
    decisions = assign(docs)
    assert stories(decisions) == len(docs)
    # ... while a copy of one release still joins it.
    copy = document(
        "https://wire.example/release-1", ["NEW YORK (BW) —", *PRESS_RELEASES[1]], "2020-09-16T08:00:00Z"
    )
    decisions = assign([*docs, copy])
    assert decisions[-1].status == "duplicate" and decisions[-1].story_id == decisions[1].story_id


def test_template_siblings_with_other_facts_stay_apart() -> None:
    docs = [
        document(
            f"https://sport.example/report-{n}", [MATCH_REPORT.format(**facts)], f"2020-09-1{n}T20:00:00Z"
        )
        for n, facts in enumerate(MATCH_FACTS)
    ]
    assert stories(assign(docs)) == len(docs)


def texts(*paragraph_lists: list[str]) -> list[Text]:
    batch, word_counts = shingle_batch(
        ["\n".join(p) for p in paragraph_lists], CONFIG.shingle_words, CONFIG.text_batch_characters
    )
    return [Text(shingles, words) for shingles, words in zip(batch, word_counts.tolist(), strict=True)]


def overlap(page: Text, reference: Text, *others: Text) -> Overlap:
    """How `page` overlaps `reference` when the reference and `others` are the stored stories."""
    frequency = StoryFrequency(CONFIG.frequency_counters, 10_000)
    for text_ in (reference, *others):
        frequency.add(text_.counters(frequency))
    verifier = Verifier(CONFIG, frequency)
    verifier.start(page)
    return verifier.overlap(reference)


def test_shingles_many_other_stories_have_are_no_evidence() -> None:
    """A short story that is mostly a widely quoted statement is not a copy of another such story."""
    short = [STORIES_QUOTING_THE_STATEMENT[0][0], STATEMENT]
    quoting = [
        *STORIES_QUOTING_THE_STATEMENT[2:],
        *([f"Notice number {n} from the town hall.", STATEMENT] for n in range(3)),
    ]
    page, reference, *others = texts(
        short, STORIES_QUOTING_THE_STATEMENT[1], *quoting[: CONFIG.common_stories]
    )
    frequency = StoryFrequency(CONFIG.frequency_counters, 10_000)
    frequency.add(reference.counters(frequency))
    verifier = Verifier(CONFIG, frequency)
    verifier.start(page)
    alone = verifier.overlap(reference)
    assert alone.containment > 0.6  # two texts alone cannot tell a quote from a copy
    for other in others:  # the statement turns up in more stories
        frequency.add(other.counters(frequency))
    verifier.start(page)
    common = verifier.overlap(reference)
    assert common.shared[0] < 0.1 * alone.shared[0]
    assert common.own[0] < alone.own[0] / 2  # the statement is nobody's own text
    assert not common.verifies(CONFIG)


def test_common_trailers_and_notes_do_not_count_against_a_copy() -> None:
    """Agency trailers and syndication notes found across many stories are not a copy's own words."""
    copy = [NOTE, *WIRE_STORY[:4], LOCAL_PARAGRAPHS[0], TRAILER]
    page, reference = texts(copy, WIRE_STORY)
    fair = "Unrelated story number {} about a town fair and its prize pumpkins."
    others = texts(*([NOTE, fair.format(n), TRAILER] for n in range(CONFIG.common_stories)))
    found = overlap(page, reference, *others)
    assert found.own[0] < page.words - 20  # note and trailer are common
    assert found.verifies(CONFIG)


def test_containment_must_cover_most_of_the_smaller_texts_own_words() -> None:
    """Sharing a few paragraphs with a longer story does not make a short story its copy."""
    short = [WIRE_STORY[0], WIRE_STORY[1], *LOCAL_PARAGRAPHS, STORIES_QUOTING_THE_STATEMENT[2][0]]
    page, reference = texts(short, WIRE_STORY)
    found = overlap(page, reference)
    assert 0.3 < found.containment < CONFIG.containment_threshold
    assert not found.verifies(CONFIG)


def test_too_little_own_text_is_not_judged() -> None:
    tiny = ["Dam vote passes."]
    page, reference = texts(tiny, tiny)
    found = overlap(page, reference)
    assert found.containment == 1.0 and not found.verifies(CONFIG)


def test_a_wrap_up_joins_its_own_story_and_lends_no_pages_to_another() -> None:
    """A page that appends another story's paragraphs is a copy of its first story only."""
    other_story = STORIES_QUOTING_THE_STATEMENT[3]
    other = document("https://news.example/pool-roof", other_story, "2020-09-14T09:00:00Z")
    wrap_up = document(
        "https://digest.example/today", [*WIRE_STORY, *other_story[:2]], "2020-09-14T12:00:00Z"
    )
    other_copy = document("https://copy.example/pool-roof", other_story[:2], "2020-09-14T13:00:00Z")
    decisions = assign([ORIGINAL, other, wrap_up, other_copy])
    assert decisions[2].story_id == decisions[0].story_id
    assert decisions[3].story_id == decisions[1].story_id


def test_stricter_threshold_from_the_configuration_is_used() -> None:
    copy = document(
        "https://copy.example/truncated", WIRE_STORY[:5] + LOCAL_PARAGRAPHS, "2020-09-14T11:00:00Z"
    )
    assert stories(assign([ORIGINAL, copy])) == 1
    assert stories(assign([ORIGINAL, copy], DedupConfig(containment_threshold=0.95))) == 2


def test_empty_and_tiny_batches() -> None:
    assert assign([]) == []
    [alone] = assign([document("https://solo.example/x", ["Just a few words here."], None)])
    assert (alone.status, alone.canonical_url) == ("canonical", "https://solo.example/x")
    assert alone.similarity is None and alone.method is None  # a canonical is not compared to itself


def local_paragraphs(words: int, seed: int) -> list[str]:
    """About `words` words of paragraphs no other page has: news words in a shuffled order."""
    rng = np.random.default_rng(seed)
    paragraphs = [*WIRE_STORY, STATEMENT] + [p for story in STORIES_QUOTING_THE_STATEMENT for p in story]
    vocabulary = " ".join(paragraphs).split()
    return [" ".join(rng.choice(vocabulary, 60).tolist()) for _ in range(max(1, words // 60))]


def test_a_copy_extended_to_ten_times_the_original_joins_it() -> None:
    """Bands alone find this pair rarely (Jaccard 0.1); the sampled-shingle keys find it."""
    words = len(text(WIRE_STORY).split())
    for seed, place in enumerate(("after", "before", "around")):
        added = local_paragraphs(9 * words, seed)
        body = {"after": WIRE_STORY + added, "before": added + WIRE_STORY}.get(
            place, added[: len(added) // 2] + WIRE_STORY + added[len(added) // 2 :]
        )
        copy = document(f"https://copy.example/{place}", body, "2020-09-14T11:00:00Z")
        assert stories(assign([ORIGINAL, copy])) == 1, place


def test_a_copy_truncated_to_a_tenth_of_a_long_original_joins_it() -> None:
    original_text = WIRE_STORY + local_paragraphs(9 * len(text(WIRE_STORY).split()), seed=7)
    original = document("https://wire.example/long", original_text, "2020-09-14T08:00:00Z")
    for share in (0.1, 0.2):
        kept = " ".join(text(original_text).split()[: round(share * len(text(original_text).split()))])
        copy = document(f"https://copy.example/{share}", [kept], "2020-09-14T11:00:00Z")
        assert stories(assign([original, copy])) == 1, share


def test_without_sampled_shingle_keys_the_long_extended_copy_is_missed() -> None:
    """The same pair with bands only: what the sampled keys add (the test above is not vacuous)."""
    added = local_paragraphs(9 * len(text(WIRE_STORY).split()), seed=0)
    copy = document("https://copy.example/after", WIRE_STORY + added, "2020-09-14T11:00:00Z")
    assert stories(assign([ORIGINAL, copy], DedupConfig(containment_sample=0))) == 2


def test_the_cheap_check_before_verification_never_drops_a_copy() -> None:
    """`may_verify` passes every pair that verifies, and stops a page that shares one phrase."""
    wire = WIRE_STORY
    pages = [
        wire,
        wire[:1],
        wire[:2],
        [DATELINE + wire[0], *wire[1:3], TRAILER],
        edited(wire),
        watermarked(wire[:3]),
        [*LOCAL_PARAGRAPHS, wire[3]],
        *STORIES_QUOTING_THE_STATEMENT,
        *PRESS_RELEASES,
        [LOCAL_PARAGRAPHS[0] + " " + " ".join(wire[0].split()[:5])],  # one phrase of the story
    ]
    *candidates, phrase_only = texts(*pages)
    reference, *_ = candidates
    frequency = StoryFrequency(CONFIG.frequency_counters, 10_000)
    verifier = Verifier(CONFIG, frequency)
    verified = 0
    for page in candidates:
        verifier.start(page)
        for other in candidates:
            if verifier.overlap(other).verifies(CONFIG):
                verified += 1
                assert verifier.may_verify(other)
    assert verified > len(candidates)  # more than each text with itself
    verifier.start(phrase_only)
    assert verifier.overlap(reference).shared[0] > 0 and not verifier.may_verify(reference)


def test_stories_counted_at_once_as_one_by_one() -> None:
    """`add_stories` counts each story's shingles once, as `add` does for one story: a shingle
    repeated within a story (a paragraph printed twice) or shared by several stories."""
    repeated = [STATEMENT, NOTE, STATEMENT]
    batch = texts(repeated, [STATEMENT, MATCH_REPORT[0]], MATCH_REPORT, [NOTE, NOTE, DATELINE])
    at_once = StoryFrequency(CONFIG.frequency_counters, 1_000)
    one_by_one = StoryFrequency(CONFIG.frequency_counters, 1_000)
    at_once.add_stories(batch)
    for text_ in batch:
        one_by_one.add(text_.counters(one_by_one))
    assert np.array_equal(at_once.counts, one_by_one.counts)
    statement = texts([STATEMENT])[0].counters(at_once)
    assert np.median(at_once.counts[statement]) == 2  # in two stories, however often in one


def test_story_counts_stop_at_the_ceiling_without_wrapping() -> None:
    """A shingle in more stories than a counter holds stays the commonest (common whatever
    `common_stories` may be), however the stories are counted."""
    statement = texts([STATEMENT])[0]
    frequency = StoryFrequency(CONFIG.frequency_counters, 1_000)
    frequency.add_stories([statement] * 200)
    for _ in range(100):
        frequency.add(statement.counters(frequency))
    frequency.add_stories([statement] * 200)
    assert set(frequency.counts[statement.counters(frequency)].tolist()) == {StoryFrequency.CEILING}
