"""Turn one accepted photo into its source-data file: upright, de-identified, resized, re-encoded, EXIF cleaned.

The decode asks JPEG for the smallest DCT scale that is still at least the output size (a 12 MP photo going to
1920 px decodes at 1/2 scale), so nothing is decoded that the resize would throw away.  Detections are reported
in the coordinates of the original (stored) photo after orientation, so an auditor can find them in the raw file.
"""

from __future__ import annotations

import io
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from trainset.config import ProjectConfig, ResizeSettings
from trainset.imagefile import sniff_format
from trainset.refine.exif import cleaned_exif
from trainset.refine.measure import TRANSPOSE, open_image


@dataclass
class Rendered:
    data: bytes
    width: int
    height: int
    detections: list = field(default_factory=list)  # trainset.refine.deid.Detection, original upright coords
    seconds: dict[str, float] = field(default_factory=dict)  # decode, detect, mask, resize, encode


def target_size(width: int, height: int, settings: ResizeSettings) -> tuple[int, int]:
    """The output canvas size for an upright ``width`` x ``height`` photo."""
    if settings.policy in ("letterbox", "crop") and settings.width and settings.height:
        return settings.width, settings.height
    scale = settings.long_side / max(width, height)
    if scale > 1 and not settings.upscale:
        scale = 1.0
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize(im: Image.Image, settings: ResizeSettings) -> Image.Image:
    """Resize by policy: ``long_side`` keeps the aspect ratio; ``letterbox`` fits inside width x height and pads
    with black; ``crop`` covers width x height and cuts the centre.  LANCZOS, with Pillow's reducing gap (a
    box-filter pre-reduction) so big downscales stay fast without aliasing."""
    w, h = im.size
    tw, th = target_size(w, h, settings)
    if settings.policy == "long_side" or not (settings.width and settings.height):
        return im if (tw, th) == (w, h) else im.resize((tw, th), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if settings.policy == "letterbox":
        scale = min(tw / w, th / h)
        if scale > 1 and not settings.upscale:
            scale = 1.0
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        inner = im if (nw, nh) == (w, h) else im.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=3.0)
        canvas = Image.new("RGB", (tw, th), (0, 0, 0))
        canvas.paste(inner, ((tw - nw) // 2, (th - nh) // 2))
        return canvas
    scale = max(tw / w, th / h)
    cw, ch = tw / scale, th / scale  # the source rectangle that covers the target
    left, top = (w - cw) / 2, (h - ch) / 2
    return im.resize((tw, th), Image.Resampling.LANCZOS, box=(left, top, left + cw, top + ch), reducing_gap=3.0)


def _upright_rgb(data: bytes, settings: ResizeSettings) -> tuple[Image.Image, Image.Exif | None, float, tuple]:
    """Decoded RGB, upright, at the smallest JPEG scale still >= the output; plus the source EXIF, the scale
    factor from decoded to original pixels and the original upright size."""
    fmt = sniff_format(data[:32])
    im = open_image(data, fmt)
    try:
        exif = im.getexif()
    except Exception:  # noqa: BLE001 - hostile EXIF: output gets a fresh block
        exif = None
    try:
        orientation = int(exif.get(0x0112, 1) or 1) if exif is not None else 1
    except (TypeError, ValueError):
        orientation = 1
    w, h = im.size
    upright = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    tw, th = target_size(*upright, settings)
    if settings.policy == "crop" and settings.width and settings.height:
        cover = max(tw / upright[0], th / upright[1])
        tw, th = round(upright[0] * cover), round(upright[1] * cover)
    if im.format == "JPEG":
        need = (th, tw) if orientation in (5, 6, 7, 8) else (tw, th)
        im.draft("RGB", need)
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
        im = Image.fromarray(arr.astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        rgb = Image.new("RGB", rgba.size, (255, 255, 255))
        rgb.paste(rgba, mask=rgba.getchannel("A"))  # transparent areas become white, not black
    else:
        rgb = im.convert("RGB")
    if orientation in TRANSPOSE:
        rgb = rgb.transpose(TRANSPOSE[orientation])
    scale = upright[0] / rgb.size[0]
    return rgb, exif, scale, upright


def render(data: bytes, config: ProjectConfig, detectors=None) -> Rendered:
    """The refine output for one photo. ``detectors`` is a ``trainset.refine.deid.Detectors`` (None: no masking)."""
    settings = config.refine.resize
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rgb_im, exif, scale, _ = _upright_rgb(data, settings)
    timings["decode"] = time.perf_counter() - started
    found = []
    if detectors is not None:
        from trainset.refine.deid import Detection, mask_as_configured

        arr = np.asarray(rgb_im)
        t = time.perf_counter()
        found = detectors.detect(arr)
        timings["detect"] = time.perf_counter() - t
        if found:
            t = time.perf_counter()
            rgb_im = Image.fromarray(mask_as_configured(arr, found, config.refine.anonymize))
            timings["mask"] = time.perf_counter() - t
        # Report boxes in original (upright, full-resolution) pixels.
        found = [Detection(d.kind, math.floor(d.x * scale), math.floor(d.y * scale), math.ceil(d.w * scale),
                           math.ceil(d.h * scale), float(d.score), d.detector) for d in found]
    t = time.perf_counter()
    out = resize(rgb_im, settings)
    timings["resize"] = time.perf_counter() - t
    t = time.perf_counter()
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=settings.jpeg_quality,
             exif=cleaned_exif(exif, config.refine.exif.keep_fields).tobytes())
    timings["encode"] = time.perf_counter() - t
    return Rendered(buf.getvalue(), out.size[0], out.size[1], found, timings)
