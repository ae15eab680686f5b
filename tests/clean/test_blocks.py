"""Block rules on trafilatura-shaped XML: split paragraphs, reconciliation, teasers, headings."""

from __future__ import annotations

from lxml import etree

from pipeline.clean.blocks import Block, blocks_from_xml, reconcile, select_blocks
from pipeline.config import CleanConfig

CONFIG = CleanConfig()
PROSE = "The council approved the new budget on Monday after a long debate about school funding."


def xml(body: str) -> etree._Element:
    return etree.fromstring(f"<body>{body}</body>")


def test_split_paragraph_fragments_are_mended_and_line_breaks_kept() -> None:
    blocks = blocks_from_xml(
        xml(
            "<div><p>The report cites a source at </p><hi>DigiTimes</hi><p>. A preview was shared.</p></div>"
            "<p>Dates:<lb/>June 9 -- Tampa<lb/>June 10 -- Miami</p>"
        )
    )
    assert [b.text for b in blocks] == [
        "The report cites a source at DigiTimes. A preview was shared.",
        "Dates:\nJune 9 -- Tampa\nJune 10 -- Miami",
    ]


def test_table_cells_holding_paragraphs_give_one_block_per_paragraph() -> None:
    blocks = blocks_from_xml(
        xml(
            "<table><row><cell>Home | World</cell></row>"
            "<row><cell>Headline<p>One.</p><p>Two.</p></cell></row></table>"
        )
    )
    assert [b.text for b in blocks] == ["Home | World", "Headline", "One.", "Two."]


def test_link_density_counts_link_text() -> None:
    [block] = blocks_from_xml(xml('<p>Read <ref target="/x">the full list here</ref></p>'))
    assert block.link_density > 0.7


def test_reconcile_keeps_the_span_the_precise_extraction_agrees_on() -> None:
    blocks = [Block("p", "Standfirst that only the recall pass saw here"), Block("p", PROSE)]
    blocks += [Block("p", "A middle paragraph the precise pass skipped, still article body text.")]
    blocks += [
        Block("p", PROSE.replace("Monday", "Tuesday")),
        Block("p", "Sign up for alerts about local news"),
    ]
    precise = PROSE + "\n" + PROSE.replace("Monday", "Tuesday")
    kept, outside = reconcile(blocks, precise, CONFIG)
    assert [b.text for b in kept] == [b.text for b in blocks[1:4]]
    assert outside == 2


def test_reconcile_ignores_a_precise_extraction_that_lost_the_article() -> None:
    blocks = [Block("p", PROSE), Block("p", PROSE + " More."), Block("p", PROSE + " Even more.")]
    kept, outside = reconcile(blocks, "Only a caption.", CONFIG)
    assert kept == blocks and outside == 0


def test_block_rules_drop_title_teasers_and_empty_headings() -> None:
    blocks = [
        Block("head", "Council approves budget"),
        Block("p", PROSE),
        Block("p", "Mayor says budget is fair", link_chars=25),
        Block("p", "Schools get new buses next year", link_chars=31),
        Block("p", "READ MORE: Budget fight goes on", link_chars=21),
        Block("head", "What happens next"),
        Block("p", PROSE.replace("Monday", "Friday")),
        Block("head", "Newsletter"),
        Block("head", "Thanks for signing up!"),
    ]
    lines, removed = select_blocks(blocks, "Council approves budget", CONFIG)
    assert lines == [PROSE, "What happens next", PROSE.replace("Monday", "Friday")]
    assert removed == {"title": 1, "teaser_links": 3, "empty_heading": 2}


def test_a_linked_paragraph_inside_the_text_is_kept() -> None:
    long_link = Block("p", PROSE + " " + PROSE, link_chars=2 * len(PROSE))
    lines, removed = select_blocks([Block("p", PROSE), long_link], None, CONFIG)
    assert len(lines) == 2 and not removed
