"""The viewer draws Korean class names with real Hangul glyphs (checked on pixels), boxes and polygons, and a
gallery with contact sheets per class, worker and reason."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw
from trainset.config import load_config
from trainset.inspection.viewer import ViewItem, _font, build_gallery, draw_label, hangul_font_path, render
from trainset_dev.seeds.inspection import make_payload

DEJAVU = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"  # no Hangul in it


def _text_pixels(font_path: Path, text: str) -> np.ndarray:
    canvas = Image.new("RGB", (200, 50), (255, 255, 255))
    draw_label(ImageDraw.Draw(canvas), (10, 10), text, _font(str(font_path), 24), (255, 255, 255))
    return np.asarray(canvas.convert("L"))


def test_the_shipped_font_has_hangul_glyphs():
    nanum = hangul_font_path()
    assert nanum.name == "NanumGothic.ttf"
    person, animal = _text_pixels(nanum, "사람"), _text_pixels(nanum, "동물")
    assert (person < 128).sum() > 80  # ink on the canvas
    assert (person != animal).sum() > 50  # two different words look different: real glyphs, not tofu
    # A font without Hangul draws the same placeholder box for every syllable: identical pixels.
    assert (_text_pixels(DEJAVU, "사람") == _text_pixels(DEJAVU, "동물")).all()


def test_render_draws_boxes_polygons_and_the_korean_class_name():
    config = load_config()
    image = Image.new("RGB", (320, 240), (255, 255, 255))
    payload = make_payload("k", "k.jpg", "person", 320, 240)
    drawn = np.asarray(render(image, payload, config=config))
    tofu = np.asarray(render(image, payload, config=config, font_path=DEJAVU))
    box_edge = drawn[6 + 60, 4:6]  # 2 px left edge of the bbox [4, 6, 160, 120] halfway down
    assert (box_edge != 255).any(axis=-1).all()
    assert (drawn[100, 250] != 255).any()  # inside the polygon: tinted
    # The name tag "사람 person" sits above the box; with a Hangul-less font the tag's pixels differ.
    tag = (slice(0, 40), slice(0, 160))
    assert (drawn[tag] != tofu[tag]).any(axis=-1).sum() > 40


def test_gallery_has_sheets_per_class_worker_reason_and_an_html_page(tmp_path):
    config = load_config()
    items = []
    for n, (cls, worker, reason) in enumerate([("person", "w1", "annotation: box_loose"),
                                               ("animal", "w1", "annotation: wrong_class"),
                                               ("food", "w2", "image: blurred")]):
        path = tmp_path / f"{n}.jpg"
        Image.new("RGB", (160, 120), (40 * n, 90, 200)).save(path)
        items.append(ViewItem(f"item{n}", path, make_payload(f"item{n}", path.name, cls, 160, 120), cls, worker,
                              reason, "코멘트"))
    items.append(ViewItem("missing", tmp_path / "nope.jpg", {}, "object", "w2", None))
    page = build_gallery(items, tmp_path / "gallery", config=config)
    text = page.read_text(encoding="utf-8")
    assert "사람 person" in text and "코멘트" in text and "Unreadable" in text
    sheets = sorted(p.name for p in (tmp_path / "gallery" / "sheets").iterdir())
    assert len([s for s in sheets if s.startswith("class_")]) == 4
    assert len([s for s in sheets if s.startswith("worker_")]) == 2
    assert len([s for s in sheets if s.startswith("reason_")]) == 4  # three reasons and "(none)"
    for sheet in sheets:
        assert f"sheets/{sheet}" in text
        with Image.open(tmp_path / "gallery" / "sheets" / sheet) as im:
            assert np.asarray(im.convert("L")).std() > 5  # not a blank image
    assert len(list((tmp_path / "gallery" / "items").iterdir())) == 4


@pytest.mark.parametrize("missing", ["/nonexistent/font.ttf"])
def test_a_configured_font_that_is_missing_is_a_clear_error(missing):
    from trainset.inspection.viewer import FontError

    with pytest.raises(FontError, match="does not exist"):
        hangul_font_path(missing)
