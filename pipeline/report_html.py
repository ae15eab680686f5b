"""The runs page: one HTML page and one script (pipeline/report_assets/) for both the Airflow
view and the stand-alone report, so the two never drift apart.

- `live_page()`: served by the Airflow view; loads Chart.js and the script from `static/` and
  asks the view's API for the report and for stories (the inspector).
- `standalone_page(report)`: one self-contained file with Chart.js, the script and the report
  data inlined, for `python -m pipeline report --html`; it opens from disk, with no server.

Chart.js is vendored (`chart.umd.min.js`, version 4.6.1 from the npm package `chart.js`, MIT
licence beside it): the page must work where only the Airflow server is reachable.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

ASSETS = Path(__file__).with_name("report_assets")
STATIC_FILES = {"chart.umd.min.js", "report.js"}  # what the live page loads from static/


@cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(ASSETS), autoescape=select_autoescape(["j2"]))


def static_file(name: str) -> Path:
    """Path of a file the live page loads; KeyError for any other name."""
    if name not in STATIC_FILES:
        raise KeyError(name)
    return ASSETS / name


def _inline_script(name: str) -> str:
    text = (ASSETS / name).read_text(encoding="utf-8")
    if "</script" in text.lower():  # would end the inline <script> early
        raise ValueError(f"{name} cannot be inlined: it contains '</script'")
    return text


def live_page() -> str:
    return _environment().get_template("page.html.j2").render(live=True, inline=False, data=None)


def standalone_page(report: dict[str, Any]) -> str:
    return (
        _environment()
        .get_template("page.html.j2")
        .render(
            live=False,
            inline=True,
            data=report,
            chart_js=_inline_script("chart.umd.min.js"),
            report_js=_inline_script("report.js"),
        )
    )
