"""Format sniffing, header checks and hashing on generated files with known answers."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import pytest
from PIL import Image
from trainset.imagefile import extension_matches, inspect_image, sha256_stream, sniff_format

ALLOWED = {"jpeg", "png", "webp", "tiff", "bmp"}


def encode(fmt: str, size=(64, 48), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (200, 30, 30)).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,name", [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp"), ("TIFF", "tiff"),
                                      ("BMP", "bmp"), ("GIF", "gif")])
def test_sniff_real_encodings(fmt, name):
    assert sniff_format(encode(fmt)[:32]) == name


def test_sniff_unknown_and_containers():
    assert sniff_format(b"hello world") is None
    assert sniff_format(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00") == "heic"
    assert sniff_format(b"\x00\x00\x00\x1cftypavif") == "avif"
    assert sniff_format(b"%PDF-1.7") == "pdf"


def test_extension_is_checked_against_the_sniffed_format():
    assert extension_matches("a/photo.JPG", "jpeg")
    assert not extension_matches("a/photo.jpg", "png")
    assert not extension_matches("noext", "jpeg")


def test_sha256_stream_matches_hashlib_and_reports_size():
    data = bytes(range(256)) * 5000
    digest, size, head = sha256_stream(io.BytesIO(data), chunk=4096)
    assert digest == hashlib.sha256(data).hexdigest() and size == len(data) and head == data[:32]


def test_good_image_is_accepted_with_dimensions():
    result = inspect_image(encode("PNG", (300, 200)), allowed_formats=ALLOWED, max_pixels=10**6)
    assert (result.reason, result.format, result.width, result.height) == (None, "png", 300, 200)


@pytest.mark.parametrize("data,reason", [
    (b"", "zero_byte"),
    (b"just some text, not an image", "unknown_format"),
])
def test_reasons_for_non_images(data, reason):
    assert inspect_image(data, allowed_formats=ALLOWED, max_pixels=10**6).reason == reason


def test_gif_is_unsupported_when_not_in_the_spec():
    assert inspect_image(encode("GIF"), allowed_formats=ALLOWED, max_pixels=10**6).reason == "unsupported_format"


def test_truncated_jpeg_is_caught():
    data = encode("JPEG", (640, 480))
    assert inspect_image(data[: len(data) // 2], allowed_formats=ALLOWED, max_pixels=10**7).reason == "truncated"


def test_png_with_bad_crc_is_corrupt():
    data = bytearray(encode("PNG", (64, 64)))
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF  # flip bits inside the compressed pixel data
    assert inspect_image(bytes(data), allowed_formats=ALLOWED, max_pixels=10**7).reason in ("corrupt", "truncated")


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge canvas: the shape of a decompression bomb."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_bomb_is_rejected_from_the_header_before_decoding():
    result = inspect_image(_png_header_only(50_000, 50_000), allowed_formats=ALLOWED, max_pixels=80_000_000)
    assert result.reason == "decompression_bomb" and "exceeds" in result.detail


def test_bomb_under_pillows_limit_but_over_ours_reports_the_header_size():
    result = inspect_image(_png_header_only(10_000, 9_000), allowed_formats=ALLOWED, max_pixels=80_000_000)
    assert result.reason == "decompression_bomb" and (result.width, result.height) == (10_000, 9_000)


def test_config_pixel_limit_applies_below_pillows_own():
    result = inspect_image(encode("PNG", (400, 300)), allowed_formats=ALLOWED, max_pixels=100_000)
    assert result.reason == "decompression_bomb"
