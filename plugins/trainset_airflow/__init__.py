"""trainset's Airflow layer: thin operators, hooks and notifiers over the ``trainset`` domain library."""
