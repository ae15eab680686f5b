"""trafilatura's XPath searches, each regular-expression test preceded by a native XPath test.

lxml runs an EXSLT `re:test` by calling Python's `re` for every element the test is asked
about, and trafilatura's searches ask about nearly every element of a page: they were about
a fifth of the cleaning time. Here each `re:test` is preceded by a test that libxml2
evaluates itself: that the attribute contains one of the strings every match of the
pattern must contain (read from the pattern with Python's own regex parser, the engine lxml
calls), or, when no such strings are known or there are more than `MAX_SUBSTRINGS` of them,
that the attribute is there at all (an absent attribute reads as "", which no pattern here
matches; a pattern that matches "" keeps its test unguarded). A guarded search finds exactly
what trafilatura's finds; tests/clean/test_xpaths.py compares them on every element of both
dev sets' pages.
"""

from __future__ import annotations

import re
from re import _constants as sre_constants  # the parser's own opcodes (Python 3.11+)
from re import _parser as sre_parser

from lxml.etree import XPath
from trafilatura import xpaths

REGEX_NAMESPACE = {"re": xpaths.REGEXP_NS}
MAX_SUBSTRINGS = 4  # more `contains()` tests than this cost more than the callback they avoid
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT)
_RE_TEST = re.compile(
    r"re:test\(\s*(?P<subject>[^,]+?)\s*,\s*'(?P<pattern>[^']*)'\s*(?:,\s*'(?P<flags>[^']*)'\s*)?\)"
)


def _required(items: sre_parser.SubPattern | list) -> set[str] | None:
    """Strings one of which is in every match of a parsed pattern; None when none is known.

    Of the sequence's literal runs and its groups that have such strings, the most selective
    (longest shortest string) is taken. Anything else (classes, anchors, lookarounds,
    optional parts) only ends a literal run, so the answer is never wrong, at worst unknown.
    """
    candidates: list[set[str]] = []
    run: list[str] = []
    for op, argument in [*items, (None, None)]:
        if op is sre_constants.LITERAL:
            run.append(chr(argument))
            continue
        if run:
            candidates.append({"".join(run)})
            run = []
        inner: set[str] | None = None
        if op is sre_constants.SUBPATTERN and not argument[1] & re.IGNORECASE:
            inner = _required(argument[3])
        elif op is sre_constants.BRANCH:
            branches = [_required(branch) for branch in argument[1]]
            inner = set().union(*branches) if all(branches) else None
        elif op in _REPEATS and argument[0] >= 1:
            inner = _required(argument[2])
        if inner:
            candidates.append(inner)
    return max(candidates, key=lambda strings: (min(map(len, strings)), -len(strings)), default=None)


def necessary_substrings(pattern: str, flags: str = "") -> frozenset[str] | None:
    """Strings one of which every text matching `pattern` contains, or None when unknown."""
    parsed = sre_parser.parse(pattern)
    if "i" in flags or parsed.state.flags & re.IGNORECASE:
        return None
    found = _required(parsed)
    if not found or not all(found):
        return None
    return frozenset(text for text in found if not any(other != text and other in text for other in found))


def _guard(test: re.Match) -> str:
    subject, pattern, flags = test["subject"], test["pattern"], test["flags"] or ""
    substrings = necessary_substrings(pattern, flags)
    attributes = [attribute.strip() for attribute in subject.split("|")]
    if substrings and len(substrings) <= MAX_SUBSTRINGS:
        condition = " or ".join(f"contains({subject}, '{text}')" for text in sorted(substrings))
    elif re.search(pattern, "", re.IGNORECASE if "i" in flags else 0) is None and all(
        re.fullmatch(r"@[\w:-]+", attribute) for attribute in attributes
    ):
        condition = " or ".join(attributes)  # an absent attribute reads as "", which never matches
    else:
        return test[0]
    return f"(({condition}) and {test[0]})"


def guarded(expressions: list[XPath]) -> list[XPath]:
    """The same searches with every `re:test` guarded by a native test (see the module docstring)."""
    return [
        XPath(_RE_TEST.sub(_guard, expression.path), namespaces=REGEX_NAMESPACE) for expression in expressions
    ]


AUTHOR = guarded(xpaths.AUTHOR_XPATHS)
AUTHOR_DISCARD = guarded(xpaths.AUTHOR_DISCARD_XPATHS)
BODY = guarded(xpaths.BODY_XPATH)
OVERALL_DISCARD = guarded(xpaths.OVERALL_DISCARD_XPATH)
PRECISION_DISCARD = guarded(xpaths.PRECISION_DISCARD_XPATH)
RAW_TREE_PRUNE = guarded(xpaths.RAW_TREE_PRUNE_XPATH)
REMOVE_COMMENTS = guarded(xpaths.REMOVE_COMMENTS_XPATH)
REMOVE_COMMENTS_AND_LISTS = guarded(xpaths.REMOVE_COMMENTS_AND_LISTS_XPATH)
