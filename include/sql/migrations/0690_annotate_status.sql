-- annotations.status is pending, failed, passed, or a quality set-aside status (gt_scored, consensus_replica,
-- consensus_disputed); 'repaired' was never written (a repaired label that passes the second inspection is
-- 'passed', its repair is in annotation_repairs).  The per-class progress no longer reads it.
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
       count(la.item_key) FILTER (WHERE la.status = 'passed') AS first_inspection_passed,
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
