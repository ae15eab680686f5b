"""Every DAG file imports cleanly, and the DAGs have the shape the docs promise."""

from __future__ import annotations

import pytest

NEWS_DAGS = {"news_ingest", "news_reprocess", "news_corpus_report"}


def test_dag_files_import_without_errors(dagbag) -> None:  # noqa: ANN001
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == NEWS_DAGS
