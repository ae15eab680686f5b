"""trafilatura's main extractor, run twice over one page with its costliest searches done once.

Both readings of a page (`pipeline.clean.html.read`) start the same way on the same
prepared tree: `BODY_XPATH` finds the article container, then `OVERALL_DISCARD_XPATH`
finds the boilerplate inside it. Each search tests a regular expression on every
element, and together they were over a third of a reading's cost. Here they run once
(`first_candidate`), on the tree before it is copied for the second reading, and their
matches are carried over to the copy by position (`Candidate.in_copy`).

`extract_content`, `_extract`, `prune_unwanted_sections` and `recover_wild_text` are
trafilatura 2.3.1's own (Apache-2.0, pinned in constraints.txt), changed only to take that
first candidate and to search with the guarded expressions of `pipeline.clean.xpaths`;
tests/clean/test_extractor.py checks they still read every page as trafilatura does.
"""

from __future__ import annotations

from copy import copy, deepcopy
from dataclasses import dataclass

from lxml.etree import Element, XPath, _Element, strip_elements, strip_tags
from lxml.html import HtmlElement
from trafilatura.htmlprocessing import delete_by_link_density, link_density_test_tables, prune_unwanted_nodes
from trafilatura.main_extractor import (
    MIN_DUPLICATE_LENGTH,
    NOT_AT_THE_END,
    REBUILT_BLOCKS,
    _elem_text,
    handle_textelem,
    process_node,
)
from trafilatura.settings import DEDUPE_SCAN_CAP, INLINE_FORMATTABLE, TAG_CATALOG, Extractor
from trafilatura.utils import SPACING_PROTECTED, text_chars_test, trim
from trafilatura.xml import delete_element
from trafilatura.xpaths import DISCARD_IMAGE_ELEMENTS, TEASER_DISCARD_XPATH

from pipeline.clean.xpaths import BODY, OVERALL_DISCARD, PRECISION_DISCARD


def _attached(element: _Element, root: _Element) -> bool:
    while element is not None and element is not root:
        element = element.getparent()
    return element is root


def discard_matches(subtree: _Element) -> list[_Element]:
    """What `OVERALL_DISCARD_XPATH` finds in a container (or a whole tree), each element once, in
    trafilatura's order."""
    return list(dict.fromkeys(element for expression in OVERALL_DISCARD for element in expression(subtree)))


@dataclass
class Candidate:
    """The first container `BODY_XPATH` finds in a tree, and what `OVERALL_DISCARD_XPATH` finds in it.

    Carrying them from one tree to another relies on both searches reading only an
    element's own tag and attributes (tests/clean/test_extractor.py checks their text).
    """

    body_index: int  # which of BODY_XPATH found the container; len(BODY) when none did
    container: _Element | None
    discarded: list[_Element]

    def in_copy(self, tree: _Element, copied: _Element) -> Candidate:
        """The same elements in `copied`, a fresh copy of `tree`, which this candidate was found in.

        The two trees are walked side by side (element for element, in document order) only
        as far as the last element wanted: linear however flat or deep the page.
        """
        if self.container is None:
            return self
        wanted = {self.container, *self.discarded}
        twins: dict[_Element, _Element] = {}
        for element, twin in zip(tree.iter(), copied.iter(), strict=False):  # the same trees: it stops early
            if element in wanted:
                twins[element] = twin
                if len(twins) == len(wanted):
                    break
        return Candidate(self.body_index, twins[self.container], [twins[e] for e in self.discarded])

    def still_in(self, tree: _Element) -> Candidate | None:
        """This candidate after pruning `tree` removed some elements; None when it removed the container.

        Removing elements leaves the first match of each search as it was, and adds none where
        there was none, unless it removes the container itself: `BODY_XPATH`'s first expression
        picks the first matching child of each parent, and the next sibling can take its place.
        """
        if self.container is not None and not _attached(self.container, tree):
            return None
        kept = [element for element in self.discarded if _attached(element, tree)]
        return Candidate(self.body_index, self.container, kept)


def first_candidate(tree: _Element) -> Candidate:
    """What `_extract` tries first on `tree`, found once for every reading of it as it is now."""
    for number, expression in enumerate(BODY):
        container = next((found for found in expression(tree) if found is not None), None)
        if container is not None:
            return Candidate(number, container, discard_matches(container))
    return Candidate(len(BODY), None, [])


