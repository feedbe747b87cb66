-- train-handoff (학습) and the PM's reports: release builds with their split plan and leak check, and the views
-- the PM and the data engineer query ad hoc (`python -m trainset report export VIEW --out FILE`).

-- A release in the making and after: the split plan is recorded before any file is written, so a retry
-- rebuilds the same files and the leak check is auditable even if the build fails.
CREATE TABLE IF NOT EXISTS release_builds (
    release_name   text PRIMARY KEY,
    version        text NOT NULL,
    status         text NOT NULL DEFAULT 'planned',   -- planned | published | failed
    run_id         text,
    seed           bigint NOT NULL,
    params         jsonb NOT NULL DEFAULT '{}'::jsonb,  -- ratios, formats, grouping rule
    leak_check     jsonb NOT NULL DEFAULT '{}'::jsonb,  -- {"passed": bool, "groups_in_two_splits": [...], ...}
    counts         jsonb NOT NULL DEFAULT '{}'::jsonb,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz
);

CREATE TABLE IF NOT EXISTS release_plan_items (
    release_name   text NOT NULL REFERENCES release_builds(release_name),
    item_key       text NOT NULL,
    image_id       bigint,
    class_name     text,
    split          text NOT NULL,
    group_key      text NOT NULL,                     -- capture session / near-duplicate group it moved with
    PRIMARY KEY (release_name, item_key)
);
CREATE INDEX IF NOT EXISTS release_plan_items_group_idx ON release_plan_items (release_name, group_key);

