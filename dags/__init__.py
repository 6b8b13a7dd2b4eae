"""Airflow DAG files: wiring only (see doudi_nightly.py)."""
