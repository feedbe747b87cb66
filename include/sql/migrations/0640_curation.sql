-- curation (issue 12): edge sharpness (shake/defocus), image features keyed by content hash, domain outliers.

ALTER TABLE refine_measurements ADD COLUMN IF NOT EXISTS edge_sharpness double precision;  -- 0..0.5, edge_sharpness.py
-- The domain-outlier check (trainset.curation.domain), judged within the image's class (or the project):
ALTER TABLE refine_measurements ADD COLUMN IF NOT EXISTS domain text;               -- photo | illustration (own estimate)
ALTER TABLE refine_measurements ADD COLUMN IF NOT EXISTS domain_score double precision;  -- isolation from the group
ALTER TABLE refine_measurements ADD COLUMN IF NOT EXISTS domain_cluster integer;    -- DBSCAN label in the group
ALTER TABLE refine_measurements ADD COLUMN IF NOT EXISTS domain_group text;         -- the group judged in
ALTER TABLE refine_measurements ADD COLUMN IF NOT EXISTS domain_group_size integer;

-- Features computed once per content hash (the same bytes under two names share one row); ``kind`` says which
-- descriptor (classical-v1, onnx:<model file>).
CREATE TABLE IF NOT EXISTS image_features (
    sha256      char(64) NOT NULL,
    kind        text NOT NULL,
    vector      real[] NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sha256, kind)
);

