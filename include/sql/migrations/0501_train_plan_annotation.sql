-- train-handoff: which annotation of an item a release planned, so "nothing changed since the last release" can
-- be told apart from "same items, reworked labels".
ALTER TABLE release_plan_items ADD COLUMN IF NOT EXISTS annotation_id bigint;
