"""One polite, bounded HTTP GET: the only way the fetcher talks to the web.

`WebClient.get` follows redirects itself (so every hop is checked against robots.txt
and the address policy), retries timeouts, connection errors, 429 and 5xx (tenacity),
refuses oversized and non-text pages, and returns every response it received so the
caller can archive them. It never raises for a network or HTTP problem: the result
carries a reason code instead.

The waiting between attempts is the host's, not the request's: a Retry-After, or else
the exponential backoff, pauses the whole host in the shared host state, so every
request to it (queued, new, from any source or worker) waits too. Each exchange has one
deadline for connecting, the headers and the body (pipeline/fetch/deadline.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import requests
import tenacity
from url_normalize import url_normalize
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError

from pipeline.fetch.context import FetchContext
from pipeline.fetch.deadline import ExchangeDeadline, exchange_deadline
from pipeline.fetch.netguard import (
    AddressPolicy,
    BlockedAddress,
    UnresolvableHost,
    checked_address,
    guarded_session,
)
from pipeline.fetch.politeness import HostBusy, RobotsAnswer, origin_of
from pipeline.fetch.sources_file import FetchOptions
from pipeline.sources import parse_content_type

PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain"})
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8,*/*;q=0.1"
DOCUMENT_ACCEPT = "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.5"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
ROBOTS_MAX_BYTES = 500_000  # RFC 9309 lets crawlers stop reading robots.txt after 500 KiB
CHUNK_BYTES = 65_536
# Final outcomes a later run should not try again; anything else (timeouts, 5xx, 404 of
# a page a CDN has not published yet) is retried when the URL is discovered again.
PERMANENT_FAILURES = frozenset({"http_410", "http_451", "too_large", "unsupported_type"})


def normalize_url(url: str) -> str | None:
    """The URL that identifies a page, or None when it is not an absolute http(s) URL.

    url-normalize does the syntax (case, default port, dot segments, percent-encoding,
    IDNA); the fragment is dropped because it never changes the page served. Query
    parameters are kept, even tracking-looking ones: merging two distinct articles
    under one URL would lose one of them, while a duplicate fetch is caught by dedup.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    try:
        _ = parts.port  # raises for a port that is not a number
        normalized = url_normalize(url.strip())
    except (ValueError, UnicodeError):
        return None
    return urldefrag(normalized)[0] if normalized else None


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: either a number of seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class Exchange:
    """One HTTP response as received (body decoded from any Content-Encoding)."""

    url: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    fetched_at: datetime

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