-- Daily reports sent (one row per report day; the file and the key numbers the e-mail carried).
CREATE TABLE IF NOT EXISTS daily_reports (
    report_day     date PRIMARY KEY,
    file_uris      text[] NOT NULL DEFAULT '{}',
    key_numbers    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Progress per day, class, stage and worker: what the PM's daily table is built from.
-- Stages: collect, refine, labeling, first_inspection, inspection, release. "worker_id" is '-' where no
-- person is involved; passed/failed mean what the stage means (labeling: uploaded / still missing).
CREATE OR REPLACE VIEW report_progress AS
WITH collect AS (
    SELECT received_at::date AS day, 'collect'::text AS stage, coalesce(class_name, '-') AS class_name,
           '-'::text AS worker_id, count(*) AS items,
           count(*) FILTER (WHERE status NOT IN ('quarantined', 'duplicate', 'rejected')) AS passed,
           count(*) FILTER (WHERE status IN ('quarantined', 'duplicate', 'rejected')) AS failed
    FROM images GROUP BY 1, 3
), refine AS (
    SELECT updated_at::date AS day, 'refine'::text, coalesce(class_name, '-'), '-'::text,
           count(*) FILTER (WHERE dataset_name IS NOT NULL OR stage <> 'collect'),
           count(*) FILTER (WHERE dataset_name IS NOT NULL),
           count(*) FILTER (WHERE dataset_name IS NULL AND stage <> 'collect')
    FROM images WHERE stage <> 'collect' OR dataset_name IS NOT NULL GROUP BY 1, 3
), labeling AS (
    SELECT a.work_date, 'labeling'::text, coalesce(i.class_name, '-'), a.worker_id, count(*),
           count(*) FILTER (WHERE a.status <> 'assigned'), count(*) FILTER (WHERE a.status = 'assigned')
    FROM assignments a JOIN images i USING (image_id) GROUP BY 1, 3, 4
), inspected AS (
    SELECT n.inspected_on, CASE WHEN n.round = 'server' THEN 'inspection' ELSE 'first_inspection' END,
           coalesce(i.class_name, '-'), coalesce(an.worker_id, '-'), count(*),
           count(*) FILTER (WHERE n.verdict = 'pass'), count(*) FILTER (WHERE n.verdict = 'fail')
    FROM inspections n
    LEFT JOIN annotations an ON an.annotation_id = n.annotation_id
    LEFT JOIN images i ON i.image_id = an.image_id
    GROUP BY 1, 2, 3, 4
), released AS (
    SELECT r.created_at::date, 'release'::text, coalesce(p.class_name, '-'), '-'::text, count(*), count(*), 0::bigint
    FROM release_items ri JOIN releases r USING (release_name)
    LEFT JOIN release_plan_items p ON p.release_name = ri.release_name AND p.item_key = ri.item_key
    GROUP BY 1, 3
)
SELECT day, stage, class_name, worker_id, items, passed, failed,
       CASE WHEN passed + failed > 0 THEN round(passed::numeric / (passed + failed), 4) END AS pass_rate
FROM (SELECT * FROM collect UNION ALL SELECT * FROM refine UNION ALL SELECT * FROM labeling
      UNION ALL SELECT * FROM inspected UNION ALL SELECT * FROM released) AS s
ORDER BY day, stage, class_name, worker_id;

-- Where each class stands along the pipeline (current state, not per day).
CREATE OR REPLACE VIEW v_progress_per_class AS
WITH latest_server AS (
    SELECT DISTINCT ON (item_key) item_key, verdict FROM inspections WHERE round = 'server'
    ORDER BY item_key, inspected_on DESC, recorded_at DESC
), latest_annotation AS (
    SELECT DISTINCT ON (item_key) item_key, image_id, status FROM annotations
    ORDER BY item_key, received_at DESC, annotation_id DESC
)
SELECT i.class_name,
       count(*) AS collected,
       count(*) FILTER (WHERE i.status NOT IN ('quarantined', 'duplicate', 'rejected')) AS accepted,
       count(*) FILTER (WHERE i.dataset_name IS NOT NULL) AS refined,
       count(la.item_key) AS annotated,
       count(la.item_key) FILTER (WHERE la.status IN ('passed', 'repaired')) AS first_inspection_passed,
       count(ls.item_key) FILTER (WHERE ls.verdict = 'pass') AS inspection_passed,
       count(ls.item_key) FILTER (WHERE ls.verdict = 'fail') AS inspection_failed,
       (SELECT count(DISTINCT ri.item_key) FROM release_items ri
          JOIN release_plan_items p USING (release_name, item_key) WHERE p.class_name = i.class_name) AS released
FROM images i
LEFT JOIN latest_annotation la ON la.image_id = i.image_id
LEFT JOIN latest_server ls ON ls.item_key = la.item_key
WHERE i.class_name IS NOT NULL
GROUP BY i.class_name
ORDER BY i.class_name;

-- Every rejection with its reason, per day and stage: quarantined files, failed inspections (automatic and
-- human; the server's verdicts carry a reason category when they carry no code).
CREATE OR REPLACE VIEW v_rejection_reasons_per_day AS
SELECT day, stage, reason_code, count(*) AS rejections
FROM (
    SELECT created_at::date AS day, stage, reason_code FROM quarantine
    UNION ALL
    SELECT n.inspected_on, CASE WHEN n.round = 'server' THEN 'inspection' ELSE 'first_inspection' END,
           rc
    FROM inspections n
    CROSS JOIN LATERAL unnest(CASE WHEN cardinality(n.reason_codes) > 0 THEN n.reason_codes
                                   ELSE ARRAY[coalesce(n.reason_category, 'unspecified')] END) AS rc
    WHERE n.verdict = 'fail'
) AS r
GROUP BY day, stage, reason_code
ORDER BY day, stage, rejections DESC, reason_code;

-- Per worker and day: assigned, uploaded, inspected and how often their work failed.
CREATE OR REPLACE VIEW v_worker_throughput AS
WITH assigned AS (
    SELECT worker_id, work_date AS day, count(*) AS assigned,
           count(*) FILTER (WHERE status <> 'assigned') AS uploaded
    FROM assignments GROUP BY 1, 2
), inspected AS (
    SELECT an.worker_id, n.inspected_on AS day,
           count(*) FILTER (WHERE n.round IN ('first', 'second')) AS first_inspected,
           count(*) FILTER (WHERE n.round IN ('first', 'second') AND n.verdict = 'fail') AS first_failed,
           count(*) FILTER (WHERE n.round = 'server') AS server_inspected,
           count(*) FILTER (WHERE n.round = 'server' AND n.verdict = 'fail') AS server_failed
    FROM inspections n JOIN annotations an ON an.annotation_id = n.annotation_id
    WHERE an.worker_id IS NOT NULL GROUP BY 1, 2
)
SELECT coalesce(a.worker_id, n.worker_id) AS worker_id, coalesce(a.day, n.day) AS day,
       coalesce(a.assigned, 0) AS assigned, coalesce(a.uploaded, 0) AS uploaded,
       coalesce(n.first_inspected, 0) AS first_inspected, coalesce(n.first_failed, 0) AS first_failed,
       CASE WHEN n.first_inspected > 0 THEN round(n.first_failed::numeric / n.first_inspected, 4) END
           AS first_failure_rate,
       coalesce(n.server_inspected, 0) AS server_inspected, coalesce(n.server_failed, 0) AS server_failed,
       CASE WHEN n.server_inspected > 0 THEN round(n.server_failed::numeric / n.server_inspected, 4) END
           AS server_failure_rate
FROM assigned a FULL OUTER JOIN inspected n ON n.worker_id = a.worker_id AND n.day = a.day
ORDER BY day, worker_id;

-- Releases with their split sizes (one row per release and split).
CREATE OR REPLACE VIEW v_release_splits AS
SELECT r.release_name, r.version, r.created_at, p.split, count(*) AS items,
       count(DISTINCT p.class_name) AS classes, count(DISTINCT p.group_key) AS groups
FROM releases r JOIN release_plan_items p USING (release_name)
GROUP BY r.release_name, r.version, r.created_at, p.split
ORDER BY r.created_at, p.split;
