"""Near-duplicate lookup over every hash in the records DB, by multi-index hashing (no scan).

A 64-bit hash is cut into ``BANDS`` 16-bit bands, each stored in its own indexed column.  If two hashes differ in
at most ``r`` bits, at least one band differs in at most ``r // BANDS`` bits (pigeonhole), so probing each band's
index with every value within that many bits finds every match; the full Hamming distance is then checked on the
few candidates only.  At radius 6 that is 4 x 17 index probes per lookup, whatever the table size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

from trainset.refine.measure import hamming, to_signed64, to_unsigned64

BANDS = 4
BAND_BITS = 64 // BANDS
_BAND_MASK = (1 << BAND_BITS) - 1


def bands(phash: int) -> list[int]:
    """The hash's bands, most significant first (values 0..65535)."""
    u = to_unsigned64(phash)
    return [(u >> (BAND_BITS * (BANDS - 1 - i))) & _BAND_MASK for i in range(BANDS)]


def neighbours(value: int, max_bits: int) -> list[int]:
    """Every band value within ``max_bits`` bit flips of ``value`` (itself included)."""
    out = [value]
    for k in range(1, max_bits + 1):
        for bits in combinations(range(BAND_BITS), k):
            flipped = value
            for b in bits:
                flipped ^= 1 << b
            out.append(flipped)
    return out


def probes(phash: int, radius: int) -> list[list[int]]:
    """Per band, the values whose index entries can hold a match within ``radius``."""
    return [neighbours(v, radius // BANDS) for v in bands(phash)]


@dataclass(frozen=True)
class Match:
    image_id: int
    distance: int


class MemoryIndex:
    """The same multi-index lookup in memory (the CLI and the benchmark's cross-check use it)."""

    def __init__(self) -> None:
        self.tables: list[dict[int, list[int]]] = [{} for _ in range(BANDS)]
        self.hashes: dict[int, int] = {}

    def add(self, image_id: int, phash: int) -> None:
        self.hashes[image_id] = phash
        for table, value in zip(self.tables, bands(phash), strict=True):
            table.setdefault(value, []).append(image_id)

    def nearest(self, phash: int, radius: int, exclude: int | None = None) -> Match | None:
        candidates: set[int] = set()
        for table, values in zip(self.tables, probes(phash, radius), strict=True):
            for v in values:
                candidates.update(table.get(v, ()))
        candidates.discard(exclude)
        best = None
        for image_id in candidates:
            d = hamming(self.hashes[image_id], phash)
            if d <= radius and (best is None or (d, image_id) < (best.distance, best.image_id)):
                best = Match(image_id, d)
        return best


_LOOKUP_SQL = """
SELECT p.image_id, bit_count((p.phash # %(h)s)::bit(64)) AS distance
FROM image_phash p
JOIN images i ON i.image_id = p.image_id
WHERE (p.band0 = ANY(%(b0)s) OR p.band1 = ANY(%(b1)s) OR p.band2 = ANY(%(b2)s) OR p.band3 = ANY(%(b3)s))
  AND bit_count((p.phash # %(h)s)::bit(64)) <= %(r)s
  AND p.image_id <> %(self)s
  AND i.status <> 'rejected'
ORDER BY distance, p.image_id
LIMIT 1
"""


def find_near_duplicate(cur, phash: int, radius: int, *, exclude: int = -1) -> Match | None:
    """The closest registered image (not rejected) within ``radius`` bits of ``phash``, or None."""
    b = probes(phash, radius)
    cur.execute(_LOOKUP_SQL, {"h": to_signed64(to_unsigned64(phash)), "b0": b[0], "b1": b[1], "b2": b[2],
                              "b3": b[3], "r": radius, "self": exclude})
    row = cur.fetchone()
    return Match(int(row[0]), int(row[1])) if row else None


def register(cur, rows: Iterable[tuple[int, int]]) -> None:
    """Add ``(image_id, phash)`` rows to the index (idempotent)."""
    from trainset.db import execute_batch

    values = [(image_id, phash, *bands(phash)) for image_id, phash in rows]
    execute_batch(cur, "INSERT INTO image_phash (image_id, phash, band0, band1, band2, band3) VALUES %s "
                       "ON CONFLICT (image_id) DO UPDATE SET phash = EXCLUDED.phash, band0 = EXCLUDED.band0, "
                       "band1 = EXCLUDED.band1, band2 = EXCLUDED.band2, band3 = EXCLUDED.band3", values)