def extract_from_copy(
    tree: HtmlElement, first: Candidate, options: Extractor, prune: list[XPath]
) -> tuple[_Element, str]:
    """A reading of a copy of `tree` from which `prune` removed elements, `first` (found in `tree`
    as it is now) carried over.

    `tree` itself is left as it is, for the next reading.
    """
    copied = copy(tree)
    moved = first.in_copy(tree, copied)
    prune_unwanted_nodes(copied, prune)
    return extract_content(copied, options, moved.still_in(copied))


def _prune_discarded(tree: HtmlElement, discarded: list[_Element]) -> None:
    """`prune_unwanted_nodes(..., with_backup=True)` for matches found beforehand."""
    matches = dict.fromkeys(discarded)
    outer = [element for element in matches if not any(a in matches for a in element.iterancestors())]
    old_len = len(tree.text_content())
    if old_len - sum(len(element.text_content()) for element in outer) > old_len / 7:
        for element in outer:
            delete_element(element)


def prune_unwanted_sections(
    tree: HtmlElement,
    potential_tags: set[str],
    options: Extractor,
    discarded: list[_Element],
    keep_teasers: bool = False,
) -> HtmlElement:
    """trafilatura's pruning of the container, with `OVERALL_DISCARD_XPATH`'s matches given."""
    favor_precision = options.focus == "precision"
    _prune_discarded(tree, discarded)
    if "graphic" not in potential_tags:
        tree = prune_unwanted_nodes(tree, DISCARD_IMAGE_ELEMENTS)
    if options.focus != "recall":
        if not keep_teasers:
            tree = prune_unwanted_nodes(tree, TEASER_DISCARD_XPATH)
        if favor_precision:
            tree = prune_unwanted_nodes(tree, PRECISION_DISCARD)
    for _ in range(2):
        tree = delete_by_link_density(tree, "div", backtracking=True, favor_precision=favor_precision)
        tree = delete_by_link_density(tree, "list", backtracking=False, favor_precision=favor_precision)
        tree = delete_by_link_density(tree, "p", backtracking=False, favor_precision=favor_precision)
    if "table" in potential_tags or favor_precision:
        # collected first: deleting while iterating can skip the table after a nested one
        boilerplate_tables = [elem for elem in tree.iter("table") if link_density_test_tables(elem) is True]
        for elem in boilerplate_tables:
            delete_element(elem, keep_tail=False)
    if favor_precision:
        while len(tree) > 0 and (tree[-1].tag == "head"):
            delete_element(tree[-1], keep_tail=False)
        tree = delete_by_link_density(tree, "head", backtracking=False, favor_precision=True)
        tree = delete_by_link_density(tree, "quote", backtracking=False, favor_precision=True)
    strip_tags(tree, "span", *(() if "ref" in potential_tags else ("ref",)))
    return tree


def _extract(
    tree: HtmlElement, options: Extractor, first: Candidate | None
) -> tuple[_Element, str, set[str]]:
    """trafilatura's search: each `BODY_XPATH` container in turn, pruned and converted, until one
    holds more than one block."""
    potential_tags = set(TAG_CATALOG)
    if options.tables is True:
        potential_tags.update(["table", "td", "th", "tr"])
    if options.images is True:
        potential_tags.add("graphic")
    if options.links is True:
        potential_tags.add("ref")
    result_body = Element("body")
    for number, expr in enumerate(BODY):
        if first is not None and number <= first.body_index:  # the tree is as `first` found it
            if number < first.body_index:
                continue
            subtree, discarded = first.container, first.discarded
        else:
            subtree = next((s for s in expr(tree) if s is not None), None)
            if subtree is None:
                continue
            discarded = discard_matches(subtree)
        subtree = prune_unwanted_sections(subtree, potential_tags, options, discarded)
        if len(subtree) == 0:
            continue
        # the whole page's paragraph text (an absolute path): when it is short, divs hold the text
        ptest = subtree.xpath("//p//text()")
        factor = 1 if options.focus == "precision" else 3
        if not ptest or len("".join(ptest)) < options.min_extracted_size * factor:
            potential_tags.add("div")
        subelems = subtree.xpath(".//*")
        tags = {e.tag for e in subelems}
        if tags == {"lb"} or (
            subtree.tag == "div" and "div" in potential_tags and tags <= INLINE_FORMATTABLE | {"lb"}
        ):
            subelems = [subtree]
        lead, start = None, len(result_body)
        if subelems != [subtree] and text_chars_test(subtree.text):
            lead = Element("p")
            lead.text = subtree.text
            lead = process_node(lead, options)
        for elem in subelems:
            if elem.getroottree().getroot() is result_body:  # moved there with an ancestor already
                continue
            tag, tail = elem.tag, elem.tail
            processed_elem = handle_textelem(elem, potential_tags, options)
            if processed_elem is not None:
                result_body.append(processed_elem)
                if elem.getroottree().getroot() is not result_body:
                    elem.tag = "done"  # a copy was taken: a wider container must not take it again
            if (  # text right after a rebuilt block (list, table, quote) is a paragraph of its own
                tag in REBUILT_BLOCKS
                and text_chars_test(tail)
                and (processed_elem is None or processed_elem.tail is None)
            ):
                tail_elem = Element("p")
                tail_elem.text = tail
                if process_node(tail_elem, options) is not None:
                    result_body.append(tail_elem)
        while len(result_body) > 0 and (result_body[-1].tag in NOT_AT_THE_END):
            delete_element(result_body[-1], keep_tail=False)
        if sum(e.tag != "graphic" for e in result_body) > 1:  # real content, not a lone image
            if lead is not None:
                result_body.insert(start, lead)
            break
    temp_text = " ".join(result_body.itertext()).strip()
    return result_body, temp_text, potential_tags


