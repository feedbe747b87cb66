-- Labeling quality control (품질관리): GT (honeypot) items, consensus replicas, per-item / per-pair agreement,
-- per-labeler daily and rolling scores, gating.  Written by trainset.quality.service.

-- The GT set: items whose labels the PM marked as ground truth (an inspected, passed label or a reference file).
CREATE TABLE IF NOT EXISTS quality_gt_items (
    item_key       text PRIMARY KEY,
    image_id       bigint NOT NULL REFERENCES images(image_id),
    payload        jsonb NOT NULL,                 -- the canonical LabelItem
    source         text NOT NULL,                  -- passed_annotation | reference
    added_on       date NOT NULL,
    active         boolean NOT NULL DEFAULT true
);

-- Which of a day's assignments are GT or consensus replicas (the assignment list shows them as 'label').
CREATE TABLE IF NOT EXISTS quality_assignments (
    assignment_id  bigint PRIMARY KEY REFERENCES assignments(assignment_id) ON DELETE CASCADE,
    role           text NOT NULL,                  -- gt | consensus
    item_key       text NOT NULL,
    work_date      date NOT NULL
);
CREATE INDEX IF NOT EXISTS quality_assignments_day_idx ON quality_assignments (work_date, role);

-- One labeler's item compared with GT (kind 'gt') or with the consensus merge (kind 'consensus').
CREATE TABLE IF NOT EXISTS quality_item_scores (
    work_date      date NOT NULL,
    worker_id      text NOT NULL,
    item_key       text NOT NULL,
    kind           text NOT NULL,
    annotation_id  bigint REFERENCES annotations(annotation_id),
    gt_boxes       integer NOT NULL,
    labeled_boxes  integer NOT NULL,
    matched        integer NOT NULL,
    mismatching_label integer NOT NULL,
    iou_sum        double precision NOT NULL,
    attributes_equal integer NOT NULL,
    conflicts      jsonb NOT NULL,                 -- {type: count}
    conflict_list  jsonb NOT NULL DEFAULT '[]'::jsonb,
    accuracy       double precision,
    PRIMARY KEY (work_date, worker_id, item_key, kind)
);

CREATE TABLE IF NOT EXISTS quality_consensus_results (
    work_date      date NOT NULL,
    item_key       text NOT NULL,
    image_id       bigint REFERENCES images(image_id),
    workers        text[] NOT NULL,
    quorum         integer NOT NULL,
    agreement      double precision,
    disputed       boolean NOT NULL,
    reasons        text[] NOT NULL DEFAULT '{}',
    merged         jsonb,                          -- the merged LabelItem (objects that reached the quorum)
    replicas       jsonb NOT NULL,                 -- {worker_id: LabelItem | null}: both versions for inspection
    PRIMARY KEY (work_date, item_key)
);

CREATE TABLE IF NOT EXISTS quality_pair_agreement (
    work_date      date NOT NULL,
    item_key       text NOT NULL,
    worker_a       text NOT NULL,
    worker_b       text NOT NULL,
    agreement      double precision NOT NULL,
    PRIMARY KEY (work_date, item_key, worker_a, worker_b)
);

-- Per labeler and day: GT counts summed over the day's GT items, and the rolling window ending that day.
CREATE TABLE IF NOT EXISTS quality_labeler_daily (
    work_date      date NOT NULL,
    worker_id      text NOT NULL,
    gt_items       integer NOT NULL DEFAULT 0,
    gt_boxes       integer NOT NULL DEFAULT 0,
    labeled_boxes  integer NOT NULL DEFAULT 0,
    matched        integer NOT NULL DEFAULT 0,
    accuracy       double precision,
    precision      double precision,
    recall         double precision,
    mean_iou       double precision,
    label_agreement double precision,
    attribute_agreement double precision,
    conflicts      jsonb NOT NULL DEFAULT '{}'::jsonb,
    consensus_items integer NOT NULL DEFAULT 0,
    consensus_agreement double precision,
    rolling_gt_boxes integer NOT NULL DEFAULT 0,
    rolling_accuracy double precision,
    judged_accuracy double precision,              -- rolling_accuracy when rolling_gt_boxes >= quality.min_gt_boxes
    gated          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (work_date, worker_id)
);

-- Gating: a labeler below the rolling accuracy target has every item inspected; one message to the PM per spell.
CREATE TABLE IF NOT EXISTS quality_gating (
    worker_id      text PRIMARY KEY REFERENCES workers(worker_id),
    gated          boolean NOT NULL,
    since          date,
    lifted_on      date,
    rolling_accuracy double precision,
    notification_id bigint REFERENCES notifications(notification_id),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The report's quality block: per labeler and day (what the PM's CSV/XLSX and the data card show).
CREATE OR REPLACE VIEW v_labeler_quality AS
SELECT d.work_date AS day, d.worker_id, d.gt_items, d.gt_boxes, d.labeled_boxes, d.matched,
       d.accuracy, d.precision, d.recall, d.mean_iou, d.label_agreement, d.attribute_agreement,
       COALESCE((d.conflicts->>'missing')::int, 0) AS missing,
       COALESCE((d.conflicts->>'extra')::int, 0) AS extra,
       COALESCE((d.conflicts->>'mismatching_label')::int, 0) AS mismatching_label,
       COALESCE((d.conflicts->>'low_overlap')::int, 0) AS low_overlap,
       COALESCE((d.conflicts->>'attributes')::int, 0) AS attribute_conflicts,
       d.consensus_items, d.consensus_agreement, d.rolling_gt_boxes, d.rolling_accuracy, d.gated
FROM quality_labeler_daily d;

-- Label-error hints on the day's uploads (trainset.quality.hints): reason code and score per object (or item).
CREATE TABLE IF NOT EXISTS quality_hints (
    work_date      date NOT NULL,
    annotation_id  bigint NOT NULL REFERENCES annotations(annotation_id) ON DELETE CASCADE,
    item_key       text NOT NULL,
    worker_id      text,
    object_id      text NOT NULL DEFAULT '',       -- '' for an item-level hint
    code           text NOT NULL,
    score          double precision NOT NULL,
    detail         text NOT NULL DEFAULT '',
    PRIMARY KEY (work_date, annotation_id, object_id, code)
);
