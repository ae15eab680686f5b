"""What cleaning would load on first use, loaded once in the cleaning workers' forkserver.

`pipeline.workers` forks every cleaning worker from a forkserver that imports this
module (`WORKER_PRELOAD`). Loaded here, the HTML reader (trafilatura, which the package
imports on first use) with justext's stoplists (a hundred files, read and merged on its
first cross-check), the language model and dateparser's English data are in each worker
from its start, instead of being loaded again by every new worker (about half a second
of CPU each; workers are replaced every TASKS_PER_WORKER pages). What they loaded is
then frozen out of garbage collection (`gc.freeze`, as Python's documentation advises
before forking): it lives as long as the worker, and a worker's collections would
otherwise walk its tens of thousands of objects again and again.
"""

from __future__ import annotations

import gc

from justext.core import define_stoplist
from trafilatura.external import jt_stoplist_init

import pipeline.clean.html  # noqa: F401  (imported for its side effect: loaded once, here)
from pipeline.clean.dates import load_date_parser
from pipeline.clean.language import load_model

define_stoplist(jt_stoplist_init())  # as trafilatura's justext cross-check asks for it
load_model()
load_date_parser()
gc.freeze()
