-- The PM's figures: one definition each. Every surface (task-log summary lines, the `make demo` summary, the data
-- card, the daily report CSV/XLSX and e-mail) reads them through trainset.figures or through the export views
-- below, which are rebuilt on these; no other query counts them. README "Figures" lists them.

-- A rate: numerator / denominator, 4 decimals; NULL (shown "n/a") when the denominator is 0. Never 0, never 1.
CREATE OR REPLACE FUNCTION fig_rate(numerator numeric, denominator numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN denominator > 0 THEN round(numerator / denominator, 4) END
$$;

-- First inspection (1차 검수), per work date, worker and class. Unit: an item uploaded for the work date (an item
-- uploaded twice the same day counts once, by its last upload). Counted once, by annotate-intake's
-- publish_results, into labeling_daily_results (rebuilt whole for a work date on every run).
--   assigned   items assigned for the work date
--   uploaded   assigned items with a label file by the due time
--   missing    assigned items without one (reason no_label; NOT inspected)
--   inspected  uploaded items judged by the first inspection
--   syntax_ok  inspected items without a syntax-family reason (SYNTAX_REASONS: encoding, JSON, schema, YOLO lines)
--   passed     inspected items whose final verdict of the day is pass (an automatic repair and second
--              inspection included); repaired = those of them that passed only after a repair
--   failed     inspected - passed
-- 구문 정확성 (syntax accuracy)      = fig_rate(syntax_ok, inspected)
-- first-inspection pass rate          = fig_rate(passed, inspected)
-- Scope: one work date, or the sum over work dates ("all time").
CREATE OR REPLACE VIEW fig_first_inspection AS
SELECT work_date, worker_id, class_name, assigned, uploaded, missing, inspected, syntax_ok, passed, repaired, failed
FROM labeling_daily_results;

-- Counts per reason of the first inspection, per work date, worker and class: ITEMS per reason (an item with
-- several reasons counts once under each, so the counts may add up to more than the failed items).
-- missing = true: the reason is no_label, given to assigned items nobody uploaded (counted in "missing", not in
-- "failed").
CREATE OR REPLACE VIEW fig_first_inspection_reasons AS
SELECT work_date, worker_id, class_name, reason_code, items, reason_code = 'no_label' AS missing
FROM labeling_daily_reasons;

-- Inspection (검수) by the inspection server, per verdict day, worker and class. Unit: a server verdict, i.e. an
-- item judged on a day (at most one per item and day: the inspections natural key); an item failed, reworked and
-- judged again counts once per judgement.
--   inspected  verdicts recorded that day; passed / failed: by verdict
-- inspection pass rate = fig_rate(passed, inspected). Scope: one verdict day, or the sum over days ("all time").
CREATE OR REPLACE VIEW fig_server_inspection AS
SELECT n.inspected_on AS day, coalesce(an.worker_id, '-') AS worker_id,
       coalesce(i.class_name, an.class_name, '-') AS class_name,
       count(*) AS inspected,
       count(*) FILTER (WHERE n.verdict = 'pass') AS passed,
       count(*) FILTER (WHERE n.verdict = 'fail') AS failed
FROM inspections n
LEFT JOIN annotations an ON an.annotation_id = n.annotation_id
LEFT JOIN images i ON i.image_id = an.image_id
WHERE n.round = 'server'
GROUP BY 1, 2, 3;

-- Counts per reason of the server's failed verdicts: verdicts per reason code (a verdict without codes counts
-- under its reason category), per verdict day, worker, class and category.
CREATE OR REPLACE VIEW fig_server_inspection_reasons AS
SELECT n.inspected_on AS day, coalesce(an.worker_id, '-') AS worker_id,
       coalesce(i.class_name, an.class_name, '-') AS class_name,
       coalesce(n.reason_category, 'unspecified') AS reason_category, rc AS reason_code, count(*) AS items
FROM inspections n
LEFT JOIN annotations an ON an.annotation_id = n.annotation_id
LEFT JOIN images i ON i.image_id = an.image_id
CROSS JOIN LATERAL unnest(CASE WHEN cardinality(n.reason_codes) > 0 THEN n.reason_codes
                               ELSE ARRAY[coalesce(n.reason_category, 'unspecified')] END) AS rc
WHERE n.round = 'server' AND n.verdict = 'fail'
GROUP BY 1, 2, 3, 4, 5;

-- The older per-day view keeps its columns, now read from the one definition.
CREATE OR REPLACE VIEW labeling_syntax_accuracy AS
SELECT work_date, sum(inspected)::integer AS inspected, sum(syntax_ok)::integer AS syntax_ok,
       sum(passed)::integer AS passed, sum(failed)::integer AS failed,
       fig_rate(sum(syntax_ok), sum(inspected)) AS syntax_accuracy
FROM fig_first_inspection
GROUP BY work_date;

