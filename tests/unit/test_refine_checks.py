"""refine's per-image checks on generated images with known answers: EXIF, sharpness, exposure, hash, render."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from PIL import Image, ImageFilter
from trainset.config import ResizeSettings
from trainset.refine.exif import cleaned_exif, parse_exif_datetime
from trainset.refine.measure import dhash, hamming, measure_bytes
from trainset.refine.render import render, resize

KST = dt.timezone(dt.timedelta(hours=9))


def _photo(w: int = 800, h: int = 600, seed: int = 1) -> Image.Image:
    """A textured 'photo': smooth gradients plus sharp-edged shapes and fine noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // w), (y * 255 // h), ((x + y) * 127 // (w + h))], axis=-1).astype(np.float32)
    for _ in range(25):
        x0, y0 = rng.integers(0, w - 40), rng.integers(0, h - 40)
        base[y0:y0 + rng.integers(20, 120), x0:x0 + rng.integers(20, 120)] = rng.integers(0, 255, 3)
    base += rng.normal(0, 6, base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def _exif(when="2026:03:14 10:30:00", make="Samsung", model="SM-S918N", gps=False, orientation=1, extra=None):
    exif = Image.Exif()
    if make is not None:
        exif[0x010F] = make
    if model is not None:
        exif[0x0110] = model
    exif[0x0112] = orientation
    exif[0xA431] = "SERIAL123"  # BodySerialNumber (personal)
    sub = exif.get_ifd(0x8769)
    if when is not None:
        sub[0x9003] = when
    if gps:
        g = exif.get_ifd(0x8825)
        g[1], g[2] = "N", (37.0, 33.0, 59.4)
    for tag, value in (extra or {}).items():
        exif[tag] = value
    return exif


def _jpeg(im: Image.Image, exif=None, quality=92) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, exif=exif if exif is not None else Image.Exif())
    return buf.getvalue()


def _measure(data: bytes, required=("DateTimeOriginal",)):
    return measure_bytes(data, required_fields=list(required), timezone="Asia/Seoul")


def test_exif_fields_read_from_header():
    m = _measure(_jpeg(_photo(), _exif(gps=True, orientation=6)))
    assert (m.make, m.model, m.has_gps, m.orientation) == ("Samsung", "SM-S918N", True, 6)
    assert m.capture_time_raw == "2026:03:14 10:30:00"
    assert dt.datetime.fromisoformat(m.capture_time) == dt.datetime(2026, 3, 14, 10, 30, tzinfo=KST)
    assert (m.width, m.height) == (600, 800), "orientation 6: the upright photo is portrait"


@pytest.mark.parametrize("raw, ok", [("2026:03:14 10:30:00", True), ("2026-03-14 10:30:00", True),
                                     ("0000:00:00 00:00:00", False), ("2026:13:01 00:00:00", False),
                                     ("yesterday", False), ("    ", False)])
def test_capture_time_parsing(raw, ok):
    assert (parse_exif_datetime(raw, KST) is not None) is ok


def test_missing_date_and_required_fields():
    m = _measure(_jpeg(_photo(), _exif(when=None, make="  ", model=None)), required=("DateTimeOriginal", "Make",
                                                                                    "Model", "FNumber"))
    assert m.capture_time_raw is None
    assert m.exif_missing_fields == ["Make", "Model", "FNumber"], "blank padded strings count as missing"


def test_no_exif_at_all_is_not_an_error():
    buf = io.BytesIO()
    _photo().save(buf, "PNG")
    m = _measure(buf.getvalue())
    assert m.format == "png" and m.capture_time_raw is None and m.decode_error is None and not m.has_gps


def test_sharpness_separates_blur_and_does_not_depend_on_size():
    sharp_small, sharp_big = _photo(800, 600), _photo(800, 600).resize((3200, 2400), Image.Resampling.LANCZOS)
    s_small = _measure(_jpeg(sharp_small)).sharpness
    s_big = _measure(_jpeg(sharp_big)).sharpness
    blurred = _measure(_jpeg(sharp_small.filter(ImageFilter.GaussianBlur(5)))).sharpness
    blurred_big = _measure(_jpeg(sharp_big.filter(ImageFilter.GaussianBlur(20)))).sharpness
    assert blurred < 75 < min(s_small, s_big)
    assert blurred_big < 75, "the same relative blur on a 4x larger photo scores as blurred too"
    assert 0.5 < s_small / s_big < 2.0, (s_small, s_big)


def test_exposure_and_information_scores():
    dark = _measure(_jpeg(Image.fromarray((np.asarray(_photo()) * 0.08).astype(np.uint8))))
    light = _measure(_jpeg(Image.new("RGB", (640, 480), (250, 250, 250))))
    flat = _measure(_jpeg(Image.new("RGB", (640, 480), (120, 90, 60))))
    normal = _measure(_jpeg(_photo()))
    assert dark.brightness < 0.13 < normal.brightness < 0.9 < light.brightness
    assert flat.entropy < 3.5 < normal.entropy


