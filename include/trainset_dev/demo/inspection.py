"""The demo's inspection server side: a simulated inspector, and the PM's summary lines for the stage.

``simulate_inspector`` plays the people at the inspection server: it reads what was sent (verified label
transfers without a server verdict yet), decides a verdict per item deterministically from the item key (most
pass; some fail for annotation, refinement or image reasons, with Korean comments), adds one malformed row (an
item the server never received) so the demo shows a rejected verdict, and publishes the day's CSV under
``<inspection server>/<inspection.verdict_prefix>/<day>.csv`` for the next inspection run to ingest.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os

from trainset import db
from trainset.config import ProjectConfig
from trainset.storage import open_storage

DEMO_VERDICT_DAY = dt.date(2026, 3, 17)  # the day after annotate's demo work date

# (share of items, verdict, category, code, comment); shares add up to 1.
PLAYBOOK = [
    (0.62, "pass", "", "", ""),
    (0.10, "fail", "annotation", "box_loose", "박스가 객체보다 너무 큽니다 (box too loose)"),
    (0.08, "fail", "annotation", "wrong_class", "클래스가 잘못 지정되었습니다 (wrong class)"),
    (0.05, "fail", "annotation", "polygon_inaccurate", "폴리곤 경계가 부정확합니다"),
    (0.08, "fail", "image", "blurred", "이미지가 흐립니다 (blurred)"),
    (0.07, "fail", "refinement", "not_deidentified", "비식별화 누락 (face visible)"),
]
INSPECTORS = ("insp_kim", "insp_lee", "insp_park")


def _pick(item_key: str) -> tuple[str, str, str, str]:
    u = int(hashlib.sha256(f"inspector:{item_key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    acc = 0.0
    for share, verdict, category, code, comment in PLAYBOOK:
        acc += share
        if u < acc:
            return verdict, category, code, comment
    return PLAYBOOK[0][1:]  # type: ignore[return-value]


def simulate_inspector(conn, config: ProjectConfig, s3_client, day: dt.date, *, server_uri: str | None = None,
                       malformed: bool = True) -> dict:
    """Publish verdicts for every item on the server that has none yet; returns counts by verdict/reason."""
    with conn.cursor() as cur:
        items = [r["item_key"] for r in db.fetch_dicts(cur, """
            SELECT DISTINCT t.item_key FROM transfers t
            WHERE t.kind = 'label' AND t.status = 'verified'
              AND NOT EXISTS (SELECT 1 FROM inspections x WHERE x.item_key = t.item_key AND x.round = 'server')
            ORDER BY t.item_key""")]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["item_key", "verdict", "reason_category", "reason_code", "comment", "inspector", "inspected_on"])
    counts: dict[str, int] = {}
    for n, key in enumerate(items):
        verdict, category, code, comment = _pick(key)
        writer.writerow([key, verdict, category, code, comment, INSPECTORS[n % len(INSPECTORS)], day.isoformat()])
        label = verdict if verdict == "pass" else f"fail:{category}:{code}"
        counts[label] = counts.get(label, 0) + 1
    if malformed and items:
        writer.writerow([f"{items[0]}_never_sent", "pass", "", "", "typo in the item key", INSPECTORS[0],
                         day.isoformat()])
        counts["malformed"] = 1
    server = open_storage(f"{(server_uri or config.storage.inspection_server)}/{config.inspection.verdict_prefix}",
                          s3_client)
    if items:
        server.write_bytes(f"{day.isoformat()}.csv", buf.getvalue().encode("utf-8"))
    return {"items": len(items), **counts}


def _this_run(cur, run_id: str | None) -> list[str]:
    if run_id is None:
        return []
    cur.execute("SELECT counts FROM batches WHERE stage = 'inspection' AND run_id = %s", (run_id,))
    runs = [r[0] or {} for r in cur.fetchall()]
    actions: dict[str, int] = {}
    for c in runs:
        for k, v in c.items():
            if k not in ("items", "bytes_sent", "failed"):
                actions[k] = actions.get(k, 0) + v
    items = sum(c.get("items", 0) for c in runs)
    return [f"inspection this run: {items} items checked against the inspection server (objects: "
            + (", ".join(f"{k} {v}" for k, v in sorted(actions.items())) or "nothing to send") + ")"]


def demo_summary(conn, *, run_id: str | None = None) -> list[str]:
    """What the PM reads about the inspection stage: this run's transfer, then the totals (labelled all time);
    the verdict figures come from their one definition (trainset.figures)."""
    from trainset import figures

    server = figures.server_inspection(conn, figures.Scope.all_time())
    with conn.cursor() as cur:
        this_run = _this_run(cur, run_id)
        t = db.fetch_dicts(cur, """
            SELECT count(DISTINCT item_key) FILTER (WHERE kind = 'image') AS items,
                   count(*) FILTER (WHERE kind IN ('image', 'label')) AS objects,
                   coalesce(sum(size_bytes) FILTER (WHERE kind IN ('image', 'label')), 0) AS bytes,
                   count(*) FILTER (WHERE kind = 'manifest') AS manifests,
                   coalesce(sum(attempts - 1) FILTER (WHERE kind IN ('image', 'label')), 0) AS retries
            FROM transfers WHERE status = 'verified'""")[0]
        rejected = db.fetch_dicts(cur, """SELECT reason_code, count(*) AS n FROM quarantine
                                          WHERE entity_kind = 'verdict' GROUP BY 1 ORDER BY 1""")
        notices = db.fetch_dicts(cur, """SELECT status, count(*) AS n, count(DISTINCT recipient) AS recipients
                                         FROM notifications WHERE dedupe_key LIKE 'inspection_rework:%%'
                                         GROUP BY 1 ORDER BY 1""")
        routed = db.fetch_dicts(cur, "SELECT routed_to, count(*) AS n FROM inspection_rework GROUP BY 1 ORDER BY 1")
        fixes = db.fetch_dicts(cur, "SELECT count(*) AS n, count(*) FILTER (WHERE revalidated) AS ok "
                                    "FROM annotation_fixes")[0]
    lines = [*this_run,
             f"inspection all time: {t['items']} items on the inspection server ({t['objects']} objects, "
             f"{t['bytes'] / 1024 / 1024:.1f} MiB, {t['manifests']} manifest files, {t['retries']} retried uploads)",
             f"inspection: {figures.server_inspection_line(server)}"]
    lines += [f"  failed ({category}, verdicts per reason): {figures.reasons_text(codes)}"
              for category, codes in sorted(server.reasons.items())]
    if rejected:
        lines.append("  verdict rows rejected: " + ", ".join(f"{r['reason_code']} {r['n']}" for r in rejected))
    if routed:
        lines.append("  routed: " + ", ".join(f"to {r['routed_to']} {r['n']}" for r in routed))
    lines.append("inspection: rework notices: " + (", ".join(
        f"{r['status']} {r['n']} (to {r['recipients']} recipient(s))" for r in notices) or "none"))
    if fixes["n"]:
        lines.append(f"inspection: bulk fixes: {fixes['n']} file(s) changed, {fixes['ok']} re-validated clean")
    return lines


def _s3_client_from_env(var: str = "AIRFLOW_CONN_AWS_DEFAULT"):
    """A boto3 client for the AWS connection the demo exported (JSON form), without importing Airflow."""
    import boto3

    raw = os.environ.get(var)
    conn = json.loads(raw) if raw and raw.lstrip().startswith("{") else {}
    extra = conn.get("extra") or {}
    return boto3.client("s3", endpoint_url=extra.get("endpoint_url"), region_name=extra.get("region_name"),
                        aws_access_key_id=conn.get("login"), aws_secret_access_key=conn.get("password"))


def demo_prepare(conn, config: ProjectConfig, day: dt.date = DEMO_VERDICT_DAY) -> dict:
    """Between the demo's two inspection runs: the inspectors publish their verdicts for what was sent."""
    return simulate_inspector(conn, config, _s3_client_from_env(), day)


def transfer_summary(conn, *, run_id: str | None = None) -> list[str]:
    """The transfer lines of the stage's summary (for the demo's first inspection run, before any verdict)."""
    lines = demo_summary(conn, run_id=run_id)
    return lines[:2] if run_id is not None else lines[:1]
