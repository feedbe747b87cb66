"""The measurement gate: one cheap decode per image gives every number the checks judge.

The header gives format, size and EXIF without touching pixels.  Pixels are decoded once, as grayscale at reduced
resolution (JPEG draft mode decodes 1/2, 1/4 or 1/8 scale straight from the DCT coefficients), normalised to a
fixed working size so the sharpness score does not depend on the photo's resolution, and turned upright so the
perceptual hash matches the upright output.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from trainset.imagefile import sniff_format
from trainset.refine.edge_sharpness import SHAKE_SIDE, edge_sharpness
from trainset.refine.exif import ExifInfo, missing_required, read_exif

# Long side of the grayscale image all pixel scores are computed on: fixed, so scores compare across sizes.
WORK_SIDE = 384
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "tiff": "TIFF", "bmp": "BMP", "webp": "WEBP"}
# EXIF orientation → Pillow transpose that makes the pixels upright.
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# The same transposes on a numpy array (no round trip through Pillow).
_NP_ORIENT = {
    2: np.fliplr, 3: lambda a: a[::-1, ::-1], 4: np.flipud, 5: lambda a: a.T,
    6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].T, 8: lambda a: np.rot90(a, 1),
}


@dataclass
class Measurement:
    """One image's numbers. ``decode_error`` set means the pixels could not be read (reason ``undecodable``)."""

    format: str | None = None
    width: int | None = None  # upright (after EXIF orientation)
    height: int | None = None
    pixels: int | None = None
    bytes: int = 0
    orientation: int = 1
    capture_time_raw: str | None = None
    capture_time: str | None = None  # ISO 8601 with offset
    capture_epoch: float | None = None
    make: str | None = None
    model: str | None = None
    has_gps: bool = False
    exif_error: str | None = None
    exif_missing_fields: list[str] = field(default_factory=list)
    sharpness: float | None = None
    edge_sharpness: float | None = None  # shake/defocus, relative to the image's own edges (edge_sharpness.py)
    brightness: float | None = None
    contrast: float | None = None
    entropy: float | None = None
    dhash: int | None = None  # 64-bit, as a signed int64 (PostgreSQL bigint)
    decode_error: str | None = None

    def as_dict(self) -> dict:
        """The measurement row as stored in ``refine_measurements``: the fields plus the columns the suite judges
        that are derived from them (``judged_fields``), computed here once for the DB and the local path."""
        return asdict(self) | self.judged_fields()

    def judged_fields(self) -> dict:
        """What the suite ``refine_measurements`` reads besides the raw fields: whether the capture time parses
        (None when there is none) and which required EXIF fields are missing, as booleans."""
        missing = set(self.exif_missing_fields)
        return {
            "capture_time_valid": None if self.capture_time_raw is None else self.capture_time is not None,
            "exif_make_missing": "Make" in missing, "exif_model_missing": "Model" in missing,
            "exif_other_missing": bool(missing - {"Make", "Model"}),
        }


def to_signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def to_unsigned64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def dhash(gray: np.ndarray) -> int:
    """64-bit difference hash: the grayscale averaged over a 9x8 grid of blocks, one bit per horizontal neighbour
    comparison (block sums with numpy: a few hundred microseconds cheaper than a resize)."""
    h, w = gray.shape
    if h < 8 or w < 9:
        gray = np.asarray(Image.fromarray(gray).resize((max(w, 9), max(h, 8)), Image.Resampling.NEAREST))
        h, w = gray.shape
    bh, bw = h // 8, w // 9
    small = gray[: bh * 8, : bw * 9].reshape(8, bh, 9, bw).sum(axis=(1, 3), dtype=np.uint32)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return to_signed64(int("".join("1" if b else "0" for b in bits), 2))


