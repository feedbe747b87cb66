-- trainset records DB: the tables every stage writes. Natural keys are UNIQUE so a re-run upserts, never duplicates.

-- One row per stage run (or per mapped batch of a run); counts are what the PM reads in the summary line.
CREATE TABLE IF NOT EXISTS batches (
    batch_id     text PRIMARY KEY,                -- e.g. collect__manual__2026-11-22T04:00:00
    stage        text NOT NULL,
    run_id       text NOT NULL,
    source_uri   text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    counts       jsonb NOT NULL DEFAULT '{}'::jsonb
);

-- One row per received file, from the drop zone to the release.
CREATE TABLE IF NOT EXISTS images (
    image_id       bigserial PRIMARY KEY,
    sha256         char(64) NOT NULL,
    size_bytes     bigint NOT NULL,
    format         text,                           -- sniffed from magic bytes, never from the extension
    width          integer,
    height         integer,
    source_uri     text NOT NULL,                  -- where the file was found
    original_name  text NOT NULL,
    class_name     text,
    batch_id       text NOT NULL REFERENCES batches(batch_id),
    received_at    timestamptz NOT NULL DEFAULT now(),
    status         text NOT NULL,                  -- raw, duplicate, quarantined, refined, rejected, ...
    stage          text NOT NULL DEFAULT 'collect',
    location       text,                           -- current URI of the bytes
    reason_codes   text[] NOT NULL DEFAULT '{}',
    warnings       text[] NOT NULL DEFAULT '{}',   -- accepted with a note (e.g. extension_mismatch)
    duplicate_of   bigint REFERENCES images(image_id),
    dataset_name   text UNIQUE,                    -- name under the project's naming rule (refine)
    capture_time   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT images_natural_key UNIQUE (source_uri, sha256)
);
CREATE INDEX IF NOT EXISTS images_sha256_idx ON images (sha256);
CREATE INDEX IF NOT EXISTS images_status_idx ON images (status, class_name);

-- Every rejected thing (image, annotation, verdict row, ...) with its reason code and where its bytes went.
CREATE TABLE IF NOT EXISTS quarantine (
    quarantine_id  bigserial PRIMARY KEY,
    entity_kind    text NOT NULL,                  -- image | annotation | verdict | upload
    entity_key     text NOT NULL,                  -- image_id, annotation key, ...
    stage          text NOT NULL,
    reason_code    text NOT NULL,
    detail         text,
    location       text,
    batch_id       text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quarantine_natural_key UNIQUE (entity_kind, entity_key, stage, reason_code)
);

