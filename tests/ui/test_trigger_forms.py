"""The UI as a user meets it: `make up`'s stack (scripts/airflow_up.sh) on free ports in a temporary AIRFLOW_HOME,
driven by Debian's Chromium through Playwright.

Logs in, opens every DAG's trigger form and checks its Trigger button is enabled with the default Params,
triggers collect from the form, waits for the run, and reads collect's summary line in the UI's log view.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "ui-test-" + uuid.uuid4().hex[:12]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, path: str, token: str, method: str = "GET", body: dict | None = None) -> dict:
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, pg_admin_dsn):
    """The stack of `make up`, started by its own script, with its own metadata and records DBs."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it: apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api")
    from trainset import db
    from trainset.storage import LocalStorage
    from trainset_dev.demo.dropzone import build_files

    local = tmp_path_factory.mktemp("stack")
    suffix = uuid.uuid4().hex[:8]
    meta_db, records_db = f"airflow_ui_{suffix}", f"trainset_ui_{suffix}"
    for name in (meta_db, records_db):
        db.ensure_database(pg_admin_dsn, name)
    host = urllib.parse.parse_qs(urllib.parse.urlparse(pg_admin_dsn).query)["host"][0]
    conn = db.connect(pg_admin_dsn.replace("/postgres?", f"/{records_db}?"))
    db.upgrade(conn)
    conn.close()

    # A small drop zone: two photos, an exact duplicate and an empty file, so the summary has every part.
    files = {f.key: data for f, data in build_files()}
    drop = LocalStorage(local / "data" / "drop_zone")
    for key in ("food/coffee.jpg", "food/coffee_copy.jpg", "animal/chelsea.jpg", "object/empty.jpg"):
        drop.write_bytes(key, files[key])

    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_")) and k not in ("TRAINSET_DB_DSN", "AIRFLOW_HOME")}
    env.update({
        "AIRFLOW_HOME": str(local / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres:@/{meta_db}?host={host}",
        "AIRFLOW_CONN_TRAINSET_DB": json.dumps({"conn_type": "postgres", "host": host, "login": "postgres",
                                                "schema": records_db}),
        "TRAINSET_DATA_ROOT": str(local / "data"),
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        "AIRFLOW_PORT": str(port), "AIRFLOW_PASSWORD": PASSWORD,
        "PEERS_S3_PORT": str(_free_port()), "PEERS_SLACK_PORT": str(_free_port()),
        "PEERS_SMTP_PORT": str(_free_port()), "PEERS_PAGE_PORT": str(_free_port()),
    })
    (local / "airflow").mkdir()
    migrate = subprocess.run([str(ROOT / ".venv" / "bin" / "airflow"), "db", "migrate"], env=env,
                             capture_output=True, text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    up = subprocess.run([str(ROOT / "scripts" / "airflow_up.sh")], env=env, capture_output=True, text=True,
                        timeout=600)
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert f"http://127.0.0.1:{port}" in up.stdout and f"admin / {PASSWORD}" in up.stdout, up.stdout
        base = f"http://127.0.0.1:{port}"
        request = urllib.request.Request(base + "/auth/token", method="POST", headers={"Content-Type": "application/json"},
                                         data=json.dumps({"username": "admin", "password": PASSWORD}).encode())
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.loads(response.read())["access_token"]
        yield {"base": base, "token": token, "up": up.stdout, "local": local}
    finally:
        down = subprocess.run([str(ROOT / "scripts" / "airflow_down.sh")], env=env, capture_output=True, text=True,
                              timeout=300)
        print(down.stdout, down.stderr)
        for name in (meta_db, records_db):
            db.drop_database(pg_admin_dsn, name)
        shutil.rmtree(local, ignore_errors=True)


@pytest.fixture(scope="module")
def page(stack):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(stack["base"] + "/")
        page.locator("input[name=username]").fill("admin")
        page.locator("input[name=password]").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth/" not in url)
        yield page
        browser.close()


def _open_trigger_form(page, base: str, dag_id: str):
    page.goto(f"{base}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Run Parameters").wait_for()
    return dialog


def test_every_dag_triggers_from_the_ui_with_its_defaults(stack, page):
    dag_ids = sorted(d["dag_id"] for d in _api(stack["base"], "/api/v2/dags?limit=100", stack["token"])["dags"])
    assert len(dag_ids) == len(list((ROOT / "dags").glob("*.py"))), dag_ids
    disabled = []
    for dag_id in dag_ids:
        dialog = _open_trigger_form(page, stack["base"], dag_id)
        button = dialog.get_by_role("button", name="Trigger", exact=True)
        # The form validates the defaults against each Param's schema as it renders; give it a moment.
        page.wait_for_timeout(1000)
        if not button.is_enabled():
            disabled.append(dag_id)
    assert not disabled, f"Trigger disabled with the default Params: {disabled}"


def test_collect_triggered_from_the_ui_shows_its_summary_in_the_log_view(stack, page):
    base, token = stack["base"], stack["token"]
    before = {r["dag_run_id"] for r in _api(base, "/api/v2/dags/collect/dagRuns", token)["dag_runs"]}
    dialog = _open_trigger_form(page, base, "collect")
    page.wait_for_timeout(1000)
    dialog.get_by_role("button", name="Trigger", exact=True).click()
    # The UI may render the toast twice (chakra toaster): any one of them will do.
    page.get_by_text("Dag Run Triggered").first.wait_for()

    deadline, run = time.monotonic() + 300, None
    while time.monotonic() < deadline:
        runs = [r for r in _api(base, "/api/v2/dags/collect/dagRuns", token)["dag_runs"]
                if r["dag_run_id"] not in before]
        assert len(runs) <= 1, runs
        if runs and runs[0]["state"] in ("success", "failed"):
            run = runs[0]
            break
        time.sleep(3)
    assert run is not None, "the collect run triggered from the UI did not finish within 300 s"
    assert run["run_type"] == "manual" and run["state"] == "success", run

    run_id = urllib.parse.quote(run["dag_run_id"], safe="")
    page.goto(f"{base}/dags/collect/runs/{run_id}/tasks/collect_drop_zone")
    # The PM's line, as collect writes it: "collect <batch>: seen 4, registered 4 (accepted 2), ...".
    summary = page.get_by_text("seen 4, registered 4 (accepted 2)")
    summary.wait_for(timeout=60_000)
    text = summary.first.inner_text()
    assert f"collect collect__{run['dag_run_id']}" in text, text
    assert "duplicates 1" in text and "quarantined 1 (zero_byte 1)" in text, text
