"""Balance by augmentation: boxes move with the pixels, deterministic per copy; undersampling spans clusters."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from trainset.curation.balance import augment, undersample_by_cluster


def _marked(w: int = 320, h: int = 240, box=(200, 60, 60, 40)) -> bytes:
    """A dark frame with one bright box: after any transform, the box must still cover the bright pixels."""
    arr = np.full((h, w, 3), 30, np.uint8)
    x, y, bw, bh = box
    arr[y:y + bh, x:x + bw] = 250
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def test_boxes_follow_the_pixels_and_copies_are_reproducible():
    src = _marked()
    flipped_seen = False
    for copy in range(6):
        a = augment(src, [(200, 60, 60, 40)], ["car"], source_key="item-1", copy_index=copy)
        assert a == augment(src, [(200, 60, 60, 40)], ["car"], source_key="item-1", copy_index=copy)
        assert a.labels == ["car"] and len(a.boxes) == 1
        arr = np.asarray(Image.open(io.BytesIO(a.data)).convert("L")).astype(float)
        ys, xs = np.nonzero(arr > 0.5 * (arr.max() + arr.min()))
        x, y, w, h = a.boxes[0]
        bright_centre = (xs.mean(), ys.mean())
        assert abs(bright_centre[0] - (x + w / 2)) < 8 and abs(bright_centre[1] - (y + h / 2)) < 8, (copy, a.transform)
        flipped_seen |= x + w / 2 < 160  # the box was on the right: a flip moves it left
        assert "seed" in a.transform and a.transform["copy"] == copy
    assert flipped_seen


def test_undersampling_keeps_every_cluster():
    rng = np.random.default_rng(0)
    # 30 shots of one scene, 6 of another: a random half could drop the small scene; by cluster it stays
    vectors = np.vstack([rng.normal(0, 0.1, (30, 4)), rng.normal(5, 0.1, (6, 4))])
    ids = list(range(100, 136))
    kept = undersample_by_cluster(ids, vectors, 12, clusters=2)
    assert len(kept) == 12 and kept == sorted(kept)
    assert sum(1 for i in kept if i >= 130) == 2  # 6/36 of 12
    assert kept == undersample_by_cluster(list(reversed(ids)), vectors[::-1], 12, clusters=2)
