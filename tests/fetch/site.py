"""A small news site on 127.0.0.x for fetch tests, benchmarks and DAG tests.

It serves a feed, a sitemap index pointing at a Google News sitemap and a gzipped
archive sitemap, article pages, and one page for each way fetching goes wrong:

    /private/secret   disallowed by robots.txt      /missing      404
    /flaky            500 once, then the page       /busy         429 + Retry-After: 1 once (?after=N: N)
    /slow             answers after `slow_seconds`  /huge         Content-Length over 100 kB
    /huge-stream      over 100 kB, no length        /file.bin     application/octet-stream
    /loop/a <-> /loop/b   redirect loop             /moved        301 to an article
    /redirect?to=URL  302 to any URL
    /drip             a page whose body comes one byte every 0.1 s for 10 s
    /drip-headers     a page whose header lines come one every 0.1 s for 10 s

Feeds and sitemaps answer 304 to a matching If-None-Match (feed, index, news sitemap)
or If-Modified-Since (archive sitemap). Every request is counted in `hits` by path.

    with serve_fixture_site() as base_url: ...        # what most callers need
    with FixtureSite() as site: site.url, site.hits   # when a test counts requests
"""

from __future__ import annotations

import gzip
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from pipeline.fetch import FetchOptions, Source

DEFAULT_ROBOTS = "User-agent: *\nDisallow: /private/\n"
LARGE_BYTES = 300_000  # /huge and /huge-stream; tests set max_bytes below this
DRIP_STEPS, DRIP_SECONDS = 100, 0.1  # /drip and /drip-headers: a byte (a header line) every 0.1 s, 10 s long
ARCHIVE_MODIFIED = datetime(2024, 1, 1, tzinfo=UTC)
FEED_TRAPS = [
    "/private/secret",
    "/missing",
    "/flaky",
    "/busy",
    "/slow",
    "/huge",
    "/huge-stream",
    "/file.bin",
    "/loop/a",
    "/moved",
]
VOCABULARY = (
    "council budget city residents school road water plan mayor vote meeting funds year local "
    "service public health report board members project housing park community office state "
    "police fire station library transport bus rail bridge repair week month officials said "
    "would could new more than after before during against about million percent increase"
)


# Why each page of the site that fails is rejected: the fetch outcome, else (a redirect hop) the
# answer's status. In the lineage an `http_<status>` outcome is the reason `http_status`.
REJECTED_REASONS = {
    "/private/secret": "robots_disallowed",
    "/missing": "http_404",
    "/slow": "timeout",
    "/huge": "too_large",
    "/huge-stream": "too_large",
    "/file.bin": "unsupported_type",
    "/loop/a": "redirect_loop",
    "/loop/b": "redirect",
    "/moved": "redirect",
}
LINEAGE_REASONS = {
    path: "http_status" if reason.startswith("http_") else reason for path, reason in REJECTED_REASONS.items()
}


def article_text(slug: str, paragraphs: int = 4) -> list[str]:
    """Deterministic, distinct English-like paragraphs for one article."""
    rng, words = random.Random(slug), VOCABULARY.split()
    return [" ".join(rng.choice(words) for _ in range(45)).capitalize() + "." for _ in range(paragraphs)]


def article_html(slug: str, text_of: str | None = None) -> bytes:
    """An article page with site chrome; `text_of` reuses another article's text (a syndicated copy)."""
    body = "".join(f"<p>{p}</p>" for p in article_text(text_of or slug))
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Story {slug}</title></head>"
        f"<body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        f"<article><h1>Story {slug}</h1>{body}</article>"
        f"<footer>Copyright Fixture News</footer></body></html>"
    ).encode()


def _rss(base: str, paths: list[str]) -> bytes:
    items = "".join(
        f"<item><title>{path}</title><link>{base}{path}</link>"
        f"<pubDate>{format_datetime(datetime(2024, 5, 1, tzinfo=UTC) - timedelta(hours=i))}</pubDate>"
        "</item>"
        for i, path in enumerate(paths)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Fixture News</title>'
        f"<link>{base}/</link><description>fixture</description>{items}</channel></rss>"
    ).encode()


