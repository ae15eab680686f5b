"""Real pages for the tests that must hold on any page: the extraction and syndication dev sets."""

from __future__ import annotations

import pytest
from lxml import etree

from bench.extraction import load_dataset, warc_pages
from pipeline.clean.decode import decode
from pipeline.clean.html import parse_html, prepare
from tests.conftest import SHARED


@pytest.fixture(scope="session")
def real_html_pages() -> list[str]:
    """Every HTML page of both dev sets, decoded: 181 pages of many sites and eras, and 401 more."""
    pages, _ = load_dataset(SHARED / "eval" / "extraction-dev")
    pages += warc_pages(SHARED / "eval" / "syndication-dev" / "corpus.warc.gz")
    return [decode(page) for page in pages if "html" in page.content_type]


@pytest.fixture(scope="session")
def prepared_pages(real_html_pages: list[str]) -> list[etree._Element]:
    """Every real page as `html.read` prepares it for the extractor; tests read copies of them."""
    trees = (parse_html(html) for html in real_html_pages)
    return [prepare(tree)[1] for tree in trees if tree is not None]
