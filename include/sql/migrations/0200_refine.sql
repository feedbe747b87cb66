-- refine (정제): the measurement table the GX suite judges, the perceptual-hash index, name sequences, inventory.

-- One wide row per image: everything the refine checks measured (the suite refine_measurements judges it).
CREATE TABLE IF NOT EXISTS refine_measurements (
    image_id        bigint PRIMARY KEY REFERENCES images(image_id),
    batch_id        text NOT NULL,
    sha256          char(64) NOT NULL,             -- the bytes measured (a cached row is reused only for these)
    format          text,
    width           integer,                       -- upright (after EXIF orientation)
    height          integer,
    pixels          bigint,
    bytes           bigint,
    orientation     smallint,
    capture_time_raw text,
    capture_time    timestamptz,
    capture_epoch   double precision,
    make            text,
    model           text,
    has_gps         boolean,
    exif_error      text,
    exif_missing_fields text[] NOT NULL DEFAULT '{}',
    sharpness       double precision,
    brightness      double precision,
    contrast        double precision,
    entropy         double precision,
    dhash           bigint,
    near_duplicate_of bigint REFERENCES images(image_id),
    near_duplicate_distance smallint,
    decode_error    text,
    verdict         text,                           -- passed | rejected, from the suite
    reason_codes    text[] NOT NULL DEFAULT '{}',
    measured_at     timestamptz NOT NULL DEFAULT now(),
    judged_at       timestamptz
);
CREATE INDEX IF NOT EXISTS refine_measurements_batch_idx ON refine_measurements (batch_id);

-- Which raw images each refine batch (one mapped task) works on.
CREATE TABLE IF NOT EXISTS refine_batch_items (
    batch_id  text NOT NULL REFERENCES batches(batch_id),
    image_id  bigint NOT NULL REFERENCES images(image_id),
    PRIMARY KEY (batch_id, image_id)
);
CREATE INDEX IF NOT EXISTS refine_batch_items_image_idx ON refine_batch_items (image_id);

-- Perceptual hashes (64-bit dHash) of every image that may be an original, with the hash split into four
-- 16-bit bands, each indexed.  Multi-index hashing: two hashes within Hamming distance r agree within
-- floor(r/4) bits on at least one band (pigeonhole), so a lookup probes each band's index for the values
-- within that many bits and checks the full distance only on those candidates: no scan at any size.
CREATE TABLE IF NOT EXISTS image_phash (
    image_id  bigint PRIMARY KEY REFERENCES images(image_id),
    phash     bigint NOT NULL,
    band0     integer NOT NULL,
    band1     integer NOT NULL,
    band2     integer NOT NULL,
    band3     integer NOT NULL
);
CREATE INDEX IF NOT EXISTS image_phash_band0_idx ON image_phash (band0);
CREATE INDEX IF NOT EXISTS image_phash_band1_idx ON image_phash (band1);
CREATE INDEX IF NOT EXISTS image_phash_band2_idx ON image_phash (band2);
CREATE INDEX IF NOT EXISTS image_phash_band3_idx ON image_phash (band3);

-- Sequence numbers for the naming rule, one counter per name prefix; UPDATE ... RETURNING hands out ranges
-- atomically so parallel batches never get the same number.
CREATE TABLE IF NOT EXISTS name_sequences (
    scope       text PRIMARY KEY,
    last_value  bigint NOT NULL DEFAULT 0
);

-- The warehouse inventory the PM reads: images per class and status (refined = in the warehouse).
CREATE OR REPLACE VIEW warehouse_inventory AS
SELECT coalesce(class_name, '(none)') AS class_name,
       status,
       count(*)::bigint AS images,
       max(updated_at) AS last_change
FROM images
GROUP BY 1, 2;
