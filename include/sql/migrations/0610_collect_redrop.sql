-- A file dropped again at the same path after it was collected (a re-drop) is a new arrival of the same bytes:
-- it gets its own images row (status 'duplicate', duplicate_of the first arrival's root image) and its own
-- quarantine row, instead of being confused with the first arrival. ``arrival`` numbers the arrivals of one
-- (source_uri, sha256): 0 for the first, n for its n-th re-drop; the natural key includes it.
ALTER TABLE images ADD COLUMN IF NOT EXISTS arrival integer NOT NULL DEFAULT 0;
ALTER TABLE images DROP CONSTRAINT IF EXISTS images_natural_key;
ALTER TABLE images ADD CONSTRAINT images_natural_key UNIQUE (source_uri, sha256, arrival);
