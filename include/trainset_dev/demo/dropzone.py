"""The demo drop zone: real photographs shipped inside PyPI packages, plus the variants a real intake meets.

Photos come from scikit-image's bundled data and matplotlib's sample data (no download), so nothing binary is
committed.  Each photo is cut into a few distinct views (crops, mirror) so a class has several images; then the
variants: exact duplicates, a near-duplicate re-encode, a blurred shot, a photo with camera EXIF and GPS, a
rotated-orientation photo, a corrupt (truncated) file, a file with the wrong extension, and an unknown class.
Among the object photos sit three illustrations (scikit-image's logo and horse silhouette, matplotlib's logo),
which refine's domain_outlier check flags for review.
``expected`` tells what each file should become, so the demo and the tests can check it.
"""

from __future__ import annotations

import datetime as dt
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

DEMO_CAPTURE_DATE = dt.datetime(2026, 3, 14, 10, 30, 0)


@dataclass(frozen=True)
class DemoFile:
    key: str  # path under the drop zone, <class>/<file>
    expected: str  # what collect should do: raw | duplicate | quarantine:<reason>
    note: str


def _photos() -> dict[str, list[tuple[str, np.ndarray]]]:
    """Real photographs by demo class, from packages that ship them."""
    warnings.filterwarnings("ignore", module="skimage")
    import matplotlib.cbook as cbook
    import skimage.data as data

    def rgb(a: np.ndarray) -> np.ndarray:
        return np.stack([a] * 3, axis=-1) if a.ndim == 2 else a[..., :3]

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = np.asarray(Image.open(fh).convert("RGB"))
    return {
        "person": [("astronaut", data.astronaut()), ("cameraman", rgb(data.camera())), ("grace_hopper", hopper)],
        "animal": [("chelsea", data.chelsea())],
        "vehicle": [("rocket", data.rocket()), ("motorcycle", data.stereo_motorcycle()[0])],
        "food": [("coffee", data.coffee())],
        "object": [("clock", rgb(data.clock())), ("coins", rgb(data.coins())),
                   ("hubble", data.hubble_deep_field())],
    }


