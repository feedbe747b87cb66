"""Curation: image features, nearest neighbours, domain outliers (no Airflow)."""
