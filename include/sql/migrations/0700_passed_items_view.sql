-- One definition of "an item that passed inspection" (was written twice: this view and train-handoff's query).
-- The item's latest server verdict is pass, with the accepted annotation that verdict was about (or, for a
-- verdict without one, the item's newest accepted annotation) and its image, which must have bytes somewhere.
-- train.items.load_passed_items and the inspection_passed event's total both read this view.
DROP VIEW IF EXISTS inspection_passed_items;
CREATE VIEW inspection_passed_items AS
WITH latest_server AS (
    SELECT DISTINCT ON (item_key) item_key, annotation_id, verdict, inspected_on, inspector
    FROM inspections WHERE round = 'server'
    ORDER BY item_key, inspected_on DESC, recorded_at DESC, inspection_id DESC
)
SELECT ls.item_key, ls.inspected_on, ls.inspector, a.annotation_id, a.image_id, a.payload, a.worker_id,
       i.class_name, i.dataset_name, i.location, i.width, i.height, i.sha256 AS image_sha256, i.capture_time
FROM latest_server ls
JOIN LATERAL (
    SELECT * FROM annotations a
    WHERE a.item_key = ls.item_key AND a.status = 'passed' AND a.image_id IS NOT NULL
      AND (ls.annotation_id IS NULL OR a.annotation_id = ls.annotation_id)
    ORDER BY a.received_at DESC, a.annotation_id DESC LIMIT 1
) a ON true
JOIN images i ON i.image_id = a.image_id
WHERE ls.verdict = 'pass' AND i.location IS NOT NULL;
