"""The manifest of one transfer run: CSV + JSON (item, object key, size, sha256, time) into the bucket and the DB."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from trainset import db
from trainset.inspection.server import InspectionServer, ServerObject, hash_file, part_size

if TYPE_CHECKING:
    from trainset.inspection.transfer import TransferResult


MANIFEST_COLUMNS = ("item_key", "kind", "object_key", "size_bytes", "sha256", "transferred_at")


def _safe_name(batch_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", batch_id).strip("_")


def manifest_rows(conn, server: InspectionServer, batch_id: str) -> list[dict]:
    strip = len(f"s3://{server.bucket}/") + (len(server.prefix) + 1 if server.prefix else 0)
    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, """
            SELECT item_key, kind, object_uri, size_bytes, sha256, transferred_at FROM transfers
            WHERE batch_id = %s AND kind IN ('image', 'label') AND status = 'verified'
            ORDER BY item_key, kind""", (batch_id,))
    return [{"item_key": r["item_key"], "kind": r["kind"], "object_key": r["object_uri"][strip:],
             "size_bytes": r["size_bytes"], "sha256": r["sha256"].strip(),
             "transferred_at": r["transferred_at"].astimezone(dt.UTC).isoformat(timespec="seconds")}
            for r in rows]


def write_manifest(conn, server: InspectionServer, batch_id: str, tmp: Path, result: TransferResult) -> None:
    rows = manifest_rows(conn, server, batch_id)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_bytes = buf.getvalue().encode("utf-8")
    items = sorted({r["item_key"] for r in rows})
    json_bytes = (json.dumps({"batch_id": batch_id, "server": server.uri, "items": len(items),
                              "objects": rows}, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    name = _safe_name(batch_id)
    written = []
    for ext, data in (("csv", csv_bytes), ("json", json_bytes)):
        path = tmp / f"manifest.{ext}"
        path.write_bytes(data)
        sha, size, parts = hash_file(path, part_size(server.settings, len(data)))
        obj = ServerObject(item_key=batch_id, kind="manifest", key=f"{server.settings.manifest_prefix}/{name}.{ext}",
                           path=path, size=size, sha256=sha, part_digests=parts)
        if server.check(obj) is not None:
            obj.attempts = server.send(obj)
        written.append(obj)
    with conn.cursor() as cur:
        db.execute_batch(cur, """
            INSERT INTO transfers (item_key, kind, object_uri, size_bytes, sha256, status, attempts, batch_id)
            VALUES %s ON CONFLICT (item_key, kind, sha256) DO NOTHING""",
            [(o.item_key, "manifest", server.object_uri(o.key), o.size, o.sha256, "verified", max(o.attempts, 1),
              batch_id) for o in written])
        counts = result.counts
        cur.execute("""
            INSERT INTO transfer_manifests (batch_id, csv_uri, json_uri, csv_sha256, item_count, object_count, counts)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (batch_id) DO UPDATE SET csv_uri = EXCLUDED.csv_uri, json_uri = EXCLUDED.json_uri,
                csv_sha256 = EXCLUDED.csv_sha256, item_count = EXCLUDED.item_count,
                object_count = EXCLUDED.object_count, counts = EXCLUDED.counts, written_at = now()""",
            (batch_id, server.object_uri(written[0].key), server.object_uri(written[1].key), written[0].sha256,
             len(items), len(rows), json.dumps(counts)))
        cur.execute("DELETE FROM transfer_manifest_items WHERE batch_id = %s", (batch_id,))
        db.execute_batch(cur, """
            INSERT INTO transfer_manifest_items (batch_id, item_key, kind, object_key, size_bytes, sha256,
                                                 transferred_at) VALUES %s""",
            [(batch_id, r["item_key"], r["kind"], r["object_key"], r["size_bytes"], r["sha256"], r["transferred_at"])
             for r in rows])
    conn.commit()  # the manifest objects are in the bucket: their records must outlive a later failure
    result.manifest_csv_uri = server.object_uri(written[0].key)
    result.manifest_json_uri = server.object_uri(written[1].key)
