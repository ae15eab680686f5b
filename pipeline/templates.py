"""Site templates remembered across runs, so a site's chrome is known before its next page.

Each run writes one immutable object, `layout.templates_key(run_id)`: per site, the
short lines it saw as template and, for sites with few pages in the run, all their
short lines, each with the number of pages it was on. Lines are stored as 8-byte
digests of their word keys (`pipeline.clean.lines.line_digest`): small, and no page text.
Nothing is ever rewritten, so concurrent or retried runs cannot clobber each other (a
retry writes the same bytes).
Loading sums the counts of the newest committed runs, newest by commit order
(`commits.committed_runs`; run ids from the CLI and the DAGs do not sort in time), and a
line seen on enough pages overall is template. Only the newest `template_memory_runs`
runs are read, which bounds both the time to load and how long a redesigned site's old
chrome is remembered.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict

from pipeline import layout
from pipeline.clean.templates import SiteLines
from pipeline.commits import CommittedRun, committed_runs
from pipeline.config import CleanConfig
from pipeline.store import Store


def capped(learned: SiteLines, config: CleanConfig) -> SiteLines:
    """The evidence worth keeping: per site, its `template_memory_max_lines` most frequent lines."""
    return {
        site: dict(
            sorted(lines.items(), key=lambda item: (-item[1], item[0]))[: config.template_memory_max_lines]
        )
        for site, lines in sorted(learned.items())
        if lines
    }


def save_templates(store: Store, run_id: str, learned: SiteLines, config: CleanConfig | None = None) -> str:
    """Write this run's template evidence (capped per site, most frequent first); return its key."""
    config = config or CleanConfig()
    sites = capped(learned, config)
    data = json.dumps({"run_id": run_id, "sites": sites}, ensure_ascii=False, sort_keys=True).encode()
    key = layout.templates_key(run_id)
    store.put(key, gzip.compress(data, mtime=0))
    return key


def load_evidence(
    store: Store, config: CleanConfig, committed: list[CommittedRun] | None = None
) -> dict[str, Counter]:
    """Site -> line digest -> pages, summed over the newest `template_memory_runs` of the
    `committed` runs (default: every committed run)."""
    saved = {run_id for key in store.list(layout.TEMPLATES_PREFIX) if (run_id := layout.templates_run(key))}
    runs = committed_runs(store) if committed is None else committed
    run_keys = [layout.templates_key(run.run_id) for run in runs if run.run_id in saved]
    pages: dict[str, Counter] = defaultdict(Counter)
    for key in run_keys[-config.template_memory_runs :]:
        for site, lines in json.loads(gzip.decompress(store.get(key)))["sites"].items():
            pages[site].update(lines)
    return pages


def known_templates(evidence: dict[str, Counter], config: CleanConfig) -> dict[str, set[str]]:
    """Site -> digests of lines seen as template on at least `template_memory_min_pages` pages."""
    known = {
        site: {line for line, count in counts.items() if count >= config.template_memory_min_pages}
        for site, counts in evidence.items()
    }
    return {site: lines for site, lines in known.items() if lines}


def load_templates(
    store: Store, config: CleanConfig | None = None, committed: list[CommittedRun] | None = None
) -> dict[str, set[str]]:
    """The site templates earlier runs learned (`known_templates` of their evidence)."""
    config = config or CleanConfig()
    return known_templates(load_evidence(store, config, committed), config)


class RunTemplates:
    """Site templates while a run reads its pages batch by batch.

    Each batch is cleaned with the templates of earlier runs and of the run's earlier batches,
    as a run is with those of earlier runs; `learned` sums what the batches learned (capped per
    site as it is saved), so its size does not grow with the run's pages.
    """

    def __init__(self, stored: dict[str, Counter], config: CleanConfig) -> None:
        self.config = config
        self.stored = stored
        self.learned: SiteLines = {}
        self.known = known_templates(stored, config)

    def add(self, evidence: SiteLines) -> None:
        """Fold in one batch's evidence."""
        if not evidence:
            return
        for site, lines in evidence.items():
            counts = Counter(self.learned.get(site, {}))
            counts.update(lines)
            self.learned[site] = dict(counts)
        self.learned = capped(self.learned, self.config)
        both: dict[str, Counter] = defaultdict(Counter, {site: Counter(c) for site, c in self.stored.items()})
        for site, lines in self.learned.items():
            both[site].update(lines)
        self.known = known_templates(both, self.config)
