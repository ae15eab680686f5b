"""News ingestion: raw pages in, clean deduplicated articles with lineage out.

The library has no Airflow import: `dags/` wraps these functions for the scheduler,
and `python -m pipeline` runs the same stages on one machine.
"""

__version__ = "0.1.0"
