"""Named failure points for crash testing, in the style of fail-rs and gofail.

A failpoint is a named place in the run protocol (`failpoint("commit.before_manifest")`).
It does nothing unless the environment variable PIPELINE_FAILPOINTS names it:

    PIPELINE_FAILPOINTS="commit.before_manifest=kill"        # SIGKILL this process there
    PIPELINE_FAILPOINTS="write.article_part=kill@2"          # ... the 2nd time it is reached
    PIPELINE_FAILPOINTS="lease.taken=sleep:5,commit.after_manifest=raise"

Actions: `kill` (SIGKILL, as an OOM killer or a lost node would), `raise` (an OSError, as a
failing disk or network would), `sleep:SECONDS`. The chaos suite (tests/chaos) uses them to
stop a real process at every step of a run; `NAMES` lists every point, and docs/runs.md
says what a crash at each one leaves behind.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from functools import cache

ENV = "PIPELINE_FAILPOINTS"

NAMES = (
    "lease.taken",  # the run holds the lease; nothing else written yet
    "extract.page",  # a page was cleaned (reached once per page)
    "write.article_part",  # an article part was written (once per part)
    "write.lineage_part",  # a lineage part was written (once per part)
    "write.index_segment",  # the run's index segment was written
    "commit.before_manifest",  # every object written; the commit (manifest) not yet
    "commit.after_manifest",  # the manifest is committed; HEAD and run copy not yet updated
    "commit.after_head",  # HEAD updated; the lease not yet released
    "lease.released",  # the lease was released
)

_reached: Counter[str] = Counter()


@cache
def _plan(spec: str) -> dict[str, tuple[str, int]]:
    """{name: (action, nth)} from the environment variable's value."""
    plan = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, action = item.partition("=")
        action, _, nth = action.partition("@")
        if name not in NAMES:
            raise ValueError(f"{ENV}: unknown failpoint {name!r}; known: {', '.join(NAMES)}")
        plan[name] = (action or "kill", int(nth or 1))
    return plan


def failpoint(name: str) -> None:
    """Fail here if PIPELINE_FAILPOINTS asks for it; otherwise return at once."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    action, nth = _plan(spec).get(name, ("", 0))
    if not action:
        return
    _reached[name] += 1
    if _reached[name] != nth:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "raise":
        raise OSError(f"failpoint {name} raised")
    elif action.startswith("sleep:"):
        time.sleep(float(action.removeprefix("sleep:")))
    else:
        raise ValueError(f"{ENV}: unknown action {action!r} for {name}")