def _news_sitemap(base: str, paths: list[str]) -> bytes:
    urls = "".join(
        f"<url><loc>{base}{path}</loc><news:news><news:publication><news:name>Fixture News</news:name>"
        f"<news:language>en</news:language></news:publication>"
        f"<news:publication_date>2024-05-0{1 + i % 9}T08:00:00Z</news:publication_date>"
        f"<news:title>{path}</news:title></news:news></url>"
        for i, path in enumerate(paths)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>'
    ).encode()


def _sitemap_index(base: str) -> bytes:
    children = "".join(
        f"<sitemap><loc>{base}{path}</loc></sitemap>"
        for path in ("/news-sitemap.xml", "/sitemap-archive.xml.gz")
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{children}</sitemapindex>'
    ).encode()


def _archive_sitemap(base: str) -> bytes:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{base}/articles/old-1</loc><lastmod>2023-12-01</lastmod></url></urlset>"
    )
    return gzip.compress(xml.encode(), mtime=0)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up (timeouts are part of the fixture) is not an error worth printing."""


class FixtureSite:
    """The fixture site on `host` (any 127.0.0.x), on a free port, in a background thread.

    `articles` article pages are listed: the first half in the feed, the rest in the
    news sitemap (with a syndicated copy of article 1), so feed and sitemap sources
    never share a URL.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        articles: int = 6,
        robots: str | int = DEFAULT_ROBOTS,
        slow_seconds=2.0,
    ) -> None:
        self.host, self.robots, self.slow_seconds = host, robots, slow_seconds
        half = articles // 2
        self.feed_paths = [f"/articles/{n}" for n in range(1, half + 1)]
        self.sitemap_paths = [f"/articles/{n}" for n in range(half + 1, articles + 1)] + ["/syndicated/1"]
        self.hits: Counter[str] = Counter()
        self.hit_times: dict[str, list[float]] = defaultdict(list)
        self.host_headers: list[str] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the site is not running"
        return f"http://{self.host}:{self._server.server_address[1]}"

    def __enter__(self) -> FixtureSite:
        site = self

        class Handler(_Handler):
            fixture = site

        self._server = _QuietServer((self.host, 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Track how many requests are being answered at once (`max_in_flight`)."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    def wait_for_hit(self, path: str, timeout: float = 30.0) -> None:
        """Return once `path` has been asked for (at once if it was)."""
        deadline = time.monotonic() + timeout
        while not self.hits[path]:
            assert time.monotonic() < deadline, f"{path} was never asked for"
            time.sleep(0.01)

    def record(self, path: str, host_header: str) -> int:
        """Count a request; returns how many times this path was asked for, this one included."""
        with self._lock:
            self.hits[path] += 1
            self.hit_times[path].append(time.monotonic())
            self.host_headers.append(host_header)
            return self.hits[path]


class _Handler(BaseHTTPRequestHandler):
    fixture: FixtureSite
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read `hits`, not a log."""

    def _send(
        self, status: int, body: bytes = b"", content_type: str = "text/html; charset=utf-8", **headers: str
    ) -> None:
        self.send_response(status)
        if status != 304:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _drip(self, headers_too: bool) -> None:
        """A server that never quite stops answering: a byte (or header line) every DRIP_SECONDS."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(DRIP_STEPS))
        try:
            if headers_too:
                self.flush_headers()
                for n in range(DRIP_STEPS):
                    self.wfile.write(f"X-Drip-{n}: x\r\n".encode())
                    time.sleep(DRIP_SECONDS)
            self.end_headers()
            for _ in range(DRIP_STEPS):
                self.wfile.write(b"x")
                time.sleep(DRIP_SECONDS)
        except OSError:  # the client gave up, as it should
            return

    def _document(self, body: bytes, content_type: str, etag: str) -> None:
        if self.headers.get("If-None-Match") == etag:
            self._send(304, ETag=etag)
        else:
            self._send(200, body, content_type, ETag=etag)

    def do_GET(self) -> None:
        with self.fixture.serving():
            self._route()

    def _route(self) -> None:
        site = self.fixture
        parts = urlsplit(self.path)
        path = parts.path
        count = site.record(path, self.headers.get("Host", ""))
        base = f"http://{self.headers.get('Host')}"
        if path == "/robots.txt":
            if isinstance(site.robots, int):
                self._send(site.robots, b"", "text/plain")
            else:
                self._send(200, site.robots.encode(), "text/plain")
        elif path == "/feed.xml":
            listed = [*site.feed_paths[:1], "/articles/1#comments", *site.feed_paths[1:], *FEED_TRAPS]
            self._document(_rss(base, listed), "application/rss+xml", '"feed-v1"')
        elif path == "/sitemap_index.xml":
            self._document(_sitemap_index(base), "application/xml", '"index-v1"')
        elif path == "/news-sitemap.xml":
            self._document(_news_sitemap(base, site.sitemap_paths), "application/xml", '"news-v1"')
        elif path == "/sitemap-archive.xml.gz":
            modified = format_datetime(ARCHIVE_MODIFIED, usegmt=True)
            if self.headers.get("If-Modified-Since") == modified:
                self._send(304, Last_Modified=modified)
            else:
                self._send(200, _archive_sitemap(base), "application/gzip", Last_Modified=modified)
        elif path.startswith("/articles/") or path.startswith("/private/"):
            self._send(200, article_html(path.rsplit("/", 1)[-1]), ETag=f'"{path}"')
        elif path == "/syndicated/1":
            self._send(200, article_html("syndicated-1", text_of="1"))
        elif path == "/missing":
            self._send(404, b"<html><body>Not found</body></html>")
        elif path == "/flaky":
            self._send(500, b"oops") if count == 1 else self._send(200, article_html("flaky"))
        elif path == "/busy":
            after = parse_qs(parts.query).get("after", ["1"])[0]
            self._send(429, b"slow down", Retry_After=after) if count == 1 else self._send(
                200, article_html("busy")
            )
        elif path == "/slow":
            time.sleep(site.slow_seconds)
            self._send(200, article_html("slow"))
        elif path == "/huge":
            self._send(200, b"<p>" + b"x" * LARGE_BYTES + b"</p>")
        elif path == "/huge-stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for _ in range(LARGE_BYTES // 10_000 + 1):
                self.wfile.write(b"y" * 10_000)
        elif path == "/file.bin":
            self._send(200, bytes(range(256)) * 40, "application/octet-stream")
        elif path == "/loop/a":
            self._send(302, Location="/loop/b")
        elif path == "/loop/b":
            self._send(302, Location="/loop/a")
        elif path == "/moved":
            self._send(301, Location=f"{base}/articles/moved-target")
        elif path in ("/drip", "/drip-headers"):
            self._drip(headers_too=path == "/drip-headers")
        elif path == "/redirect":
            self._send(302, Location=parse_qs(parts.query)["to"][0])
        else:
            self._send(404, b"<html><body>Not found</body></html>")


@contextmanager
def serve_fixture_site(host: str = "127.0.0.1", **options: object) -> Iterator[str]:
    """The fixture site's base URL (e.g. http://127.0.0.1:41234) while the block runs."""
    with FixtureSite(host, **options) as site:  # type: ignore[arg-type]
        yield site.url


# Short timeouts and backoff keep the failure paths (slow page, 500, 429) fast in tests; rate 0
# drops the spacing for tests that are not about it.
QUICK_OPTIONS = {
    "timeout": 1.0,  # well under /slow's 2 s, well over a loaded machine's page time
    "retries": 1,
    "backoff": 0.05,
    "rate": 0,
    "max_bytes": 100_000,
    "max_wait": 5,
}


def quick_source(name: str, kind: str, *urls: str, **options: object) -> Source:
    """A source with QUICK_OPTIONS (overridden by `options`)."""
    return Source(name, kind, urls, FetchOptions(**{**QUICK_OPTIONS, **options}))  # type: ignore[arg-type]


def sources_yaml(base_url: str, **options: object) -> str:
    """A sources file for the fixture site: its feed and its sitemap index, with `options` as defaults."""
    import yaml

    return yaml.safe_dump(
        {
            "defaults": dict(options),
            "sources": [
                {"name": "fixture-feed", "feed": f"{base_url}/feed.xml"},
                {"name": "fixture-sitemap", "sitemap": f"{base_url}/sitemap_index.xml"},
            ],
        },
        sort_keys=False,
    )