@dataclass
class FetchResult:
    """Everything that happened for one requested URL: the responses and the verdict."""

    url: str
    exchanges: list[Exchange] = field(default_factory=list)  # redirect hops included, in order
    failure: str | None = None  # reason code when no usable final response came
    detail: str = ""
    attempts: int = 0

    @property
    def final(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None

    @property
    def outcome(self) -> str:
        """What became of the URL: fetched, not_modified, skipped_robots, or the failure's reason."""
        if self.failure == "robots_disallowed":
            return "skipped_robots"
        if self.failure:
            return self.failure
        return "not_modified" if self.final and self.final.status == 304 else "fetched"

    @property
    def permanent(self) -> bool:
        """Whether this outcome stands: later runs need not ask for the URL again."""
        return self.outcome in ("fetched", "not_modified") or self.outcome in PERMANENT_FAILURES

    def fail(self, reason: str, detail: str) -> FetchResult:
        self.failure, self.detail = reason, detail
        return self


class _Failed(Exception):
    """An attempt ended without a usable response; `transient` ones are retried."""

    def __init__(self, reason: str, detail: str, transient: bool, exchange: Exchange | None = None) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.transient, self.exchange = reason, detail, transient, exchange


@dataclass(frozen=True)
class _Kind:
    """What is being fetched, which decides the checks applied to it."""

    accept: str
    page: bool  # only text pages are accepted (binary files are refused unread)
    robots: bool = False  # the robots.txt request itself: no robots check, no Crawl-delay lookup


PAGE = _Kind(PAGE_ACCEPT, page=True)
DOCUMENT = _Kind(DOCUMENT_ACCEPT, page=False)
ROBOTS = _Kind("text/plain,*/*;q=0.5", page=False, robots=True)


class WebClient:
    """HTTP for one source: its options and address policy, the run's shared host state."""

    def __init__(
        self,
        options: FetchOptions,
        context: FetchContext,
        on_robots_fetch: Callable[[FetchResult], None] | None = None,
    ) -> None:
        self.options = options
        self.context = context
        self.politeness = context.politeness
        self.policy = AddressPolicy.build(context.allow_private, options.allow_networks)
        self.session = guarded_session(self.policy)
        self.on_robots_fetch = on_robots_fetch  # robots.txt answers are archived like any response

    def get(self, url: str, *, page: bool = True, validators: dict[str, str] | None = None) -> FetchResult:
        """GET `url`: a page (HTML or plain text only) or, with page=False, a feed or sitemap.

        `validators` (the ETag and Last-Modified of an earlier answer) make the request
        conditional, so an unchanged document comes back as a bodiless 304.
        """
        return self._get(url, PAGE if page else DOCUMENT, validators or {})

    def _get(self, url: str, kind: _Kind, validators: dict[str, str]) -> FetchResult:
        result = FetchResult(url)
        conditional = {
            **({"If-None-Match": validators["etag"]} if validators.get("etag") else {}),
            **({"If-Modified-Since": validators["last_modified"]} if validators.get("last_modified") else {}),
        }
        headers = {"User-Agent": self.options.user_agent, "Accept": kind.accept, **conditional}
        current, visited = url, {url}
        for _hop in range(self.options.max_redirects + 1):
            refused = self._refused_address(current)
            if refused is not None:
                return result.fail(*refused)
            if not kind.robots and not self._robots_allow(current):
                return result.fail(
                    "robots_disallowed", f"robots.txt of {origin_of(current)} disallows {current}"
                )
            try:
                exchange = self._with_retries(current, headers, kind, result)
            except _Failed as failed:
                if failed.exchange is not None:
                    result.exchanges.append(failed.exchange)
                return result.fail(failed.reason, failed.detail)
            result.exchanges.append(exchange)
            location = exchange.header("Location")
            if exchange.status not in REDIRECTS or not location:
                return _verdict(result, exchange)
            target = normalize_url(urljoin(current, location))
            if target is None:
                return result.fail("bad_redirect", f"{current} redirects to {location!r}, not an http(s) URL")
            if target in visited:
                return result.fail("redirect_loop", f"{current} redirects back to {target}")
            visited.add(target)
            current = target
            headers = {k: v for k, v in headers.items() if k not in conditional}  # validators were for `url`
        return result.fail(
            "too_many_redirects", f"more than {self.options.max_redirects} redirects from {url}"
        )

    def _refused_address(self, url: str) -> tuple[str, str] | None:
        """Why the hop's host may not be contacted at all, checked before even its robots.txt.

        The adapter checks again where it connects (and pins the address); this early
        check gives a refused host its true reason instead of "robots.txt unreachable".
        """
        parts = urlsplit(url)
        try:
            checked_address(
                parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), self.policy
            )
        except BlockedAddress as err:
            return "blocked_address", str(err)
        except UnresolvableHost as err:
            return "dns_error", str(err)
        return None

    def _with_retries(self, url: str, headers: dict[str, str], kind: _Kind, result: FetchResult) -> Exchange:
        """One hop, tried again with exponential backoff while its failure is transient."""
        options = self.options
        retrying = tenacity.Retrying(  # no wait of its own: the failed attempt paused the host
            retry=tenacity.retry_if_exception(lambda err: isinstance(err, _Failed) and err.transient),
            stop=tenacity.stop_after_attempt(options.retries + 1),
            reraise=True,
        )
        hop_attempts = iter(range(1, options.retries + 2))
        last_response: list[Exchange] = []  # so a host that then stops answering still leaves its 5xx

        def attempt() -> Exchange:
            result.attempts += 1
            try:
                return self._attempt(url, headers, kind, next(hop_attempts))
            except _Failed as failed:
                if failed.exchange is not None:
                    last_response[:] = [failed.exchange]
                elif last_response:
                    failed.exchange = last_response[0]
                raise

        return retrying(attempt)

    def _attempt(self, url: str, headers: dict[str, str], kind: _Kind, attempt: int) -> Exchange:
        options, origin = self.options, origin_of(url)
        limits = self.context.limits(origin)
        interval = max(options.interval, limits.interval)
        if not kind.robots:  # Crawl-delay stretches the spacing, never shortens it
            interval = max(interval, float(self._robots(origin).crawl_delay(options.user_agent) or 0))
        cap = min(options.max_concurrency, limits.max_concurrency)
        try:
            with self.politeness.throttle.slot(origin, interval, cap, options.max_wait):
                try:
                    return self._checked(self._request(url, headers, kind))
                except _Failed as failed:
                    if failed.transient:  # paused before the slot is freed: no request slips in between
                        retry_after = failed.exchange.header("Retry-After") if failed.exchange else None
                        self._back_off(origin, attempt, retry_after_seconds(retry_after))
                    raise
        except HostBusy as err:
            raise _Failed("rate_limited", str(err), transient=False) from None

    @staticmethod
    def _checked(exchange: Exchange) -> Exchange:
        if exchange.status == 429 or exchange.status >= 500:
            raise _Failed(
                f"http_{exchange.status}", f"HTTP {exchange.status}", transient=True, exchange=exchange
            )
        return exchange

    def _back_off(self, origin: str, attempt: int, retry_after: float | None) -> None:
        """Pause the whole host: for as long as it said (Retry-After), else exponentially longer
        with each failed attempt (`backoff`, doubled, at most `max_wait`)."""
        backoff = min(self.options.backoff * 2 ** (attempt - 1), self.options.max_wait)
        self.politeness.throttle.pause(origin, retry_after if retry_after is not None else backoff)

    def _request(self, url: str, headers: dict[str, str], kind: _Kind) -> Exchange:
        with exchange_deadline(self.options.timeout) as deadline:
            response = self._send(url, headers, deadline)
            with response:
                return self._read(url, response, kind, deadline)

    def _send(self, url: str, headers: dict[str, str], deadline: ExchangeDeadline) -> requests.Response:
        """The request sent and the answer's headers read, within the exchange's deadline."""
        timeout = deadline.seconds
        try:
            left = deadline.left  # for connecting and for the headers; the watchdog cuts at the deadline
            return self.session.get(
                url, headers=headers, stream=True, allow_redirects=False, timeout=(left, left)
            )
        except BlockedAddress as err:
            raise _Failed("blocked_address", str(err), transient=False) from None
        except UnresolvableHost as err:
            raise _Failed("dns_error", str(err), transient=True) from None
        except requests.Timeout:
            raise _Failed("timeout", f"no answer within {timeout:g}s", transient=True) from None
        except requests.exceptions.SSLError as err:
            raise _Failed("tls_error", str(err), transient=False) from None
        except requests.ConnectionError as err:
            if deadline.expired:
                raise _Failed("timeout", f"no answer within {timeout:g}s", transient=True) from None
            raise _Failed("connection_error", str(err), transient=True) from None
        except requests.RequestException as err:
            raise _Failed("bad_url", str(err), transient=False) from None

    def _read(
        self, url: str, response: requests.Response, kind: _Kind, deadline: ExchangeDeadline
    ) -> Exchange:
        fetched_at = datetime.now(UTC)
        status = response.status_code
        limit = min(self.options.max_bytes, ROBOTS_MAX_BYTES) if kind.robots else self.options.max_bytes
        header = response.headers.get("Content-Type")
        media = parse_content_type(header)[0] if header else None
        if kind.page and 200 <= status < 300 and media is not None and media not in PAGE_TYPES:
            raise _Failed(
                "unsupported_type", f"content type {media} is not an HTML or text page", transient=False
            )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Failed(
                "too_large", f"Content-Length {declared} is over the {limit} byte limit", transient=False
            )
        body = bytearray()
        try:
            for chunk in response.raw.stream(CHUNK_BYTES, decode_content=True):
                body += chunk
                if len(body) > limit:
                    raise _Failed("too_large", f"body is over the {limit} byte limit", transient=False)
        except (ReadTimeoutError, ProtocolError, DecodeError, OSError) as err:
            if deadline.expired or isinstance(err, ReadTimeoutError):
                raise _Failed(
                    "timeout", f"exchange not complete within {deadline.seconds:g}s", transient=True
                ) from None
            raise _Failed("connection_error", f"body broken off: {err}", transient=True) from None
        if deadline.expired:  # the cut socket read as a clean end of the body
            raise _Failed("timeout", f"exchange not complete within {deadline.seconds:g}s", transient=True)
        headers = [(str(k), str(v)) for k, v in response.raw.headers.items()]
        return Exchange(url, status, response.reason or "", headers, bytes(body), fetched_at)

    def _robots_allow(self, url: str) -> bool:
        return self._robots(origin_of(url)).can_fetch(self.options.user_agent, url)

    def _robots(self, origin: str) -> RobotFileParser:
        return self.politeness.robots.rules(origin, self._load_robots)

    def _load_robots(self, origin: str) -> RobotsAnswer:
        result = self._get(origin + "/robots.txt", ROBOTS, {})
        if self.on_robots_fetch is not None:
            self.on_robots_fetch(result)
        final = result.final
        answered = final is not None and final.status not in REDIRECTS
        return (final.status, final.body) if answered else (None, b"")


def _verdict(result: FetchResult, exchange: Exchange) -> FetchResult:
    if 200 <= exchange.status < 300 or exchange.status == 304:
        return result
    return result.fail(f"http_{exchange.status}", f"HTTP {exchange.status} {exchange.reason}")