-- Measurements per image and check (refine's operators write, the GX suite judges).
CREATE TABLE IF NOT EXISTS check_results (
    image_id      bigint NOT NULL REFERENCES images(image_id),
    check_name    text NOT NULL,
    value_num     double precision,
    value_text    text,
    passed        boolean,
    reason_code   text,
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    batch_id      text,
    measured_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (image_id, check_name)
);

-- Faces and plates found and masked, for audit.
CREATE TABLE IF NOT EXISTS detections (
    detection_id  bigserial PRIMARY KEY,
    image_id      bigint NOT NULL REFERENCES images(image_id),
    kind          text NOT NULL,                   -- face | plate
    x integer NOT NULL, y integer NOT NULL, w integer NOT NULL, h integer NOT NULL,
    score         real NOT NULL,
    masked        boolean NOT NULL,
    detector      text NOT NULL,
    CONSTRAINT detections_natural_key UNIQUE (image_id, kind, x, y, w, h)
);

-- Labelers, synced from the roster the PM edits.
CREATE TABLE IF NOT EXISTS workers (
    worker_id       text PRIMARY KEY,
    name            text NOT NULL,
    slack_user_id   text,
    employment_start date NOT NULL,
    employment_end   date,
    daily_capacity  integer NOT NULL CHECK (daily_capacity >= 0),
    classes         text[] NOT NULL DEFAULT '{}',
    active          boolean NOT NULL DEFAULT true,
    synced_at       timestamptz NOT NULL DEFAULT now()
);

-- Who labels which image; an image is assigned once per task kind (label, rework).
CREATE TABLE IF NOT EXISTS assignments (
    assignment_id  bigserial PRIMARY KEY,
    image_id       bigint NOT NULL REFERENCES images(image_id),
    worker_id      text NOT NULL REFERENCES workers(worker_id),
    task_kind      text NOT NULL DEFAULT 'label',  -- label | rework
    work_date      date NOT NULL,
    due_at         timestamptz,
    status         text NOT NULL DEFAULT 'assigned', -- assigned | uploaded | passed | failed | rework
    reason_codes   text[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT assignments_natural_key UNIQUE (image_id, task_kind, work_date)
);
CREATE INDEX IF NOT EXISTS assignments_worker_day_idx ON assignments (worker_id, work_date);

-- Uploaded annotation files, normalised; one row per image and content hash.
CREATE TABLE IF NOT EXISTS annotations (
    annotation_id  bigserial PRIMARY KEY,
    image_id       bigint REFERENCES images(image_id),
    item_key       text NOT NULL,                  -- file stem (원천/라벨링 pairing key)
    worker_id      text,
    work_date      date,
    source_uri     text NOT NULL,
    sha256         char(64) NOT NULL,
    source_format  text NOT NULL,                  -- aihub | coco | yolo
    status         text NOT NULL,                  -- passed | failed | repaired
    reason_codes   text[] NOT NULL DEFAULT '{}',
    object_count   integer NOT NULL DEFAULT 0,
    payload        jsonb,                          -- the canonical annotation model
    received_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT annotations_natural_key UNIQUE (item_key, sha256)
);

-- Every inspection verdict: first inspection (automatic), second after repair, the server's human verdict.
CREATE TABLE IF NOT EXISTS inspections (
    inspection_id  bigserial PRIMARY KEY,
    item_key       text NOT NULL,
    annotation_id  bigint REFERENCES annotations(annotation_id),
    round          text NOT NULL,                  -- first | second | server
    verdict        text NOT NULL CHECK (verdict IN ('pass', 'fail')),
    reason_codes   text[] NOT NULL DEFAULT '{}',
    reason_category text,                          -- annotation | refinement | image
    inspector      text,
    comment        text,
    inspected_on   date NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT inspections_natural_key UNIQUE (item_key, round, inspected_on)
);

-- Objects sent to the inspection server: keyed by item and content hash, so a retry never sends twice.
CREATE TABLE IF NOT EXISTS transfers (
    transfer_id    bigserial PRIMARY KEY,
    item_key       text NOT NULL,
    kind           text NOT NULL,                  -- image | label | manifest
    object_uri     text NOT NULL,
    size_bytes     bigint NOT NULL,
    sha256         char(64) NOT NULL,
    status         text NOT NULL,                  -- verified | failed
    attempts       integer NOT NULL DEFAULT 1,
    batch_id       text,
    transferred_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transfers_natural_key UNIQUE (item_key, kind, sha256)
);

-- Released training datasets: immutable once written.
CREATE TABLE IF NOT EXISTS releases (
    release_name   text PRIMARY KEY,
    version        text NOT NULL,
    uri            text NOT NULL,
    manifest_sha256 char(64) NOT NULL,
    counts         jsonb NOT NULL DEFAULT '{}'::jsonb,
    config         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS release_items (
    release_name   text NOT NULL REFERENCES releases(release_name),
    item_key       text NOT NULL,
    split          text NOT NULL,
    PRIMARY KEY (release_name, item_key)
);

-- Outgoing messages (Slack, e-mail): the dedupe key makes "send once" hold across re-runs and retries.
CREATE TABLE IF NOT EXISTS notifications (
    notification_id bigserial PRIMARY KEY,
    dedupe_key     text NOT NULL UNIQUE,
    channel        text NOT NULL,                  -- slack_dm | slack_channel | email
    recipient      text NOT NULL,
    payload        jsonb NOT NULL,
    status         text NOT NULL DEFAULT 'pending', -- pending | sent | failed
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz
);
