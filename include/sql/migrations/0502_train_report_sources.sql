-- The PM's progress views read each stage from its own record: refine from its judged measurements, labeling
-- from annotate-intake's daily results (uploaded / missing per worker and class), not from status guesses.
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
    FROM labeling_daily_results GROUP BY 1, 3, 4
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

CREATE OR REPLACE VIEW v_worker_throughput AS
WITH assigned AS (
    SELECT worker_id, work_date AS day, sum(assigned)::bigint AS assigned, sum(uploaded)::bigint AS uploaded
    FROM labeling_daily_results GROUP BY 1, 2
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
