"""trafilatura's searches with native tests before each regular expression: the same elements found."""

from __future__ import annotations

import re

import pytest
from lxml import etree
from trafilatura import xpaths as trafilaturas

from pipeline.clean import xpaths
from pipeline.clean.html import parse_html

GUARDED = {
    "AUTHOR": "AUTHOR_XPATHS",
    "AUTHOR_DISCARD": "AUTHOR_DISCARD_XPATHS",
    "BODY": "BODY_XPATH",
    "OVERALL_DISCARD": "OVERALL_DISCARD_XPATH",
    "PRECISION_DISCARD": "PRECISION_DISCARD_XPATH",
    "RAW_TREE_PRUNE": "RAW_TREE_PRUNE_XPATH",
    "REMOVE_COMMENTS": "REMOVE_COMMENTS_XPATH",
    "REMOVE_COMMENTS_AND_LISTS": "REMOVE_COMMENTS_AND_LISTS_XPATH",
}


@pytest.fixture(scope="module")
def trees(real_html_pages: list[str], prepared_pages: list[etree._Element]) -> list[etree._Element]:
    """Each real page twice: as parsed, and as prepared for the extractor (only read here)."""
    return [tree for tree in map(parse_html, real_html_pages) if tree is not None] + prepared_pages


@pytest.mark.parametrize(("ours", "theirs"), GUARDED.items())
def test_a_guarded_search_finds_what_trafilaturas_finds(
    ours: str, theirs: str, trees: list[etree._Element]
) -> None:
    assert len(trees) > 1000
    for tree in trees:
        for guarded, original in zip(getattr(xpaths, ours), getattr(trafilaturas, theirs), strict=True):
            assert guarded(tree) == original(tree)


@pytest.mark.parametrize("ours", GUARDED)
def test_every_regular_expression_test_is_guarded(ours: str) -> None:
    """The point of the module: no `re:test` is asked about an element a native test can rule out."""
    for expression in getattr(xpaths, ours):
        tests = expression.path.count("re:test(")
        assert expression.path.count(") and re:test(") == tests


@pytest.mark.parametrize(
    ("pattern", "flags", "substrings"),
    [
        ("mvp-post-add-(?:box|wrap)|infinite-?scroll", "", {"mvp-post-add-", "infinite"}),
        ("^[Cc]omment(?!ary)|(?:article|post)-comments", "", {"omment"}),  # "-comments" holds it
        ("(^|\\s)bottom|bottom(\\s|$)", "", {"bottom"}),
        ("x[0-9]+yz", "", {"yz"}),  # the most selective of the literal runs
        ("(?:ab)+c", "", {"ab"}),
        ("a?b*", "", None),  # nothing is required
        ("ab|c?", "", None),  # one branch requires nothing
        ("fulltext", "i", None),  # any case matches
        ("(?i)fulltext", "", None),
        ("(?i:full)text", "", {"text"}),
    ],
)
def test_the_strings_every_match_contains(pattern: str, flags: str, substrings: set[str] | None) -> None:
    found = xpaths.necessary_substrings(pattern, flags)
    assert found == (frozenset(substrings) if substrings else None)


def test_every_attribute_value_that_matches_contains_one_of_the_strings(trees: list[etree._Element]) -> None:
    """Checked against every id, class and style on the pages, for every pattern the searches test."""
    tests = re.compile(r"re:test\([^,]+,\s*'([^']*)'\s*\)")
    patterns = {
        pattern
        for name in GUARDED.values()
        for expression in getattr(trafilaturas, name)
        for pattern in tests.findall(expression.path)
    }
    values = {
        value
        for tree in trees
        for element in tree.iter()
        for value in map(element.get, ("id", "class", "style"))
    } - {None}
    matched = 0
    for pattern in patterns:
        substrings = xpaths.necessary_substrings(pattern)
        for value in values:
            if re.search(pattern, value):
                matched += 1
                assert substrings is None or any(text in value for text in substrings), (pattern, value)
    assert matched > 100
