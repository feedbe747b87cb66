"""Licence plates (``trainset.refine.deid.plates`` and the plate half of ``detect``): the second look's crop, and
what it confirms on a real photo with the model shipped in the platedet wheel."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from trainset.config import AnonymizeSettings
from trainset.refine.deid import Detection, Detectors
from trainset.refine.deid.plates import verify_crop
from trainset_dev.deid_eval import Case, load_rgb, score_case


def candidate(x: int, y: int, w: int, h: int) -> Detection:
    return Detection("plate", x, y, w, h, 0.01, "")


def test_the_second_look_crop_is_centred_context_times_as_wide_and_aspect_times_as_tall():
    # centre (440, 310); side = 1.5 * 80 = 120 wide, 0.625 * 120 = 75 tall; rounded outwards
    assert verify_crop(candidate(400, 300, 80, 20), 1.5, 0.625, 1280, 720) == (380, 272, 500, 348)


def test_a_box_narrower_than_twice_its_height_gets_a_crop_as_wide_as_a_plate_of_that_height():
    # a square box (a motorcycle plate, or one cut short by detection): side = 2 * 2 * 20 = 80
    assert verify_crop(candidate(100, 100, 20, 20), 2.0, 0.5, 1000, 1000) == (70, 90, 150, 130)


def test_the_second_look_crop_is_clipped_to_the_photo():
    # side 60 around (20, 10): runs off the top-left corner
    assert verify_crop(candidate(0, 0, 40, 20), 1.5, 0.625, 100, 100) == (0, 0, 50, 29)
    x0, y0, x1, y1 = verify_crop(candidate(90, 95, 10, 5), 3.0, 0.75, 100, 100)
    assert (x1, y1) == (100, 100) and x0 < 90 and y0 < 95


def test_the_crop_aspect_is_a_share_of_the_width():
    with pytest.raises(ValidationError):
        AnonymizeSettings(plate_verify_aspect=0)
    with pytest.raises(ValidationError):
        AnonymizeSettings(plate_verify_aspect=1.5)


@pytest.mark.corpus
@pytest.mark.slow
def test_a_van_plate_high_in_a_wide_photo_is_confirmed_by_the_tight_second_look_only(corpus):
    """openalpr's 21d8c31d: a plate 58 px wide on a white van near the top of a 1280x720 photo.  The whole-photo
    pass scores it 0.005 (a candidate, not a plate); the second look on a crop the plate fills two thirds of
    confirms it, one on a crop of three times the box (the setting before) scores it nothing."""
    rgb = load_rgb(corpus / "plates" / "us" / "21d8c31d-3deb-494b-9c63-c0223306fd82.jpg")
    case = Case(corpus / "plates" / "us" / "21d8c31d-3deb-494b-9c63-c0223306fd82.jpg")
    case.boxes["plate"] = [(698, 85, 58, 29)]
    settings = AnonymizeSettings(faces=False)
    found = Detectors(settings).detect(rgb)
    result = score_case(case, found, settings.margin, rgb.shape[1], rgb.shape[0])
    assert result.masked["plate"] == 1, found
    assert any(d.detector.endswith(f"+zoom{settings.plate_verify_long_side}") for d in found), found
    wide = settings.model_copy(
        update={"plate_verify_context": 3.0, "plate_verify_aspect": 0.75, "plate_verify_long_side": 320}
    )
    found_wide = Detectors(wide).detect(rgb)
    assert score_case(case, found_wide, settings.margin, rgb.shape[1], rgb.shape[0]).masked["plate"] == 0
