-- An image's item key (its dataset name without the extension: what labels, verdicts and releases are keyed by)
-- as a generated, indexed column, so every query joins on one definition instead of repeating the expression.
ALTER TABLE images
    ADD COLUMN IF NOT EXISTS item_key text GENERATED ALWAYS AS (regexp_replace(dataset_name, '\.[^.]*$', '')) STORED;
CREATE INDEX IF NOT EXISTS images_item_key_idx ON images (item_key);
