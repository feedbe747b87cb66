"""trainset: the domain library behind the Airflow pipelines (plain Python, no Airflow imports)."""

__version__ = "0.1.0"
