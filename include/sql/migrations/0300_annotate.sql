-- annotate_intake (가공): rework queue, repairs, the PM's daily result tables and the syntax-accuracy view.

-- Where the normalised label of a passed item lives (the project's AI Hub-style JSON, whatever the input format).
ALTER TABLE annotations ADD COLUMN IF NOT EXISTS label_uri text;
ALTER TABLE annotations ADD COLUMN IF NOT EXISTS class_name text;
ALTER TABLE annotations ADD COLUMN IF NOT EXISTS findings jsonb NOT NULL DEFAULT '[]'::jsonb;  -- [{code, where}]
ALTER TABLE annotations ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS annotations_day_idx ON annotations (work_date, worker_id);
CREATE INDEX IF NOT EXISTS annotations_status_idx ON annotations (status, item_key);

-- Items returned to a labeler: from the first inspection (source 'first') or the inspection server ('server').
CREATE TABLE IF NOT EXISTS rework_queue (
    rework_id      bigserial PRIMARY KEY,
    item_key       text NOT NULL,
    image_id       bigint REFERENCES images(image_id),
    worker_id      text NOT NULL REFERENCES workers(worker_id),
    source         text NOT NULL,                  -- first | second | server
    reason_codes   text[] NOT NULL DEFAULT '{}',
    comment        text,
    opened_on      date NOT NULL,
    status         text NOT NULL DEFAULT 'open',   -- open | assigned | closed
    assigned_on    date,
    closed_on      date,
    CONSTRAINT rework_queue_natural_key UNIQUE (item_key, source, opened_on)
);
CREATE INDEX IF NOT EXISTS rework_queue_open_idx ON rework_queue (worker_id, status);

-- Automatic repairs of labels broken by refinement (pre-rename file name, resize after labeling).
CREATE TABLE IF NOT EXISTS annotation_repairs (
    annotation_id  bigint NOT NULL REFERENCES annotations(annotation_id),
    remedy         text NOT NULL,                  -- original_name | rescale
    details        jsonb NOT NULL DEFAULT '{}'::jsonb,
    repaired_on    date NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (annotation_id, remedy)
);

-- The PM's daily table: one row per work date, worker and class (rebuilt whole for a day on every run).
CREATE TABLE IF NOT EXISTS labeling_daily_results (
    work_date      date NOT NULL,
    worker_id      text NOT NULL,
    class_name     text NOT NULL,
    assigned       integer NOT NULL DEFAULT 0,
    uploaded       integer NOT NULL DEFAULT 0,
    missing        integer NOT NULL DEFAULT 0,
    inspected      integer NOT NULL DEFAULT 0,
    syntax_ok      integer NOT NULL DEFAULT 0,
    passed         integer NOT NULL DEFAULT 0,
    repaired       integer NOT NULL DEFAULT 0,
    failed         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (work_date, worker_id, class_name)
);

-- The fail list by reason: items per work date, worker, class and reason code.
CREATE TABLE IF NOT EXISTS labeling_daily_reasons (
    work_date      date NOT NULL,
    worker_id      text NOT NULL,
    class_name     text NOT NULL,
    reason_code    text NOT NULL,
    items          integer NOT NULL,
    PRIMARY KEY (work_date, worker_id, class_name, reason_code)
);

-- 구문 정확성 (syntax accuracy) per day: items passing the syntax checks / items inspected.
CREATE OR REPLACE VIEW labeling_syntax_accuracy AS
SELECT work_date,
       sum(inspected)::integer AS inspected,
       sum(syntax_ok)::integer AS syntax_ok,
       sum(passed)::integer AS passed,
       sum(failed)::integer AS failed,
       CASE WHEN sum(inspected) > 0 THEN sum(syntax_ok)::numeric / sum(inspected) END AS syntax_accuracy
FROM labeling_daily_results
GROUP BY work_date;

-- The flattened annotation table the first inspection's GX suite judges (trainset.annotate.rules.COLUMNS):
-- rebuilt whole for a work date on every run; ref = annotation_id (or 'missing:<assignment_id>').
CREATE TABLE IF NOT EXISTS annotation_rule_rows (
    work_date      date NOT NULL,
    row_id         text NOT NULL,
    ref            text NOT NULL,
    item_key       text NOT NULL,
    row_kind       text NOT NULL,                  -- item | object | attribute
    row_where      text NOT NULL DEFAULT '',
    has_label      boolean,
    has_image      boolean,
    label_stem     text,
    declared_stem  text,
    declared_width double precision,
    actual_width   double precision,
    declared_height double precision,
    actual_height  double precision,
    capture_date   text,
    capture_days_after_work double precision,
    category       text,
    x_min double precision, y_min double precision, x_max double precision, y_max double precision,
    img_w double precision, img_h double precision,
    box_w double precision, box_h double precision, box_min_side double precision,
    polygon_points double precision,
    polygon_area   double precision,
    polygon_simple boolean,
    max_iou_same_class double precision,
    annotation_uid text,
    attribute_key  text,
    attribute_pair text,
    PRIMARY KEY (work_date, row_id)
);
