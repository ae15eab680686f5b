"""Line rules: chrome lines, watermarks, captions, dates, related blocks, mastheads, footers."""

from __future__ import annotations

from pipeline.clean.chrome import page_rules
from pipeline.clean.text import read_scrape
from pipeline.config import CleanConfig

CONFIG = CleanConfig()

BODY = "The council approved the new budget on Monday after a long debate about school funding."


def test_chrome_lines_go_and_content_stays() -> None:
    lines = [
        "Skip to main content",
        BODY,
        "Share :",
        "Advertisement",
        "Please enter your comment!",
        "Previous Article",
        "Page not found",
        "Sign up for our daily newsletter",
        "© 2019 site.example. All rights reserved. Privacy Policy | Terms of Use",
    ]
    result = page_rules(lines, None, CONFIG)
    assert result.lines == [BODY]
    assert result.removed["chrome"] == 8


def test_a_wire_copyright_notice_is_not_a_footer_link_line() -> None:
    notice = (
        "© 2019 Associated Press. All Rights Reserved. This material may not be published or redistributed."
    )
    assert page_rules([BODY, notice], None, CONFIG).lines == [BODY, notice]


def test_inline_watermark_is_cut_out_of_the_sentence() -> None:
    result = page_rules(["She said so. © www.example-news.com The government agreed."], None, CONFIG)
    assert result.lines == ["She said so. The government agreed."]
    assert result.removed["watermark"] == 1


def test_captions_with_credits_and_credit_lines_go() -> None:
    caption = "The mayor in June 2020"
    lines = [caption, f"{caption} © Jane Doe, Agency", BODY, "Photo: Agency"]
    result = page_rules(lines, None, CONFIG)
    assert result.lines == [BODY]
    assert result.removed["caption"] == 2


def test_date_line_gives_the_publication_time() -> None:
    result = page_rules(["Tuesday, 11 August 2020, 13:52 Updated: 16:46", BODY], None, CONFIG)
    assert result.lines == [BODY]
    assert result.date == "2020-08-11T13:52:00"


def test_related_block_after_a_marker_in_a_text_scrape() -> None:
    lines = [BODY, "You may like", "• Other story one", "• Other story two", "Short trailing link"]
    result = page_rules(lines, None, CONFIG, structured=False)
    assert result.lines == [BODY]
    assert result.removed["related_links"] == 4  # the marker and the three links


def test_structured_pages_keep_short_lists_and_repeated_lines() -> None:
    lines = [BODY, "Tags", "- eggs", "- flour", "Here's the thing:", BODY[:40], "Here's the thing:"]
    assert page_rules(lines, None, CONFIG).lines == lines


def test_text_scrape_masthead_headline_and_footer() -> None:
    lines = [
        "The Daily Example",
        "Now you can see more news...",
        "Council approves budget",
        "2020-09-14T10:34:49.458Z",
        BODY,
        "© Example Media 2019 - Privacy",
        "The information on this site is from external sources.",
    ]
    scrape = read_scrape("\n\n".join(lines), CONFIG)
    assert scrape.title == "Council approves budget"
    assert scrape.removed["masthead"] == 2 and scrape.removed["footer"] == 2
    result = page_rules(scrape.lines, scrape.title, CONFIG, structured=False)
    assert result.date == "2020-09-14T10:34:49Z"
    assert result.lines == [BODY]


def test_text_scrape_repeats_of_the_title_and_lines_go() -> None:
    lines = [BODY, "Council approves budget", BODY]
    result = page_rules(lines, "Council approves budget", CONFIG, structured=False)
    assert result.lines == [BODY]
    assert result.removed["repeat"] == 2
