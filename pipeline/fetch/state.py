"""What earlier runs learnt about each URL, kept in the store between runs.

One small JSON object per URL, `fetch-state/<host>/<hash>.json`: concurrent tasks that
fetch different URLs never write the same object, no object grows with the number of
pages a site has, and the last writer for one URL wins harmlessly (both recorded a
fetch of that URL). A page URL that has a state was fetched for good and is skipped; a
feed or sitemap state carries its validators (ETag, Last-Modified) and what it listed,
so a 304 answer still yields its links.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline import layout
from pipeline.store import Store


def load_state(store: Store, url: str) -> dict[str, Any] | None:
    try:
        return json.loads(store.get(layout.fetch_state_key(url)))
    except KeyError:
        return None


def save_state(store: Store, url: str, state: dict[str, Any]) -> None:
    store.put(layout.fetch_state_key(url), json.dumps({"url": url, **state}, sort_keys=True).encode())