def test_dhash_near_duplicates_and_distinct_photos():
    a = _photo(seed=1)
    h1 = _measure(_jpeg(a, quality=95)).dhash
    h2 = _measure(_jpeg(a.resize((400, 300)), quality=50)).dhash  # re-encoded, smaller
    h3 = _measure(_jpeg(_photo(seed=2))).dhash
    assert hamming(h1, h2) <= 6 < hamming(h1, h3)
    assert -(1 << 63) <= h1 < (1 << 63), "fits PostgreSQL bigint"
    assert dhash(np.zeros((8, 9), np.uint8)) == 0


def test_corrupt_and_bomb_never_raise():
    data = _jpeg(_photo())
    cut = _measure(data[: len(data) // 3])  # truncated: either refused or (Pillow pads) measured, never raised
    assert cut.decode_error is not None or cut.sharpness is not None
    assert _measure(b"not an image at all").decode_error == "unrecognised format"
    bomb = measure_bytes(_jpeg(_photo(100, 100)), required_fields=[], max_pixels=5_000)
    assert bomb.decode_error and "exceeds" in bomb.decode_error and bomb.sharpness is None


def test_cleaned_exif_keeps_only_listed_non_personal_fields():
    src = Image.open(io.BytesIO(_jpeg(_photo(), _exif(gps=True, orientation=6)))).getexif()
    out = cleaned_exif(src, ["Make", "DateTimeOriginal", "GPSInfo", "BodySerialNumber"])
    im = Image.open(io.BytesIO(_jpeg(_photo(64, 48), out)))
    exif = im.getexif()
    assert exif[0x010F] == "Samsung" and exif[0x0112] == 1
    assert 0x0110 not in exif, "Model was not listed"
    assert 0x8825 not in exif and 0xA431 not in exif, "GPS and serial numbers never survive"
    assert exif.get_ifd(0x8769)[0x9003] == "2026:03:14 10:30:00"


def _config(**resize):
    from trainset.config import load_config

    cfg = load_config()
    refine = cfg.refine.model_copy(update={"resize": cfg.refine.resize.model_copy(update=resize)})
    return cfg.model_copy(update={"refine": refine})


def test_render_uprights_strips_and_resizes():
    photo = _photo(800, 600)
    stored = photo.transpose(Image.Transpose.ROTATE_90)  # sideways; orientation 6 turns it back
    data = _jpeg(stored, _exif(gps=True, orientation=6))
    out = render(data, _config(long_side=400))  # no detectors: nothing masked
    im = Image.open(io.BytesIO(out.data))
    assert im.size == (400, 300) and (out.width, out.height) == (400, 300)
    exif = im.getexif()
    assert exif.get(0x0112) == 1 and 0x8825 not in exif and 0xA431 not in exif
    ref = np.asarray(photo.resize((400, 300)).convert("L"), np.float32)
    assert np.abs(np.asarray(im.convert("L"), np.float32) - ref).mean() < 8


def test_resize_policies():
    im = _photo(800, 400)
    assert resize(im, ResizeSettings(long_side=200)).size == (200, 100)
    assert resize(im, ResizeSettings(long_side=2000)).size == (800, 400), "never upscaled by default"
    assert resize(im, ResizeSettings(long_side=2000, upscale=True)).size == (2000, 1000)
    box = resize(im, ResizeSettings(policy="letterbox", width=300, height=300))
    assert box.size == (300, 300)
    arr = np.asarray(box)
    assert arr[:70].max() == 0 and arr[-70:].max() == 0, "black bars above and below"
    crop = resize(im, ResizeSettings(policy="crop", width=300, height=300))
    assert crop.size == (300, 300) and np.asarray(crop)[:10].max() > 0


def test_render_masks_a_face_and_reports_it_in_original_coordinates():
    import skimage.data
    from trainset.refine.deid import Detectors

    cfg = _config(long_side=256)
    photo = Image.fromarray(skimage.data.astronaut())  # 512 x 512, one face near the top
    out = render(_jpeg(photo, _exif()), cfg, Detectors(cfg.refine.anonymize.model_copy(update={"plates": False})))
    faces = [d for d in out.detections if d.kind == "face"]
    assert len(faces) == 1
    f = faces[0]
    assert 150 < f.x + f.w / 2 < 300 and 50 < f.y + f.h / 2 < 200, f  # in the 512 px original's pixels
    masked = np.asarray(Image.open(io.BytesIO(out.data)).convert("L"), np.float32)
    plain = np.asarray(photo.resize((256, 256)).convert("L"), np.float32)
    box = (slice(f.y // 2, (f.y + f.h) // 2), slice(f.x // 2, (f.x + f.w) // 2))
    assert np.abs(masked[box] - plain[box]).mean() > 5, "the face area changed"
    assert np.abs(masked[200:, :] - plain[200:, :]).mean() < 6, "the rest did not"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_working_image_is_upright_for_every_orientation(orientation):
    """The gate's grayscale is turned the same way Pillow's transposes turn the output."""
    from trainset.refine.measure import TRANSPOSE, working_gray

    photo = _photo(300, 200).convert("L")
    stored = photo
    inverse = {6: 8, 8: 6}.get(orientation, orientation)  # every other transpose is its own inverse
    if inverse in TRANSPOSE:
        stored = photo.transpose(TRANSPOSE[inverse])
    buf = io.BytesIO()
    stored.save(buf, "PNG")
    gray = working_gray(Image.open(io.BytesIO(buf.getvalue())), orientation)
    assert np.array_equal(gray, np.asarray(photo)), orientation
