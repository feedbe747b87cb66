"""The Great Expectations gate over the inspection stage's own records (suites ``inspection_transfers`` and
``inspection_verdicts`` in ``include/expectations``): every passed item is on the server exactly once, the
manifest's checksums match what was verified, and every verdict's reason is in the known set."""

from __future__ import annotations

import json

from trainset.config import ProjectConfig

# One row per item of the passed list: how many verified objects of each kind, and whether the manifests agree.
TRANSFER_CHECK_SQL = """
WITH passed AS (
    SELECT DISTINCT a.item_key FROM annotations a
    WHERE a.status = 'passed'
      AND EXISTS (SELECT 1 FROM inspections x WHERE x.item_key = a.item_key
                  AND x.round IN ('first', 'second') AND x.verdict = 'pass')
)
SELECT p.item_key,
       (SELECT count(*) FROM transfers t WHERE t.item_key = p.item_key AND t.kind = 'image'
                                          AND t.status = 'verified') AS image_objects,
       (SELECT count(*) FROM transfers t WHERE t.item_key = p.item_key AND t.kind = 'label'
                                          AND t.status = 'verified') AS label_objects,
       NOT EXISTS (SELECT 1 FROM transfer_manifest_items m
                   WHERE m.item_key = p.item_key
                     AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.item_key = m.item_key AND t.kind = m.kind
                                     AND t.sha256 = m.sha256 AND t.status IN ('verified', 'superseded')
                                     AND right(t.object_uri, length(m.object_key) + 1) = '/' || m.object_key)) AS manifest_checksums_match
FROM passed p ORDER BY p.item_key
"""

# One row per server verdict and reason code (a verdict without codes gives one row with a null code).
VERDICT_CHECK_SQL = """
SELECT x.inspection_id::text || ':' || coalesce(c.code, '') AS row_id, x.item_key, x.verdict, x.reason_category,
       c.code AS reason_code,
       (x.verdict = 'pass' AND x.reason_category IS NULL) OR (x.verdict = 'fail' AND x.reason_category IS NOT NULL)
           AS category_consistent
FROM inspections x
LEFT JOIN LATERAL unnest(CASE WHEN cardinality(x.reason_codes) = 0 THEN ARRAY[NULL]::text[]
                              ELSE x.reason_codes END) AS c(code) ON true
WHERE x.round = 'server'
ORDER BY x.inspection_id, c.code
"""


def verdict_suite_parameters(config: ProjectConfig) -> dict:
    s = config.inspection
    return {"verdict_categories": list(s.verdict_categories),
            "verdict_reason_codes": sorted({c for codes in s.verdict_reason_codes.values() for c in codes})}


def record_check(conn, outcome, *, run_id: str, batch_id: str | None = None) -> dict:
    """Keep the check's verdict with the run's batch (what the PM reads next to the transfer counts)."""
    failures = {str(k): v for k, v in outcome.failures.items()}
    by_reason: dict[str, int] = {}
    for codes in failures.values():
        for code in codes:
            by_reason[code] = by_reason.get(code, 0) + 1
    summary = {"evaluated": outcome.evaluated, "success": outcome.success, "failed_rows": len(failures),
               "by_reason": by_reason, "examples": dict(list(failures.items())[:20])}
    if batch_id:
        with conn.cursor() as cur:
            cur.execute("""INSERT INTO batches (batch_id, stage, run_id, finished_at, counts)
                           VALUES (%s, 'inspection_check', %s, now(), %s)
                           ON CONFLICT (batch_id) DO UPDATE SET finished_at = now(), counts = EXCLUDED.counts""",
                        (batch_id, run_id, json.dumps(summary)))
    return summary