def _views(name: str, pixels: np.ndarray) -> list[tuple[str, Image.Image]]:
    """A few clearly different views of one photo: the whole frame, a mirror, and two offset crops."""
    im = Image.fromarray(pixels).convert("RGB")
    w, h = im.size
    cw, ch = int(w * 0.8), int(h * 0.8)
    return [
        (f"{name}", im),
        (f"{name}_mirror", im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        (f"{name}_crop_a", im.crop((0, 0, cw, ch))),
        (f"{name}_crop_b", im.crop((w - cw, h - ch, w, h)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    ]


def _exif(make: str = "Samsung", model: str = "SM-S918N", when: dt.datetime = DEMO_CAPTURE_DATE,
          gps: tuple[float, float] | None = None, orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    exif[0x0112] = orientation
    exif[0x0132] = when.strftime("%Y:%m:%d %H:%M:%S")
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = when.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    if gps is not None:
        def dms(value: float):
            value = abs(value)
            d = int(value)
            m = int((value - d) * 60)
            s = round(((value - d) * 60 - m) * 60, 2)
            return (float(d), float(m), float(s))

        g = exif.get_ifd(0x8825)
        g[1], g[2] = ("N" if gps[0] >= 0 else "S"), dms(gps[0])
        g[3], g[4] = ("E" if gps[1] >= 0 else "W"), dms(gps[1])
    return exif


def _jpeg(im: Image.Image, exif: Image.Exif | None = None, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, exif=exif if exif is not None else _exif())
    return buf.getvalue()


def _illustrations() -> list[tuple[str, Image.Image]]:
    """Drawings and logos bundled with the packages (not photos): composited on white, at least 320x240."""
    import matplotlib
    import skimage.data as data

    def on_white(im: Image.Image, size: tuple[int, int] | None = None) -> Image.Image:
        im = im.convert("RGBA")
        canvas = Image.new("RGB", size or im.size, "white")
        canvas.paste(im, ((canvas.width - im.width) // 2, (canvas.height - im.height) // 2), im)
        return canvas

    mpl_logo = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "logo2.png")
    return [("skimage_logo", on_white(Image.fromarray(data.logo()))),
            ("horse_silhouette", on_white(Image.fromarray(np.where(data.horse(), 255, 0).astype(np.uint8)))),
            ("matplotlib_logo", on_white(mpl_logo, (mpl_logo.width + 40, 320)))]


def build_files() -> list[tuple[DemoFile, bytes]]:
    files: list[tuple[DemoFile, bytes]] = []
    minute = 0
    for class_name, photos in _photos().items():
        for name, pixels in photos:
            for view_name, view in _views(name, pixels):
                minute += 7
                when = DEMO_CAPTURE_DATE + dt.timedelta(minutes=minute)
                files.append((DemoFile(f"{class_name}/{view_name}.jpg", "raw", "real photo"),
                              _jpeg(view, _exif(when=when))))
    for i, (name, im) in enumerate(_illustrations()):
        buf = io.BytesIO()
        im.save(buf, "PNG", exif=_exif(when=DEMO_CAPTURE_DATE + dt.timedelta(hours=6, minutes=i)))
        files.append((DemoFile(f"object/{name}.png", "raw", "illustration among photos (refine flags "
                                                             "domain_outlier for review)"), buf.getvalue()))
    by_key = {f.key: data for f, data in files}
    astronaut = Image.open(io.BytesIO(by_key["person/astronaut.jpg"]))
    coffee = by_key["food/coffee.jpg"]
    rocket = Image.open(io.BytesIO(by_key["vehicle/rocket.jpg"]))
    chelsea = Image.open(io.BytesIO(by_key["animal/chelsea.jpg"]))
    hopper = Image.open(io.BytesIO(by_key["person/grace_hopper.jpg"]))
    files += [
        (DemoFile("food/coffee_copy.jpg", "duplicate", "exact duplicate, another name"), coffee),
        (DemoFile("object/coffee_misfiled.jpg", "duplicate", "exact duplicate in another class folder"), coffee),
        (DemoFile("vehicle/rocket_reencoded.jpg", "raw", "near duplicate: re-encoded at quality 60 (refine rejects)"),
         _jpeg(rocket, _exif(when=DEMO_CAPTURE_DATE + dt.timedelta(hours=2)), quality=60)),
        (DemoFile("animal/chelsea_blurred.jpg", "raw", "blurred shot (refine rejects)"),
         _jpeg(chelsea.filter(ImageFilter.GaussianBlur(6)), _exif(when=DEMO_CAPTURE_DATE + dt.timedelta(hours=3)))),
        (DemoFile("person/hopper_gps.jpg", "raw", "camera EXIF with GPS (refine strips it)"),
         _jpeg(hopper.crop((60, 40, 500, 560)), _exif("Canon", "Canon EOS R6", DEMO_CAPTURE_DATE
                                                       + dt.timedelta(hours=4), gps=(37.5665, 126.9780)))),
        (DemoFile("person/astronaut_rotated.jpg", "raw", "stored sideways with EXIF orientation 6 (refine uprights)"),
         _jpeg(astronaut.crop((64, 0, 512, 448)).transpose(Image.Transpose.ROTATE_90),
               _exif(when=DEMO_CAPTURE_DATE + dt.timedelta(hours=5), orientation=6))),
        (DemoFile("vehicle/rocket_truncated.jpg", "quarantine:truncated", "transfer cut off half way"),
         by_key["vehicle/rocket.jpg"][: len(by_key["vehicle/rocket.jpg"]) // 2]),
        (DemoFile("object/clock_really_png.jpg", "raw", "PNG bytes named .jpg (format from magic bytes)"),
         _png(Image.open(io.BytesIO(by_key["object/clock.jpg"])))),
        (DemoFile("object/notes.txt", "quarantine:unknown_format", "not an image"),
         "촬영 메모: 3월 14일 오전 촬영분\n".encode()),
        (DemoFile("object/empty.jpg", "quarantine:zero_byte", "zero-byte upload"), b""),
        (DemoFile("furniture/chair.jpg", "quarantine:unknown_class", "class folder not in the taxonomy"),
         _jpeg(Image.open(io.BytesIO(by_key["object/coins.jpg"])).rotate(180))),
    ]
    return files


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def build_drop_zone(root: Path) -> list[DemoFile]:
    """Write the demo files under ``root`` (atomically; existing identical files are left alone)."""
    from trainset.storage import LocalStorage

    store = LocalStorage(root)
    made = []
    for demo_file, data in build_files():
        if not (store.exists(demo_file.key) and store.read_bytes(demo_file.key) == data):
            store.write_bytes(demo_file.key, data)
        made.append(demo_file)
    return made
