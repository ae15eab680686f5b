"""The glue between Airflow and the pipeline: connection -> boto3 client -> store."""

from __future__ import annotations


def test_client_comes_from_the_connection_with_checksums_only_when_required(
    airflow_db, corpus_bucket: str
) -> None:
    from news_common import connect

    store, client = connect()

    assert store.uri == f"s3://{corpus_bucket}/"  # the Variable news_store_uri
    assert client.meta.endpoint_url.startswith("http://127.0.0.1:")  # the connection's endpoint_url
    assert client.meta.config.request_checksum_calculation == "when_required"
    assert client.meta.config.response_checksum_validation == "when_required"
    store.put("probe", b"written through the news_s3 connection")
    assert store.get("probe") == b"written through the news_s3 connection"


def test_local_store_needs_no_client(airflow_db, tmp_path, monkeypatch) -> None:
    from news_common import connect

    monkeypatch.setenv("AIRFLOW_VAR_NEWS_STORE_URI", str(tmp_path / "corpus"))
    store, client = connect([str(tmp_path / "inputs")])

    assert client is None
    assert store.uri == (tmp_path / "corpus").as_uri()
