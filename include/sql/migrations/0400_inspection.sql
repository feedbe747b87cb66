-- inspection stage (검수): transfer manifests, verdict files, the rework queue from the server, bulk-fix audit.

-- One manifest per transfer batch (run): where its CSV/JSON went in the bucket and what it counted.
CREATE TABLE IF NOT EXISTS transfer_manifests (
    batch_id       text PRIMARY KEY,
    csv_uri        text NOT NULL,
    json_uri       text NOT NULL,
    csv_sha256     char(64) NOT NULL,
    item_count     integer NOT NULL,
    object_count   integer NOT NULL,
    counts         jsonb NOT NULL DEFAULT '{}'::jsonb,
    written_at     timestamptz NOT NULL DEFAULT now()
);

-- The manifest's rows in the DB: every object of every item of the batch, as verified on the server.
CREATE TABLE IF NOT EXISTS transfer_manifest_items (
    batch_id       text NOT NULL REFERENCES transfer_manifests(batch_id) ON DELETE CASCADE,
    item_key       text NOT NULL,
    kind           text NOT NULL,                  -- image | label
    object_key     text NOT NULL,
    size_bytes     bigint NOT NULL,
    sha256         char(64) NOT NULL,
    transferred_at timestamptz NOT NULL,
    PRIMARY KEY (batch_id, item_key, kind)
);

-- transfers.object_uri is per content hash; this index answers "what is on the server for this item" fast.
CREATE INDEX IF NOT EXISTS transfers_item_idx ON transfers (item_key, kind, status);

-- Verdict files published by the inspection server, ingested once per content.
CREATE TABLE IF NOT EXISTS verdict_files (
    uri            text NOT NULL,
    sha256         char(64) NOT NULL,
    verdict_day    date,
    rows_total     integer NOT NULL,
    rows_recorded  integer NOT NULL,
    rows_rejected  integer NOT NULL,
    batch_id       text,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (uri, sha256)
);

-- Server failures sent back: annotation failures to the labeler (rework assignment + Slack notice),
-- refinement/image failures to refine's queue.
CREATE TABLE IF NOT EXISTS inspection_rework (
    item_key        text NOT NULL,
    inspected_on    date NOT NULL,
    reason_category text NOT NULL,                 -- annotation | refinement | image
    reason_codes    text[] NOT NULL DEFAULT '{}',
    routed_to       text NOT NULL,                 -- labeler | refine
    worker_id       text,
    image_id        bigint REFERENCES images(image_id),
    assignment_id   bigint REFERENCES assignments(assignment_id),
    inspector       text,
    comment         text,
    notification_id bigint REFERENCES notifications(notification_id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (item_key, inspected_on)
);
CREATE INDEX IF NOT EXISTS inspection_rework_notice_idx ON inspection_rework (worker_id, notification_id);

-- Bulk fixes (json_dump): one audit row per changed file; the original bytes are kept at backup_uri.
CREATE TABLE IF NOT EXISTS annotation_fixes (
    fix_id          bigserial PRIMARY KEY,
    fix_run         text NOT NULL,
    file_uri        text NOT NULL,
    item_key        text NOT NULL,
    rules           jsonb NOT NULL,
    changes         jsonb NOT NULL,
    old_sha256      char(64) NOT NULL,
    new_sha256      char(64) NOT NULL,
    backup_uri      text NOT NULL,
    revalidated     boolean NOT NULL,
    reason_codes    text[] NOT NULL DEFAULT '{}',
    fixed_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT annotation_fixes_natural_key UNIQUE (file_uri, old_sha256, new_sha256)
);

-- What train-handoff reads: items whose latest server verdict is pass, with their annotation and image.
CREATE OR REPLACE VIEW inspection_passed_items AS
SELECT DISTINCT ON (s.item_key)
       s.item_key, s.inspected_on, s.inspector, s.annotation_id, a.image_id, a.payload, a.worker_id,
       i.class_name, i.dataset_name, i.location, i.width, i.height, i.sha256 AS image_sha256
FROM (
    SELECT DISTINCT ON (item_key) item_key, verdict, inspected_on, inspector, annotation_id
    FROM inspections WHERE round = 'server'
    ORDER BY item_key, inspected_on DESC, recorded_at DESC
) s
JOIN annotations a ON a.annotation_id = s.annotation_id
LEFT JOIN images i ON i.image_id = a.image_id
WHERE s.verdict = 'pass'
ORDER BY s.item_key;
