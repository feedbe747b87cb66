"""refine on the real-world corpus (../shared/corpus; skipped when absent): orientation, GPS, hostile files."""

from __future__ import annotations

import io
import resource
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.corpus


def _config(*, detectors: bool, long_side: int = 400):
    from trainset.config import load_config

    cfg = load_config()
    refine = cfg.refine.model_copy(update={
        "resize": cfg.refine.resize.model_copy(update={"long_side": long_side}),
        "anonymize": cfg.refine.anonymize.model_copy(update={"faces": detectors, "plates": detectors}),
    })
    return cfg.model_copy(update={"refine": refine})


def _gray(data: bytes, size=(120, 80)) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L").resize(size), np.float32)


@pytest.mark.parametrize("shape", ["Landscape", "Portrait"])
def test_every_orientation_comes_out_upright(corpus, shape):
    """Each photo paints its digit upright once its orientation is applied: after refine they all match the
    orientation-1 photo, except for the digit itself (a small part of the frame)."""
    from trainset.refine.render import render

    cfg = _config(detectors=False)
    folder = corpus / "exif" / "orientation"
    reference = render((folder / f"{shape}_1.jpg").read_bytes(), cfg)
    size = (120, 80) if shape == "Landscape" else (80, 120)
    ref = _gray(reference.data, size)
    expected_wh = (400, 267) if shape == "Landscape" else (267, 400)
    assert (reference.width, reference.height) == expected_wh
    for n in range(0, 9):
        out = render((folder / f"{shape}_{n}.jpg").read_bytes(), cfg)
        assert (out.width, out.height) == expected_wh, n
        diff = np.abs(_gray(out.data, size) - ref).mean()
        assert diff < 6, f"{shape}_{n}: mean difference {diff:.1f} from the upright photo"
        assert Image.open(io.BytesIO(out.data)).getexif().get(0x0112) == 1


def test_png_exif_orientation_and_tiny_flipped_images(corpus):
    from trainset.refine.render import render

    cfg = _config(detectors=False, long_side=2000)
    folder = corpus / "exif" / "orientation"
    assert render((folder / "file-landscape6.png").read_bytes(), cfg).width == 640
    for name in ("1x2-flipped-big-endian.jpg", "1x2-flipped-little-endian.jpg"):
        out = render((folder / name).read_bytes(), cfg)
        assert (out.width, out.height) == (2, 1), name


def test_no_output_keeps_gps(corpus, tmp_path):
    from trainset.refine.local import refine_files

    inputs = [corpus / "exif" / "gps", corpus / "exif" / "camera", corpus / "faces" / "face" / "yolov5_bus.jpg"]
    records = list(refine_files(inputs, tmp_path, _config(detectors=False), write_all=True))
    assert any(r["measurements"]["has_gps"] for r in records), "the corpus has GPS photos"
    written = [r for r in records if r["output"]]
    assert len(written) >= len(records) - 2
    for r in written:
        exif = Image.open(r["output"]).getexif()
        assert 0x8825 not in exif and not exif.get_ifd(0x8825), r["input"]
        assert 0xA431 not in exif and 0x927C not in exif.get_ifd(0x8769), "no serial number, no maker note"


def test_hostile_files_end_passed_or_rejected_with_a_reason(corpus, tmp_path):
    from trainset.refine.local import refine_files

    inputs = [corpus / "edge_cases", corpus / "exif" / "broken_exif", corpus / "quality" / "odd_size"]
    records = list(refine_files(inputs, tmp_path, _config(detectors=True), write_all=False))
    files = [p for d in inputs for p in d.rglob("*") if p.is_file() and p.name not in ("MANIFEST.tsv", "SHA256SUMS")]
    assert len(records) == len(files)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mib < 2048, f"peak RSS {peak_mib:.0f} MiB: a bomb was decoded"
    for r in records:
        assert r["verdict"] in ("passed", "rejected"), r
        if r["verdict"] == "rejected":
            assert r["reason_codes"], r
        else:
            assert r["output"] and Path(r["output"]).is_file() and "render_error" not in r, r
    by_name = {Path(r["input"]).name: r for r in records}
    for bomb in ("16384x16384.png", "giant-image.jpg"):
        assert "corrupt" in by_name[bomb]["reason_codes"] or "too_large" in by_name[bomb]["reason_codes"]
    assert "corrupt" in by_name["corrupt-header.jpg"]["reason_codes"]
