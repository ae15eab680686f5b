"""Whole pages through extract -> finish_run: articles, rejections, seeds."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from pipeline.clean import extract, finish_run
from pipeline.config import CleanConfig
from pipeline.records import Document, RawPage, Rejection
from tests.conftest import SEED_CHROME, SEEDS

CONFIG = CleanConfig()
FETCHED = datetime(2020, 9, 20, tzinfo=UTC)
PARAGRAPHS = [
    "The city council approved the new budget on Monday after a long debate about school funding and roads.",
    "Council members voted seven to two in favour, with the two dissenting members citing rising debt costs.",
    "The budget adds money for twelve new teachers and repairs to the bridge on the northern ring road.",
    "Residents will see a small rise in property taxes next year, the finance office said in a statement.",
    "The mayor said the plan balanced the needs of families with the city's long-term financial health.",
]


def html_page(body: str, head: str = "") -> str:
    title = "<title>Council approves budget | Site</title>"
    return f"<html lang='en'><head>{title}{head}</head><body>{body}</body></html>"


ARTICLE = html_page(
    "<header><nav><ul>"
    + "".join(f"<li><a href='/{s}'>{s}</a></li>" for s in ("Home", "World", "Sport"))
    + "</ul></nav></header>"
    "<main><article><h1>Council approves budget</h1>"
    "<div class='byline'>By Ann Lee · September 14, 2020 13:17</div>"
    "<div class='share'>Share: Facebook Twitter Email</div>"
    + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    + "</article>"
    "<section class='related'><h3>You may also like</h3><ul>"
    + "".join(f"<li><a href='/story/{i}'>Another story number {i} about town</a></li>" for i in range(5))
    + "</ul></section>"
    "<div id='respond'><h3>Leave a Reply</h3><p>Please enter your comment!</p></div></main>"
    "<footer><p>© 2020 site.example. All rights reserved. Privacy Policy | Terms of Use</p></footer>",
    head='<meta property="article:published_time" content="2020-09-14T13:17:00+02:00">'
    '<link rel="canonical" href="https://site.example/news/budget">'
    '<meta property="og:site_name" content="Site Example">',
)


def page(
    content: str, url: str = "https://site.example/news/budget?ref=home", content_type: str = "text/html"
) -> RawPage:
    return RawPage(url, content.encode(), content_type, FETCHED)


def clean(*pages: RawPage, config: CleanConfig = CONFIG) -> list[Document | Rejection]:
    extracted = [extract(p, config) for p in pages]
    docs = [d for d in extracted if isinstance(d, Document)]
    finished = {d.url: d for d in finish_run(docs, config)}
    return [finished.get(item.url, item) for item in extracted]


def test_html_article_keeps_its_paragraphs_and_drops_the_chrome() -> None:
    [doc] = clean(page(ARTICLE))
    assert isinstance(doc, Document)
    assert doc.text.splitlines() == PARAGRAPHS
    assert doc.title == "Council approves budget"
    assert doc.published_at == "2020-09-14T11:17:00Z"
    assert doc.canonical_url == "https://site.example/news/budget"
    assert doc.sitename == "Site Example"
    assert doc.language == "en"


def test_error_page_is_rejected_with_its_reason() -> None:
    error = html_page(
        "<main><h1>Page not found</h1><p>The page you requested does not exist. Try the search.</p></main>"
    )
    [rejection] = clean(page(error))
    assert isinstance(rejection, Rejection) and rejection.reason == "error_page"


def test_index_page_of_links_is_rejected_with_its_reason() -> None:
    links = "".join(
        f"<li><a href='/story/{i}'>Headline number {i} of the day about the city and its people</a></li>"
        for i in range(30)
    )
    [rejection] = clean(page(html_page(f"<main><h1>Latest news</h1><ul>{links}</ul></main>")))
    assert isinstance(rejection, Rejection) and rejection.reason == "index_page"


def test_short_page_is_rejected_after_cleaning() -> None:
    [rejection] = clean(page(html_page(f"<main><article><p>{PARAGRAPHS[0]}</p></article></main>")))
    assert isinstance(rejection, Rejection) and rejection.reason == "too_short"
    assert "minimum" in rejection.detail


def test_thresholds_come_from_the_configuration() -> None:
    config = CleanConfig(min_text_words=5, min_text_chars=20)
    [doc] = clean(page(html_page(f"<main><article><p>{PARAGRAPHS[0]}</p></article></main>")), config=config)
    assert isinstance(doc, Document)


def test_an_article_split_into_sibling_chunks_is_recovered() -> None:
    chunk = "<div class='chunk'><div class='body'>{}</div></div>"
    first = "".join(f"<p>{p}</p>" for p in PARAGRAPHS[:2])
    rest = [" ".join([p, p.replace("council", "committee")]) for p in PARAGRAPHS[2:]]
    body = (
        chunk.format(first)
        + "<div class='ad'>Advertisement</div>"
        + chunk.format("".join(f"<p>{p}</p>" for p in rest))
    )
    [doc] = clean(
        page(html_page(f"<main><h1>Council approves budget</h1><div class='chunks'>{body}</div></main>"))
    )
    assert isinstance(doc, Document)
    assert doc.text.splitlines() == PARAGRAPHS[:2] + rest


def test_text_scrape_becomes_an_article_with_title_and_date() -> None:
    scrape = "\n\n".join(
        ["Site Example", "Council approves budget", "2020-09-14T10:34:49Z", *PARAGRAPHS, "Share :"]
    )
    [doc] = clean(page(scrape, url="https://site.example/budget.txt", content_type="text/plain"))
    assert isinstance(doc, Document)
    assert (doc.title, doc.published_at, doc.text.splitlines()) == (
        "Council approves budget",
        "2020-09-14T10:34:49Z",
        PARAGRAPHS,
    )


@pytest.fixture(scope="module")
def seed_articles() -> list[Document | Rejection]:
    pages = [
        RawPage(path.resolve().as_uri(), path.read_bytes(), "text/plain", FETCHED)
        for path in sorted(SEEDS.glob("*.txt"))
    ]
    return clean(*pages)


def test_the_five_seeds_are_five_articles(seed_articles: list[Document | Rejection]) -> None:
    assert len(seed_articles) == 5
    assert all(isinstance(doc, Document) for doc in seed_articles)
    assert all(doc.title and doc.language == "en" for doc in seed_articles)


@pytest.mark.parametrize("chrome", SEED_CHROME)
def test_no_seed_keeps_site_chrome(seed_articles: list[Document], chrome: str) -> None:
    assert all(chrome.casefold() not in doc.text.casefold() for doc in seed_articles)


def test_the_source_of_a_local_page_is_its_declared_site_if_any() -> None:
    declared = extract(page(ARTICLE, url="file:///data/scrapes/budget.html"), CONFIG)
    assert isinstance(declared, Document) and declared.source == "site.example"
    text = extract(page("\n".join(PARAGRAPHS), url="file:///data/a.txt", content_type="text/plain"), CONFIG)
    assert isinstance(text, Document) and text.source == "file"
    bucket = extract(page("\n".join(PARAGRAPHS), url="s3://landing/a.txt", content_type="text/plain"), CONFIG)
    assert isinstance(bucket, Document) and bucket.source == "landing"


# --- decoding the way browsers do ---------------------------------------------------------------


def raw(content: bytes, charset: str | None = None, content_type: str = "text/html") -> RawPage:
    return RawPage("https://site.example/news/budget", content, content_type, FETCHED, charset=charset)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32", "utf-32-be"])
def test_utf16_and_utf32_pages_with_a_bom_are_articles_not_binary(codec: str) -> None:
    bom = {"utf-16": "", "utf-32": ""}.get(codec, "\ufeff")  # Python's utf-16/32 write their own BOM
    [doc] = clean(raw((bom + ARTICLE.replace("debate", "débat")).encode(codec)))
    assert isinstance(doc, Document) and "long débat about" in doc.text


def test_a_charset_browsers_refuse_to_decode_is_rejected() -> None:
    [rejection] = clean(raw(b"<p>\x1b$)C text</p>", charset="iso-2022-kr"))
    assert isinstance(rejection, Rejection) and rejection.reason == "encoding"


def test_the_run_level_half_loads_no_html_reader() -> None:
    """The main process runs `finish_run` and hands pages to the workers: trafilatura is theirs alone."""
    check = (
        "import sys, pipeline.runner, pipeline.extract, pipeline.clean; "
        "readers = [m for m in sys.modules if m.split('.')[0] in ('trafilatura', 'htmldate', 'justext')]; "
        "sys.exit(' '.join(readers) or None)"
    )
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert (run.returncode, run.stderr) == (0, "")
