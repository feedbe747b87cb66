"""What a file really is: format from magic bytes, dimensions from the header, and whether it decodes.

The header is read before any pixel is decoded, so a decompression bomb (a small file whose header claims a
huge canvas) is rejected without allocating its pixels.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass, field
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

# Magic numbers: (offset, bytes) -> format. Order matters only where prefixes overlap.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (0, b"BM", "bmp"),
    (0, b"\x00\x00\x01\x00", "ico"),
    (0, b"%PDF", "pdf"),
    (0, b"PK\x03\x04", "zip"),
)
_EXTENSIONS = {
    "jpeg": {".jpg", ".jpeg", ".jpe", ".jfif"}, "png": {".png"}, "gif": {".gif"}, "tiff": {".tif", ".tiff"},
    "bmp": {".bmp", ".dib"}, "webp": {".webp"}, "heic": {".heic", ".heif"}, "avif": {".avif"},
}
# Pillow's own names for the formats we sniff.
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "tiff": "TIFF", "bmp": "BMP", "webp": "WEBP"}
HEADER_BYTES = 32


def sniff_format(head: bytes) -> str | None:
    """The container format from the first bytes of a file, or None if unknown."""
    for offset, magic, name in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "heic"
        if brand in (b"avif", b"avis"):
            return "avif"
    return None


def extension_matches(name: str, fmt: str | None) -> bool:
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    return fmt is not None and suffix in _EXTENSIONS.get(fmt, set())


def sha256_stream(stream: BinaryIO, chunk: int = 1 << 20) -> tuple[str, int, bytes]:
    """sha256, size and the first bytes of a stream, read once."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    while block := stream.read(chunk):
        if not head:
            head = block[:HEADER_BYTES]
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size, head


@dataclass
class Inspection:
    format: str | None
    width: int | None = None
    height: int | None = None
    reason: str | None = None  # reason code when the file cannot be accepted
    detail: str = ""
    warnings: list[str] = field(default_factory=list)


def inspect_image(data: bytes, *, allowed_formats: set[str], max_pixels: int, verify_decode: bool = True) -> Inspection:
    """Sniff, read the header, refuse bombs before decoding, then decode to catch truncation and corruption."""
    if not data:
        return Inspection(None, reason="zero_byte", detail="file is empty")
    fmt = sniff_format(data[:HEADER_BYTES])
    if fmt is None:
        return Inspection(None, reason="unknown_format", detail=f"unrecognised magic bytes {data[:8].hex()}")
    if fmt not in allowed_formats:
        return Inspection(fmt, reason="unsupported_format", detail=f"{fmt} is not in the project's image formats")
    with warnings.catch_warnings():
        # Our own limit decides; Pillow's DecompressionBombWarning would only add noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            # formats=: decode as the sniffed format only, never let Pillow guess from other plugins.
            with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[fmt]] if fmt in _PIL_FORMATS else None) as im:
                width, height = im.size
                if width <= 0 or height <= 0:
                    return Inspection(fmt, reason="corrupt", detail=f"header claims {width}x{height}")
                if width * height > max_pixels:
                    return Inspection(fmt, width, height, reason="decompression_bomb",
                                      detail=f"header claims {width}x{height} = {width * height} px > {max_pixels}")
                if verify_decode:
                    if fmt == "jpeg":
                        # A 1/8-scale decode still walks the whole entropy-coded stream, so truncation shows.
                        im.draft(im.mode, (max(1, width // 8), max(1, height // 8)))
                    im.load()  # first frame only: multi-frame files (MPO, animated) are taken as stills
        except Image.DecompressionBombError as err:
            return Inspection(fmt, reason="decompression_bomb", detail=str(err))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError,
                TypeError, ZeroDivisionError, struct.error) as err:
            text = str(err) or type(err).__name__
            reason = "truncated" if "truncated" in text.lower() else "corrupt"
            return Inspection(fmt, reason=reason, detail=f"{type(err).__name__}: {text}"[:500])
    return Inspection(fmt, width, height)