def hamming(a: int, b: int) -> int:
    return (to_unsigned64(a) ^ to_unsigned64(b)).bit_count()


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian on the working-size grayscale image (higher is sharper)."""
    _, std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_32F, ksize=1))
    return float(std[0, 0]) ** 2


def exposure_scores(gray: np.ndarray) -> tuple[float, float, float]:
    """Mean brightness (0-1), contrast (std of brightness, 0-1) and Shannon entropy of the histogram (bits)."""
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    total = hist.sum()
    p = hist[hist > 0] / total
    entropy = float(-(p * np.log2(p)).sum())
    levels = np.arange(256, dtype=np.float64)
    mean = float((hist * levels).sum() / total)
    std = math.sqrt(max(float((hist * (levels - mean) ** 2).sum() / total), 0.0))
    return mean / 255.0, std / 255.0, entropy


def working_gray(im: Image.Image, orientation: int, side: int = WORK_SIDE) -> np.ndarray:
    """Grayscale, long side ``side`` (never upscaled), upright; decodes as little as the format allows."""
    w, h = im.size
    scale = min(1.0, side / max(w, h))
    target = (max(1, round(w * scale)), max(1, round(h * scale)))
    if im.format == "JPEG":
        im.draft("L", target)  # decode at 1/2, 1/4 or 1/8 scale, luma only
    if im.mode not in ("L", "RGB", "RGBA", "P", "CMYK", "YCbCr", "LA", "1"):
        # 16-bit, float and other wide modes: scale to 8 bits by their actual range
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
        im = Image.fromarray(arr.astype(np.uint8))
    gray = np.asarray(im if im.mode == "L" else im.convert("L"))  # after a JPEG draft: already luma
    if (gray.shape[1], gray.shape[0]) != target:
        # After a JPEG draft the factor is below 2, where bilinear is alias-free and 3x cheaper than area.
        small = gray.shape[1] < 2 * target[0]
        gray = cv2.resize(gray, target, interpolation=cv2.INTER_LINEAR if small else cv2.INTER_AREA)
    if orientation in _NP_ORIENT:
        gray = np.ascontiguousarray(_NP_ORIENT[orientation](gray))
    return gray


def reduce_gray(gray: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    h, w = gray.shape
    scale = min(1.0, side / max(w, h))
    if scale >= 1.0:
        return gray
    return cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def open_image(data: bytes, fmt: str | None) -> Image.Image:
    pil = [_PIL_FORMATS[fmt]] if fmt in _PIL_FORMATS else None
    return Image.open(io.BytesIO(data), formats=pil)


def measure_bytes(data: bytes, *, required_fields: list[str], timezone: str = "Asia/Seoul",
                  max_pixels: int = 80_000_000) -> Measurement:
    """All measurements of one file; never raises for bad data."""
    m = Measurement(bytes=len(data))
    m.format = sniff_format(data[:32]) if data else None
    if m.format is None:
        m.decode_error = "unrecognised format"
        return m
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            im = open_image(data, m.format)
        except Exception as err:  # noqa: BLE001 - hostile files raise anything
            m.decode_error = f"{type(err).__name__}: {err}"[:300]
            return m
        with im:
            m.width, m.height = im.size
            m.pixels = m.width * m.height
            _apply_exif(m, read_exif(im, timezone, wanted=required_fields), required_fields)
            if m.orientation in (5, 6, 7, 8):  # the spec judges the photo as it is viewed
                m.width, m.height = m.height, m.width
            if m.pixels > max_pixels:
                m.decode_error = f"{m.pixels} px exceeds {max_pixels}"  # never decode a bomb
                return m
            try:
                # One decode at the edge-sharpness size; the other scores use it reduced to WORK_SIDE.
                large = working_gray(im, m.orientation, SHAKE_SIDE)
            except Exception as err:  # noqa: BLE001
                m.decode_error = f"{type(err).__name__}: {err}"[:300]
                return m
    gray = reduce_gray(large)
    m.sharpness = sharpness(gray)
    m.edge_sharpness = edge_sharpness(large)
    m.brightness, m.contrast, m.entropy = exposure_scores(gray)
    m.dhash = dhash(gray)
    return m


def measure_file(path: str | Path, **kwargs) -> Measurement:
    return measure_bytes(Path(path).read_bytes(), **kwargs)


def _apply_exif(m: Measurement, info: ExifInfo, required_fields: list[str]) -> None:
    m.orientation = info.orientation
    m.capture_time_raw = info.capture_time_raw
    if info.capture_time is not None:
        m.capture_time = info.capture_time.isoformat()
        m.capture_epoch = info.capture_time.timestamp()
    m.make, m.model, m.has_gps = info.make, info.model, info.has_gps
    m.exif_error = info.error
    m.exif_missing_fields = missing_required(info, required_fields)