def recover_wild_text(
    tree: HtmlElement,
    result_body: _Element,
    options: Extractor,
    potential_tags: set[str],
    consumed: set[_Element],
) -> _Element:
    """trafilatura's search for paragraphs anywhere on the page, when the containers gave too little,
    pruned with the guarded searches."""
    potential_tags = set(potential_tags)
    search_expr = ".//code|.//p|.//quote|.//table|.//div[contains(@class, 'w3-code')]"
    if options.focus == "recall":
        potential_tags.update(["div", "lb"])
        search_expr += "|.//div|.//lb|.//list"
    search_tree = prune_unwanted_sections(
        tree, potential_tags, options, discard_matches(tree), keep_teasers=options.fast
    )
    subelems = search_tree.xpath(search_expr)
    # what the containers already gave is not taken again: the same text, or a longer text holding it
    elem_texts = [_elem_text(el) for el in result_body]
    existing = "\n".join(filter(None, elem_texts))
    existing_elems = set(elem_texts)
    handled: set[_Element] = set()  # emitted whole: their descendants are in the result
    for subelem in subelems:
        if subelem in consumed or any(a in handled for a in subelem.iterancestors()):
            continue
        processed = handle_textelem(subelem, potential_tags, options)
        if processed is None:
            continue
        if processed is subelem:
            handled.add(subelem)
        text = _elem_text(processed)
        images = {img.get("src") for img in processed.iter("graphic")}
        if not text and images and images <= {g.get("src") for g in result_body.iter("graphic")}:
            continue
        under_cap = len(existing) <= DEDUPE_SCAN_CAP
        fragment = trim(text + (processed.tail or "")) if text_chars_test(processed.tail) else ""
        if text and (
            text in existing_elems
            or (
                under_cap
                and (
                    (len(text) > MIN_DUPLICATE_LENGTH and text in existing)
                    or (fragment and fragment in existing)
                )
            )
        ):
            continue
        result_body.append(processed)
        if under_cap:
            existing += "\n" + (fragment or text)
        existing_elems.add(text)
    return result_body


def extract_content(
    cleaned_tree: HtmlElement, options: Extractor, first: Candidate | None
) -> tuple[_Element, str]:
    """trafilatura's `extract_content`, starting from `first` (see `first_candidate`); with none,
    the search runs as trafilatura runs it."""
    backup_tree = deepcopy(cleaned_tree)
    order = list(cleaned_tree.iter())
    result_body, temp_text, potential_tags = _extract(cleaned_tree, options, first)
    if len(result_body) == 0 or len(temp_text) < options.min_extracted_size:  # paragraphs anywhere
        consumed: set[_Element] = {
            twin for elem, twin in zip(order, backup_tree.iter(), strict=True) if elem.tag == "done"
        }
        result_body = recover_wild_text(backup_tree, result_body, options, potential_tags, consumed)
        temp_text = " ".join(result_body.itertext()).strip()
    previous = None  # a block repeating the one before it is an artifact of overlapping containers
    for el in list(result_body):
        current = _elem_text(el)
        if current and current == previous and len(current) > MIN_DUPLICATE_LENGTH:
            delete_element(el, keep_tail=False)
        else:
            previous = current
    strip_elements(result_body, "done")
    strip_tags(result_body, "div")
    for linebreak in result_body.iter("lb"):
        if (
            linebreak.tail
            and not text_chars_test(linebreak.tail)
            and not any(anc.tag in SPACING_PROTECTED for anc in linebreak.iterancestors())
        ):
            linebreak.tail = None
    return result_body, temp_text
