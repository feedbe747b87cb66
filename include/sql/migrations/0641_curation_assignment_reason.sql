-- Why the daily distribution gave each image when it did (deficit order, k-center diversity / rarity, rework).
ALTER TABLE assignments ADD COLUMN IF NOT EXISTS reason text;
