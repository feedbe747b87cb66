"""The warehouse images labels are about: their facts (size as refined, original name, class) by item key."""

from __future__ import annotations

from pathlib import PurePosixPath

from trainset.annotate.rules import ImageFacts
from trainset.db import fetch_dicts

# Refine records the output size in its anonymize check; images.width/height keep the size as received.
SIZE_SQL = """COALESCE((SELECT (c.details->'output'->>'width')::int FROM check_results c
                        WHERE c.image_id = i.image_id AND c.check_name = 'anonymize'), i.width) AS width,
              COALESCE((SELECT (c.details->'output'->>'height')::int FROM check_results c
                        WHERE c.image_id = i.image_id AND c.check_name = 'anonymize'), i.height) AS height"""


# The name an image had before refinement renamed it, without its extension (a label may still use it).
ORIGINAL_STEM_SQL = "regexp_replace(i.original_name, '\\.[^.]*$', '')"


def stem(name: str | None) -> str | None:
    return PurePosixPath(name).stem if name else None


def real_size(location: str | None, fallback: tuple[int | None, int | None]) -> tuple[int | None, int | None]:
    """The warehouse file's own size from its header when it is a local file; else what the DB says."""
    if location and location.startswith("file://"):
        try:
            from PIL import Image

            with Image.open(location.removeprefix("file://")) as im:
                return im.size
        except Exception:  # unreadable or gone: the DB's value is the best we have
            pass
    return fallback


class ImageFactsCache:
    """Warehouse image facts by item key (the dataset name's stem), fetched on demand and cached."""

    def __init__(self, cur):
        self.cur = cur
        self.cache: dict[str, ImageFacts | None] = {}

    def load(self, keys) -> None:
        keys = sorted({k for k in keys if k not in self.cache})
        if not keys:
            return
        for k in keys:
            self.cache[k] = None
        rows = fetch_dicts(self.cur, f"""
            SELECT image_id, item_key, {SIZE_SQL}, original_name, class_name, location
            FROM images i WHERE dataset_name IS NOT NULL  -- any status: a later stage may have moved it on
              AND item_key = ANY(%s)""", (keys,))
        for r in rows:
            w, h = real_size(r["location"], (r["width"], r["height"]))
            self.cache[r["item_key"]] = ImageFacts(r["item_key"], w, h, r["image_id"], r["original_name"],
                                                   r["class_name"], r["location"])

    def get(self, key: str) -> ImageFacts | None:
        self.load([key])
        return self.cache.get(key)


def original_candidates(cur, name_stem: str) -> list[dict]:
    """Warehouse images whose name before renaming was ``name_stem`` (with or without its extension)."""
    rows = fetch_dicts(cur, f"""
        SELECT image_id, item_key, dataset_name, original_name, {SIZE_SQL}, class_name, location
        FROM images i WHERE dataset_name IS NOT NULL
          AND (original_name = %s OR {ORIGINAL_STEM_SQL} = %s)""",
                       (name_stem, name_stem))
    for r in rows:
        r["width"], r["height"] = real_size(r["location"], (r["width"], r["height"]))
    return rows
