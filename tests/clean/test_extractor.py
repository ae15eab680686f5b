"""trafilatura's extractor with its first searches done once: the same readings as trafilatura's own.

Checked on every HTML page of both dev sets, so a trafilatura upgrade that changes its
extractor fails here instead of drifting silently.
"""

from __future__ import annotations

import re
from copy import copy

import pytest
from lxml import etree
from trafilatura import xpaths as trafilaturas
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.main_extractor import extract_content as trafilaturas_extract_content
from trafilatura.settings import Extractor
from trafilatura.xpaths import DISCARD_IMAGE_ELEMENTS, REMOVE_COMMENTS_XPATH, TEASER_DISCARD_XPATH

from pipeline.clean.extractor import extract_content, extract_from_copy, first_candidate
from pipeline.clean.html import PRECISE, RECALL, parse_html


def reading(body: etree._Element, text: str) -> tuple[bytes, str]:
    return etree.tostring(body), text


def test_the_pages_are_many(prepared_pages: list[etree._Element]) -> None:
    assert len(prepared_pages) >= 500


@pytest.mark.parametrize("options", [RECALL, PRECISE], ids=["recall", "precise"])
def test_a_reading_from_the_shared_first_candidate_is_trafilaturas(
    options: Extractor, prepared_pages: list[etree._Element]
) -> None:
    for page in prepared_pages:
        ours, theirs = copy(page), copy(page)
        expected = reading(*trafilaturas_extract_content(theirs, options))
        assert reading(*extract_content(ours, options, first_candidate(ours))) == expected


@pytest.mark.parametrize(
    ("prune", "removes_candidates"),
    [(REMOVE_COMMENTS_XPATH, False), (TEASER_DISCARD_XPATH + DISCARD_IMAGE_ELEMENTS, True)],
    ids=["comments (the precise reading's)", "teasers and captions"],
)
def test_a_copy_pruned_after_the_search_reads_as_trafilatura_reads_it(
    prune: list[etree.XPath], removes_candidates: bool, prepared_pages: list[etree._Element]
) -> None:
    """Candidates found on the tree, carried to a copy that pruning then changed.

    Comment sections are gone from prepared pages already, so teasers and captions are
    pruned too: they remove found containers and boilerplate from many pages.
    """
    changed = 0
    for page in prepared_pages:
        tree = copy(page)
        first = first_candidate(tree)
        expected = reading(*trafilaturas_extract_content(prune_unwanted_nodes(copy(tree), prune), PRECISE))
        assert reading(*extract_from_copy(tree, first, PRECISE, prune)) == expected
        assert etree.tostring(tree) == etree.tostring(page)  # left as it was, for the recall reading
        copied = copy(tree)
        moved = first.in_copy(tree, copied)
        prune_unwanted_nodes(copied, prune)
        kept = moved.still_in(copied)
        changed += kept is None or len(kept.discarded) < len(first.discarded)
    if removes_candidates:
        assert changed > 0


def test_both_searches_read_only_an_elements_own_tag_and_attributes() -> None:
    """What lets their matches be carried to a pruned copy (`Candidate.still_in`): no predicate
    looks at text, position among matches, counts, relatives or the absence of something."""
    looks_elsewhere = re.compile(r"\.//|\.\.|text\(\)|count\(|position\(|last\(|not\(|::")
    for expression in [*trafilaturas.BODY_XPATH, *trafilaturas.OVERALL_DISCARD_XPATH]:
        predicates = re.findall(r"\[((?:[^\[\]'\"]|'[^']*'|\"[^\"]*\")*)\]", expression.path)
        for predicate in predicates:
            outside_strings = re.sub(r"'[^']*'", "''", predicate)
            found = looks_elsewhere.findall(outside_strings.replace("self::", ""))
            assert not found, (found, predicate[:80])


def test_a_container_inside_a_pruned_comment_section_is_searched_for_again() -> None:
    """When pruning the copy removes the first container, the search runs again on the copy."""
    prose = "The council approved the new budget on Monday after a long debate about school funding. " * 4
    page = (
        f'<html><body><section class="comments"><div class="entry-content"><p>{prose}</p>'
        f"<p>{prose}</p></div></section><article><p>{prose.upper()}</p><p>{prose.upper()}</p>"
        "</article></body></html>"
    )
    tree = parse_html(page)
    first = first_candidate(tree)
    assert first is not None and first.container.get("class") == "entry-content"
    copied = copy(tree)
    moved = first.in_copy(tree, copied)
    prune_unwanted_nodes(copied, REMOVE_COMMENTS_XPATH)
    assert moved.still_in(copied) is None
    body, text = extract_from_copy(tree, first, PRECISE, REMOVE_COMMENTS_XPATH)
    expected = trafilaturas_extract_content(prune_unwanted_nodes(copy(tree), REMOVE_COMMENTS_XPATH), PRECISE)
    assert reading(body, text) == reading(*expected)
    assert "THE COUNCIL" in text and "The council" not in text


@pytest.mark.parametrize("boilerplate_share", [0.6, 0.86, 0.9])  # 0.86: a seventh is 0.857
def test_boilerplate_is_pruned_from_the_container_unless_it_is_nearly_all_of_it(
    boilerplate_share: float,
) -> None:
    """trafilatura's guard: boilerplate matches are kept when removing them would leave under a seventh."""
    sentence = "The council approved the new budget on Monday after a long debate. "
    boilerplate = round(50 * boilerplate_share)
    page = (
        f"<html><body><article><p>{sentence * (50 - boilerplate)}</p>"
        f'<div class="social-box"><p>{sentence.upper() * boilerplate}</p></div></article></body></html>'
    )
    tree = parse_html(page)
    first = first_candidate(tree)
    assert first is not None and len(first.discarded) == 1
    body, text = extract_content(copy(tree), RECALL, first_candidate(copy(tree)))
    assert reading(body, text) == reading(*trafilaturas_extract_content(copy(tree), RECALL))
    assert ("THE COUNCIL" in text) == (boilerplate_share > 6 / 7)


def test_boilerplate_in_a_pruned_comment_section_is_no_longer_a_candidate() -> None:
    prose = "The council approved the new budget on Monday after a long debate. " * 5
    page = (
        f'<html><body><article><p>{prose}</p><section class="comments"><div class="social-box">'
        f'<p>Share this</p></div></section><div class="social-links"><p>Follow us</p></div>'
        "</article></body></html>"
    )
    tree = parse_html(page)
    first = first_candidate(tree)
    assert [element.get("class") for element in first.discarded] == ["social-box", "social-links"]
    copied = copy(tree)
    moved = first.in_copy(tree, copied)
    prune_unwanted_nodes(copied, REMOVE_COMMENTS_XPATH)
    kept = moved.still_in(copied)
    assert kept.container is moved.container
    assert [element.get("class") for element in kept.discarded] == ["social-links"]
