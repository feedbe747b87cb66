"""Development and test tooling around the product (never imported by ``trainset``, the plugins or the DAGs;
``tests/unit/test_layers.py`` and ruff's TID251 hold that): ``python -m trainset_dev dev|demo``.

- ``devstack``: the embedded PostgreSQL of ``make setup`` / ``make down``;
- ``peers``: S3, Slack and SMTP peers on loopback and the messages page of ``make up``;
- ``demo``: ``make demo``'s drop zone, simulated people and summary lines;
- ``seeds``: records for testing one stage on its own;
- ``quality_eval``: simulated labelers with known error rates over the corpus's plate boxes;
- ``airflow_stack``: the Airflow components as processes on loopback, with LocalExecutor or CeleryExecutor and a
  local Redis broker; ``photos``: many distinct generated photos (scale tests and benchmarks).
"""
