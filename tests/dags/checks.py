"""What the DAG tests look at: the seeds they land, and what a run left in S3 and in Airflow."""

from __future__ import annotations

from pathlib import Path

SEEDS = sorted((Path(__file__).resolve().parents[2] / "seeds").glob("*.txt"))
# The landing partition of the interval 05:00-06:00 the ingest tests run.
LANDING = "landing/dt=2026-11-22/hour=05/"


def corpus_events(dag_run) -> list[dict]:
    """Extras of the `news_corpus` asset events a DAG run emitted."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "news_corpus", AssetEvent.source_run_id == dag_run.run_id)
        )
        return list(session.scalars(query))


def bucket_objects(s3, bucket: str) -> dict[str, str]:
    """Every object of the bucket with its ETag, to see whether a run changed anything."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", [])}
