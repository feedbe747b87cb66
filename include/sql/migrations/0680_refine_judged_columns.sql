-- The columns the refine suite judges that derive from other measurements, stored once when a measurement is
-- written (trainset.refine.measure.Measurement.judged_fields), so the GX task reads them with a plain SELECT and
-- the local path (python -m trainset refine) judges the very same values.
ALTER TABLE refine_measurements ADD COLUMN IF NOT EXISTS capture_time_valid boolean;  -- null: no capture time
ALTER TABLE refine_measurements ADD COLUMN IF NOT EXISTS exif_make_missing boolean;   -- 'Make' required, absent
ALTER TABLE refine_measurements ADD COLUMN IF NOT EXISTS exif_model_missing boolean;  -- 'Model' required, absent
ALTER TABLE refine_measurements ADD COLUMN IF NOT EXISTS exif_other_missing boolean;  -- another required field absent

-- Rows measured before: the same derivation, once.
UPDATE refine_measurements SET
    capture_time_valid = CASE WHEN capture_time_raw IS NULL THEN NULL ELSE capture_time IS NOT NULL END,
    exif_make_missing = 'Make' = ANY(exif_missing_fields),
    exif_model_missing = 'Model' = ANY(exif_missing_fields),
    exif_other_missing = cardinality(array_remove(array_remove(exif_missing_fields, 'Make'), 'Model')) > 0
WHERE exif_make_missing IS NULL;
