"""Development and test tooling around the product (never imported by ``trainset`` or the DAGs): the Airflow
components as processes on loopback, with LocalExecutor or CeleryExecutor and a local Redis broker."""
