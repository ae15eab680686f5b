"""HTML extraction: one prepared tree read twice, and the choice between the two readings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.external import compare_extraction
from trafilatura.utils import load_html

from pipeline.clean import extract
from pipeline.clean.blocks import Block
from pipeline.clean.html import (
    RECALL,
    RECALL_CROSS_CHECKED_FACTOR,
    Readings,
    choose_blocks,
    parse_html,
)
from pipeline.config import CleanConfig
from pipeline.records import Document, RawPage

CONFIG = CleanConfig()
PROSE = "The council approved the new budget on Monday after a long debate about school funding."


@pytest.mark.parametrize(
    "html",
    [
        "<!DOCTYPE html>\n<html><head><title>T</title></head>"
        "<body><form><input value='x'></form><p>a</p></body></html>",
        '<?xml version="1.0" encoding="utf-8"?><html><body><p>caf\u00e9</p></body></html>',
        "<div><p>a fragment</p><p>of two blocks</p></div>",
        "<p>one block, no html</p>",
        "plain words",
        "",
    ],
)
def test_the_parse_is_trafilaturas_with_every_element_an_html_element(html: str) -> None:
    tree, theirs = parse_html(html), load_html(html)
    assert (tree is None) == (theirs is None)
    if tree is not None:
        assert etree.tostring(tree) == etree.tostring(theirs)
        assert {type(element) for element in tree.iter()} == {HtmlElement}


def precise_body(*paragraphs: str) -> etree._Element:
    return etree.fromstring("<body>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</body>")


def test_a_long_recall_reading_is_kept_without_reading_the_trees() -> None:
    """`read` skips the cross-check, and the copies it would get, past this length: so does trafilatura."""
    body = precise_body(PROSE)
    text = "x" * (RECALL_CROSS_CHECKED_FACTOR * RECALL.min_extracted_size + 1)
    assert compare_extraction(None, None, body, text, RECALL) == (body, text)


def test_the_span_both_readings_agree_on_is_kept() -> None:
    recall = [
        Block("p", "A standfirst only the recall reading saw"),
        Block("p", PROSE),
        Block("p", PROSE + " Two."),
    ]
    recall.append(Block("p", "Sign up for alerts about local news"))
    kept, removed = choose_blocks(Readings(recall, precise_body(PROSE, PROSE + " Two.")), CONFIG)
    assert kept == recall[1:3] and removed == {"outside_article": 2}


def test_a_precise_reading_with_far_more_text_is_the_article() -> None:
    """The recall reading settled on a fragment (one update of a live blog): the longer one wins."""
    updates = [f"{PROSE} Update number {i} came in at noon." for i in range(6)]
    recall = [Block("p", updates[0])]
    kept, removed = choose_blocks(Readings(recall, precise_body(*updates)), CONFIG)
    assert [block.text for block in kept] == updates
    assert removed == {"shorter_reading": 1}


def test_a_precise_reading_that_lost_the_article_is_ignored() -> None:
    recall = [Block("p", "Intro line of the story"), Block("p", PROSE), Block("p", PROSE + " More.")]
    kept, removed = choose_blocks(Readings(recall, precise_body("A caption.")), CONFIG)
    assert kept == recall and not removed


def test_a_live_blog_keeps_every_update() -> None:
    places = ["north", "south", "east", "west", "old bridge", "harbour", "mill", "station", "park", "school"]
    updates = [
        f"Update {i}: the river at the {place} gauge rose by {i + 2} centimetres in an hour, officials said."
        for i, place in enumerate(places)
    ]
    posts = "".join(
        f"<div class='live-post'><time>{10 + i}:00</time><p>{text}</p><a href='#'>Share</a></div>"
        for i, text in enumerate(updates)
    )
    teasers = "".join(
        f"<div class='teaser'><a href='/story/{i}'><h3>Other story {i}</h3><p>Teaser {i}.</p></a></div>"
        for i in range(6)
    )
    html = (
        "<html><head><title>Live: floods in the valley</title></head><body>"
        f"<main><h1>Live: floods in the valley</h1><div class='live-feed'>{posts}</div></main>"
        f"<aside>{teasers}</aside><footer>© 2024 news.example</footer></body></html>"
    )
    page = RawPage("https://news.example/live/floods", html.encode(), "text/html", datetime.now(UTC))
    doc = extract(page, CONFIG)
    assert isinstance(doc, Document)
    assert doc.text.splitlines() == updates


def test_a_table_layout_page_loses_its_menu_cell() -> None:
    """A 2000s layout: menu and text in table cells, paragraphs split by <br>, no <p> at all."""
    paragraphs = [
        f"Paragraph {i} of the report: the harbour board met on Tuesday and agreed to widen the channel "
        f"by {i + 3} metres before the spring tides, members said."
        for i in range(6)
    ]
    menu = "".join(f"<a href='/s{i}.html'>Section {i}</a><br>" for i in range(10))
    html = (
        "<html><head><title>Harbour board widens channel</title></head><body><table><tr>"
        f"<td valign='top'>{menu}</td><td><font size='4'><b>Harbour board widens channel</b></font><br>"
        "<font size='1'>Posted 12 March 2003</font><br><br><font face='Arial'>"
        + "<br><br>".join(paragraphs)
        + "</font><br><br><a href='/archive.html'>Archive</a> | <a href='/contact.html'>Contact</a>"
        "</td></tr></table><center>Copyright 2003 Harbour Times</center></body></html>"
    )
    page = RawPage("http://harbour.example/2003/channel.html", html.encode(), "text/html", datetime.now(UTC))
    doc = extract(page, CONFIG)
    assert isinstance(doc, Document)
    assert doc.text.splitlines() == paragraphs
    assert doc.published_at == "2003-03-12"


def test_a_page_without_declared_author_gets_its_byline() -> None:
    body = "".join(f"<p>{PROSE} Part {i}.</p>" for i in range(5))
    html = (
        "<html><head><title>Council approves budget</title></head><body><main><article>"
        f"<h1>Council approves budget</h1><div class='author'>Ann Lee</div>{body}</article>"
        "<section id='comments'><div class='author'>Some Commenter</div><p>I disagree.</p></section>"
        "</main></body></html>"
    )
    page = RawPage("https://news.example/budget", html.encode(), "text/html", datetime.now(UTC))
    doc = extract(page, CONFIG)
    assert isinstance(doc, Document) and doc.author == "Ann Lee"
    unsearched = extract(page, CleanConfig(author_byline_search=False))
    assert isinstance(unsearched, Document) and unsearched.author is None