-- The export views, rebuilt on the figures: the first inspection by work date (was: every inspections row of
-- rounds first and second by day, which counted a repaired item twice and a missing upload as inspected).
CREATE OR REPLACE VIEW report_progress AS
WITH collect AS (
    SELECT received_at::date AS day, 'collect'::text AS stage, coalesce(class_name, '-') AS class_name,
           '-'::text AS worker_id, count(*) AS items,
           count(*) FILTER (WHERE status NOT IN ('quarantined', 'duplicate', 'rejected')) AS passed,
           count(*) FILTER (WHERE status IN ('quarantined', 'duplicate', 'rejected')) AS failed
    FROM images GROUP BY 1, 3
), refine AS (
    SELECT coalesce(m.judged_at, m.measured_at)::date, 'refine'::text, coalesce(i.class_name, '-'), '-'::text,
           count(*), count(*) FILTER (WHERE m.verdict = 'passed'), count(*) FILTER (WHERE m.verdict = 'rejected')
    FROM refine_measurements m JOIN images i USING (image_id)
    WHERE m.verdict IS NOT NULL GROUP BY 1, 3
), labeling AS (
    SELECT work_date, 'labeling'::text, class_name, worker_id, sum(assigned)::bigint, sum(uploaded)::bigint,
           sum(missing)::bigint
    FROM fig_first_inspection GROUP BY 1, 3, 4
), first_inspected AS (
    SELECT work_date, 'first_inspection'::text, class_name, worker_id, sum(inspected)::bigint,
           sum(passed)::bigint, sum(failed)::bigint
    FROM fig_first_inspection GROUP BY 1, 3, 4 HAVING sum(inspected) > 0
), inspected AS (
    SELECT day, 'inspection'::text, class_name, worker_id, inspected, passed, failed FROM fig_server_inspection
), released AS (
    SELECT r.created_at::date, 'release'::text, coalesce(p.class_name, '-'), '-'::text, count(*), count(*), 0::bigint
    FROM release_items ri JOIN releases r USING (release_name)
    LEFT JOIN release_plan_items p ON p.release_name = ri.release_name AND p.item_key = ri.item_key
    GROUP BY 1, 3
)
SELECT day, stage, class_name, worker_id, items, passed, failed, fig_rate(passed, passed + failed) AS pass_rate
FROM (SELECT * FROM collect UNION ALL SELECT * FROM refine UNION ALL SELECT * FROM labeling
      UNION ALL SELECT * FROM first_inspected UNION ALL SELECT * FROM inspected UNION ALL SELECT * FROM released) AS s
ORDER BY day, stage, class_name, worker_id;

-- Per worker and day (first inspection: the work date; server: the verdict day), from the figures.
CREATE OR REPLACE VIEW v_worker_throughput AS
WITH firsts AS (
    SELECT worker_id, work_date AS day, sum(assigned)::bigint AS assigned, sum(uploaded)::bigint AS uploaded,
           sum(inspected)::bigint AS first_inspected, sum(failed)::bigint AS first_failed
    FROM fig_first_inspection GROUP BY 1, 2
), servers AS (
    SELECT worker_id, day, sum(inspected)::bigint AS server_inspected, sum(failed)::bigint AS server_failed
    FROM fig_server_inspection WHERE worker_id <> '-' GROUP BY 1, 2
)
SELECT coalesce(a.worker_id, n.worker_id) AS worker_id, coalesce(a.day, n.day) AS day,
       coalesce(a.assigned, 0) AS assigned, coalesce(a.uploaded, 0) AS uploaded,
       coalesce(a.first_inspected, 0) AS first_inspected, coalesce(a.first_failed, 0) AS first_failed,
       fig_rate(a.first_failed, a.first_inspected) AS first_failure_rate,
       coalesce(n.server_inspected, 0) AS server_inspected, coalesce(n.server_failed, 0) AS server_failed,
       fig_rate(n.server_failed, n.server_inspected) AS server_failure_rate
FROM firsts a FULL OUTER JOIN servers n ON n.worker_id = a.worker_id AND n.day = a.day
ORDER BY day, worker_id;

-- Rejections per day, stage and reason: quarantined files by their day; the first inspection's reasons by work
-- date (items per reason, from the figures; a repaired item that passed is not a rejection); the server's by
-- verdict day.
CREATE OR REPLACE VIEW v_rejection_reasons_per_day AS
SELECT day, stage, reason_code, sum(n)::bigint AS rejections
FROM (
    SELECT created_at::date AS day, stage, reason_code, 1 AS n FROM quarantine WHERE stage <> 'annotate'
    UNION ALL
    SELECT work_date, 'first_inspection', reason_code, items FROM fig_first_inspection_reasons
    UNION ALL
    SELECT day, 'inspection', reason_code, items FROM fig_server_inspection_reasons
) AS r
GROUP BY day, stage, reason_code
ORDER BY day, stage, rejections DESC, reason_code;

-- Where each class stands (current state). "accepted" was every image not quarantined, duplicate or rejected,
-- i.e. after refine the refined ones plus those still waiting: named for what each count is now.
DROP VIEW IF EXISTS v_progress_per_class;
CREATE VIEW v_progress_per_class AS
WITH latest_server AS (
    SELECT DISTINCT ON (item_key) item_key, verdict FROM inspections WHERE round = 'server'
    ORDER BY item_key, inspected_on DESC, recorded_at DESC
), latest_annotation AS (
    SELECT DISTINCT ON (item_key) item_key, image_id, status FROM annotations
    ORDER BY item_key, received_at DESC, annotation_id DESC
)
SELECT i.class_name,
       count(*) AS collected,
       count(*) FILTER (WHERE i.status NOT IN ('quarantined', 'duplicate')) AS collect_accepted,
       count(*) FILTER (WHERE i.status = 'raw') AS awaiting_refine,
       count(*) FILTER (WHERE i.status = 'rejected') AS refine_rejected,
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
