"""Is a recorded detection masked in a stored image?  Refine's own renderer re-creates the masked and unmasked
outputs from the raw original; a pixel test (detail energy, difference) covers changed mask settings.  Also: does
a file still carry a GPS IFD (see the ``trainset.audit`` notes)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from trainset.config import ProjectConfig
from trainset.refine.exif import GPS_IFD

MASKED_ENERGY_RATIO = 0.6
MASKED_MIN_DIFFERENCE = 12.0
FLAT_ENERGY = 1.5


def _gray(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"), dtype=np.float32)


def detail_energy(region: np.ndarray) -> float:
    """Mean absolute difference between horizontally and vertically neighbouring pixels."""
    if region.shape[0] < 2 or region.shape[1] < 2:
        return 0.0
    return float((np.abs(np.diff(region, axis=0)).mean() + np.abs(np.diff(region, axis=1)).mean()) / 2)


class RecordedDetections:
    """A ``Detectors`` stand-in for ``refine.render`` that "finds" the boxes the records DB holds (original upright
    pixels), so refine's own code re-applies exactly the mask it applied then."""

    def __init__(self, boxes: list[tuple[int, int, int, int]], upright_width: int):
        self.boxes, self.upright_width = boxes, upright_width

    def detect(self, rgb: np.ndarray) -> list:
        from trainset.refine.deid import Detection

        s = rgb.shape[1] / self.upright_width  # render decodes at a reduced JPEG scale, then reports * 1/s
        return [Detection("face", x * s, y * s, w * s, h * s, 1.0, "records") for x, y, w, h in self.boxes]


def _upright_size(original: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(original)) as im:
        w, h = im.size
        orientation = int(im.getexif().get(0x0112, 1) or 1)
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def unmasked_boxes(stored: bytes, original: bytes, boxes: list[tuple[int, int, int, int]],
                   config: ProjectConfig | None = None) -> list[dict]:
    """The boxes (in the original's upright full-resolution pixels) that are NOT masked in ``stored``.

    With ``config``: refine's own renderer re-creates, from the raw original, the output without masks and the
    output with the recorded boxes masked (the project's mask settings); a box is masked when the stored pixels
    are closer to the masked rendering. Either way (and when the re-rendering does not match the stored size, or
    the mask settings changed since) a box also counts as masked when its detail energy dropped or its pixels
    moved far from the original's (see the module doc)."""
    with Image.open(io.BytesIO(original)) as im:
        upright = ImageOps.exif_transpose(im).convert("RGB")
    with Image.open(io.BytesIO(stored)) as im:
        out = im.convert("RGB")
    sx, sy = out.width / upright.width, out.height / upright.height
    ref = _gray(upright.resize(out.size, Image.Resampling.BILINEAR)) if out.size != upright.size else _gray(upright)
    got = _gray(out)
    plain = masked = None
    if config is not None:
        from trainset.refine.render import render

        plain_r = render(original, config, None)
        masked_r = render(original, config, RecordedDetections(boxes, _upright_size(original)[0]))
        if (plain_r.width, plain_r.height) == out.size:
            plain = _gray(Image.open(io.BytesIO(plain_r.data)))
            masked = _gray(Image.open(io.BytesIO(masked_r.data)))
    found = []
    for x, y, w, h in boxes:
        x0, y0 = max(0, int(x * sx)), max(0, int(y * sy))
        x1, y1 = min(out.width, int((x + w) * sx + 0.5)), min(out.height, int((y + h) * sy + 0.5))
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        a, b = ref[y0:y1, x0:x1], got[y0:y1, x0:x1]
        e_ref, e_got = detail_energy(a), detail_energy(b)
        if e_ref < FLAT_ENERGY:
            continue
        diff = float(np.abs(a - b).mean())
        if plain is not None:
            d_plain = float(np.abs(plain[y0:y1, x0:x1] - b).mean())
            d_masked = float(np.abs(masked[y0:y1, x0:x1] - b).mean())
            if d_masked < d_plain:
                continue  # the stored box is refine's mask of it
        if e_got > MASKED_ENERGY_RATIO * e_ref and diff < MASKED_MIN_DIFFERENCE:
            found.append({"box": [x, y, w, h], "energy_ratio": round(e_got / e_ref, 3), "difference": round(diff, 2)})
    return found


def has_gps(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return bool(im.getexif().get_ifd(GPS_IFD))
    except Exception:  # noqa: BLE001 - not an image (labels, manifests): nothing to check
        return False
