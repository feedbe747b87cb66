"""EXIF: read from the header without decoding pixels, judge the capture time, and build a cleaned EXIF block.

Only tags a project lists in ``refine.exif.keep_fields`` survive into the outputs, and never a personal one (GPS,
owner, serial numbers, maker notes), whatever the list says: a typo in the project file must not leak a location.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from PIL import ExifTags, Image

EXIF_IFD = ExifTags.IFD.Exif.value
GPS_IFD = ExifTags.IFD.GPSInfo.value
ORIENTATION = ExifTags.Base.Orientation.value
_TAG_IDS = {t.name: t.value for t in ExifTags.Base}
_TAG_NAMES = {t.value: t.name for t in ExifTags.Base}
# Tags that name or locate a person or a device, never copied to an output (maker notes may hold serials too).
PERSONAL_TAGS = frozenset({
    "GPSInfo", "Artist", "CameraOwnerName", "BodySerialNumber", "LensSerialNumber", "ImageUniqueID", "MakerNote",
    "UserComment", "Copyright", "HostComputer", "XPAuthor", "XPComment", "ImageDescription", "SerialNumber",
    "InteropOffset", "ExifOffset", "Software",
})
DATE_TAGS = ("DateTimeOriginal", "DateTimeDigitized", "DateTime")
_DATE_RE = re.compile(r"^\s*(\d{4})[:\-/.](\d{2})[:\-/.](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


@dataclass
class ExifInfo:
    orientation: int = 1
    capture_time_raw: str | None = None  # the first date tag present, as written
    capture_time: dt.datetime | None = None  # parsed, timezone-aware (project time zone when the file has none)
    make: str | None = None
    model: str | None = None
    has_gps: bool = False
    fields: dict[str, str] = field(default_factory=dict)  # the tags read, by name (for required-field checks)
    error: str | None = None  # the EXIF block could not be parsed (the image itself may be fine)


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", "").strip()
    return text or None


def parse_exif_datetime(raw: str, tz: dt.tzinfo) -> dt.datetime | None:
    """``YYYY:MM:DD HH:MM:SS`` (and the usual separator variants) → aware datetime; None when unparseable."""
    m = _DATE_RE.match(raw or "")
    if not m:
        return None
    try:
        value = dt.datetime(*(int(g) for g in m.groups()))
    except ValueError:  # 0000:00:00, month 13, ...
        return None
    return value.replace(tzinfo=tz)


def read_exif(im: Image.Image, timezone: str = "Asia/Seoul", wanted: list[str] | tuple = ()) -> ExifInfo:
    """EXIF of an opened (not decoded) image: orientation, capture time, make, model, GPS presence, and the tags
    named in ``wanted`` (only those are read, so a photo with hundreds of maker tags costs no more).  Broken EXIF
    never raises: it is reported in ``error``."""
    info = ExifInfo()
    names = {"Make", "Model", *DATE_TAGS, *wanted}
    try:
        exif = im.getexif()
        try:
            sub = exif.get_ifd(EXIF_IFD) if EXIF_IFD in exif else {}
        except Exception:  # noqa: BLE001 - a broken sub-IFD loses its tags, not the image
            sub = {}
        fields: dict[str, str] = {}
        for name in names:
            tag = _TAG_IDS.get(name)
            if tag is None:
                continue
            value = exif.get(tag)
            if value is None:
                value = sub.get(tag)
            if (text := _text(value)) is not None:
                fields[name] = text[:200]
        # The GPS IFD pointer is enough to know there is a location to strip; parsing it would cost time.
        info.has_gps = GPS_IFD in exif
        try:
            info.orientation = int(exif.get(ORIENTATION, 1) or 1)
        except (TypeError, ValueError):
            info.orientation = 1
        if info.orientation not in range(1, 9):
            info.orientation = 1
        info.fields = fields
    except Exception as err:  # noqa: BLE001 - Pillow raises many types on hostile EXIF
        info.error = f"{type(err).__name__}: {err}"[:200]
        return info
    info.make, info.model = fields.get("Make"), fields.get("Model")
    for name in DATE_TAGS:
        if raw := fields.get(name):
            info.capture_time_raw = raw
            info.capture_time = parse_exif_datetime(raw, ZoneInfo(timezone))
            break
    return info


def missing_required(info: ExifInfo, required: list[str]) -> list[str]:
    """Required tags absent or blank (date tags are judged by the capture-time rules instead)."""
    return [name for name in required if name not in DATE_TAGS and not info.fields.get(name)]


def cleaned_exif(source: Image.Exif | None, keep_fields: list[str]) -> Image.Exif:
    """A new EXIF block with only the kept, non-personal tags, and orientation reset to 1 (pixels are upright)."""
    out = Image.Exif()
    out[ORIENTATION] = 1
    if source is None:
        return out
    keep = {name for name in keep_fields if name not in PERSONAL_TAGS and name in _TAG_IDS}
    try:
        sub = source.get_ifd(EXIF_IFD)
    except Exception:  # noqa: BLE001
        sub = {}
    out_sub = out.get_ifd(EXIF_IFD)
    for name in sorted(keep):
        tag = _TAG_IDS[name]
        try:
            if tag in source and tag != ORIENTATION:
                out[tag] = source[tag]
            elif tag in sub:
                out_sub[tag] = sub[tag]
        except Exception:  # noqa: BLE001 - an unserialisable value is dropped, not fatal
            continue
    return out
