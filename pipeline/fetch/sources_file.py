"""The sources file: which feeds, sitemaps and URL lists to fetch, and how politely.

A YAML file (documented in docs/sources.md) is turned into `Source` records here, and
every mistake in it is reported with the file, the source and the option it concerns,
so an operator fixes the file without reading code. `Source` round-trips through
`to_dict`/`from_dict`, so a scheduler can hand one source to each mapped task.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

KINDS = ("feed", "sitemap", "urls")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
DEFAULT_USER_AGENT = "news-pipeline/0.1 (deduplicating news ingestion; set user_agent in the sources file)"


class SourcesError(ValueError):
    """The sources file is missing, is not valid YAML, or breaks the documented format."""


@dataclass(frozen=True)
class FetchOptions:
    """Politeness and limits for one source; docs/sources.md explains each one."""

    user_agent: str = DEFAULT_USER_AGENT
    rate: float = 1.0  # requests per second to one host; 0 means no spacing
    max_concurrency: int = 2  # requests in flight to one host at once
    timeout: float = 30.0  # seconds for one whole request: connect, headers and body
    retries: int = 3  # further attempts after a timeout, connection error, 429 or 5xx
    backoff: float = 1.0  # seconds before the first retry, doubled for each later one
    max_wait: float = 120.0  # longest wait for a host (Retry-After, Crawl-delay) before giving up this run
    max_redirects: int = 5
    max_bytes: int = 10_000_000  # larger responses are refused as "too_large"
    max_pages: int = 500  # pages fetched per source and run; the rest wait for the next run
    max_sitemaps: int = 50  # sitemap documents read per source and run
    allow_networks: tuple[str, ...] = ()  # private networks (CIDR) this source may reach

    @property
    def interval(self) -> float:
        """Seconds between two requests to one host."""
        return 1.0 / self.rate if self.rate > 0 else 0.0


# (check, message) per option: the message completes "option X must be ...".
_CHECKS: dict[str, tuple[Any, str]] = {
    "user_agent": (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string"),
    "rate": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "max_concurrency": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "timeout": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "retries": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "backoff": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "max_wait": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "max_redirects": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "max_bytes": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "max_pages": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "max_sitemaps": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "allow_networks": (lambda v: isinstance(v, list) and all(_is_network(n) for n in v), "a list of CIDRs"),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or isinstance(value, float)


def _is_network(value: Any) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Source:
    """One entry of the sources file.

    `urls` holds the feed URLs for kind "feed", the sitemap (or sitemap index) URLs for
    kind "sitemap", and the page URLs themselves for kind "urls".
    """

    name: str
    kind: str
    urls: tuple[str, ...]
    options: FetchOptions = field(default_factory=FetchOptions)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Source:
        options = dict(data.get("options") or {})
        options["allow_networks"] = tuple(options.get("allow_networks") or ())
        return cls(data["name"], data["kind"], tuple(data["urls"]), FetchOptions(**options))


def _options(raw: dict[str, Any], base: FetchOptions, where: str) -> FetchOptions:
    changes = {}
    for key, value in raw.items():
        check, expected = _CHECKS[key]
        if not check(value):
            raise SourcesError(f"{where}: option {key!r} must be {expected}, got {value!r}")
        changes[key] = tuple(value) if key == "allow_networks" else value
    return FetchOptions(**{**asdict(base), **changes})


def _url_list(value: Any, where: str, key: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(u, str) and u.strip() for u in items):
        raise SourcesError(f"{where}: {key!r} must be a URL or a non-empty list of URLs")
    bad = [u for u in items if not re.match(r"^https?://[^/\s]+", u.strip(), re.IGNORECASE)]
    if bad:
        raise SourcesError(f"{where}: {key!r} has URLs that are not absolute http(s) URLs: {bad[:3]}")
    return tuple(u.strip() for u in items)


def _read_url_file(path: Path, where: str) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise SourcesError(f"{where}: cannot read urls_file {str(path)!r}: {err.strerror}") from err
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _source(entry: Any, index: int, defaults: FetchOptions, base_dir: Path, path: str) -> Source:
    if not isinstance(entry, dict):
        raise SourcesError(f"{path}: sources[{index}] must be a mapping, got {type(entry).__name__}")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise SourcesError(
            f"{path}: sources[{index}] needs a 'name' of letters, digits, '.', '_' or '-' "
            f"(it names the source's archive files), got {name!r}"
        )
    where = f"{path}: source {name!r}"
    given = [key for key in (*KINDS, "urls_file") if key in entry]
    if len(given) != 1:
        raise SourcesError(
            f"{where}: give exactly one of feed, sitemap, urls or urls_file (found {given or 'none'})"
        )
    unknown = set(entry) - {"name", *KINDS, "urls_file", *_CHECKS}
    if unknown:
        raise SourcesError(
            f"{where}: unknown key(s) {sorted(unknown)}; known: name, feed, sitemap, urls, urls_file, "
            + ", ".join(_CHECKS)
        )
    options = _options({k: v for k, v in entry.items() if k in _CHECKS}, defaults, where)
    if given[0] == "urls_file":
        urls_file = entry["urls_file"]
        if not isinstance(urls_file, str):
            raise SourcesError(f"{where}: 'urls_file' must be a path, got {urls_file!r}")
        urls = _url_list(_read_url_file(base_dir / urls_file, where), where, "urls_file")
        return Source(name, "urls", urls, options)
    return Source(name, given[0], _url_list(entry[given[0]], where, given[0]), options)


def parse_sources(data: Any, base_dir: Path, path: str = "sources") -> list[Source]:
    """Sources from already-loaded YAML data; `urls_file` paths are relative to `base_dir`."""
    if not isinstance(data, dict):
        raise SourcesError(f"{path}: the file must be a mapping with a 'sources' list")
    unknown = set(data) - {"defaults", "sources"}
    if unknown:
        raise SourcesError(f"{path}: unknown top-level key(s) {sorted(unknown)}; known: defaults, sources")
    raw_defaults = data.get("defaults") or {}
    if not isinstance(raw_defaults, dict) or set(raw_defaults) - set(_CHECKS):
        raise SourcesError(f"{path}: 'defaults' must be a mapping of options: {', '.join(_CHECKS)}")
    defaults = _options(raw_defaults, FetchOptions(), f"{path}: defaults")
    entries = data.get("sources")
    if not isinstance(entries, list) or not entries:
        raise SourcesError(f"{path}: 'sources' must be a non-empty list")
    sources = [_source(entry, i, defaults, base_dir, path) for i, entry in enumerate(entries)]
    names = [s.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SourcesError(f"{path}: source names must be unique; repeated: {duplicates}")
    return sources


def load_sources(path: str | Path) -> list[Source]:
    """Read and check a sources file (format: docs/sources.md)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SourcesError(f"cannot read sources file {str(path)!r}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise SourcesError(f"{path}: not valid YAML: {err}") from err
    return parse_sources(data, path.parent, str(path))
