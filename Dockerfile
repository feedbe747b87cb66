# trainset on the official Airflow image, extended the way the Airflow docs show
# (https://airflow.apache.org/docs/docker-stack/build.html: "adding packages from requirements.txt",
# "embedding DAGs"). Build: `docker compose build` (docker-compose.yaml uses this file) or
# `docker build -t trainset-airflow:latest .`
FROM apache/airflow:3.3.2-python3.11

# The base image runs as the `airflow` user with PIP_USER=true; installing here, as that user, is what the docs do.
# requirements.txt is a resolved set with exact pins (apache-airflow==3.3.2 among them), so no constraints file.
# requirements-docker.txt pins the providers the compose setup uses (CeleryExecutor, FAB auth manager), which the
# base image ships, so that pip keeps them consistent with our pins.
COPY requirements.txt requirements-nodeps.txt requirements-docker.txt /
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /requirements.txt -r /requirements-docker.txt \
 && pip install --no-cache-dir --no-deps -r /requirements-nodeps.txt

# The project at AIRFLOW_HOME (/opt/airflow): dags/ and plugins/ where Airflow looks, include/ beside them
# (the domain library, SQL migrations, expectation suites, project.yaml).
COPY --chown=airflow:root pyproject.toml /opt/airflow/pyproject.toml
COPY --chown=airflow:root include /opt/airflow/include
COPY --chown=airflow:root plugins /opt/airflow/plugins
COPY --chown=airflow:root dags /opt/airflow/dags

# Editable install: trainset resolves include/ (migrations, suites, project.yaml) relative to its own files, so
# the package must run from /opt/airflow/include. PYTHONPATH makes the same packages importable for any UID
# (docker-compose runs containers as AIRFLOW_UID:0, and airflow-init as root).
# XDG_CACHE_HOME: the int8 face and plate models are built once here (`python -m trainset models`) into a cache
# every UID of group 0 can read, instead of by each worker's first refine task.
ENV PYTHONPATH=/opt/airflow/include:/opt/airflow/plugins \
    TRAINSET_DATA_ROOT=/opt/airflow/data \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/opt/airflow/.cache
RUN pip install --no-cache-dir --no-deps -e /opt/airflow \
 && umask 0002 && mkdir -p /opt/airflow/data /opt/airflow/.cache \
 && python -m trainset --help > /dev/null \
 && python -m trainset models \
 && python -c "import trainset_airflow, airflow.providers.celery, airflow.providers.amazon, airflow.providers.slack, airflow.providers.postgres, airflow.providers.fab, great_expectations"
