"""De-identification recall on real photos (../shared/corpus) with the project's configured settings.

Targets from issue 11, per set: >= 97% of plates with >= 80% of their ground-truth area masked on each of
``plates/us``, ``plates/br`` and ``plates/eu`` (faces/plates/eu); >= 97% of listed faces; under 0.5 false
detections per image.  What "masked", "covered" and "false" mean is defined in ``trainset_dev.deid_eval``.
One detection pass over the corpus serves every assertion (module fixture).
"""

from __future__ import annotations

import pytest
from trainset.config import get_config
from trainset.refine.deid import Detectors, mask_as_configured
from trainset_dev.deid_eval import evaluate, load_corpus_sets, load_rgb
from trainset_dev.deid_small_faces import small_face_sheets

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

PLATE_SETS = ("plates/us", "plates/br", "plates/eu")


@pytest.fixture(scope="module")
def settings():
    return get_config().refine.anonymize


@pytest.fixture(scope="module")
def evaluation(corpus, settings):
    detectors = Detectors(settings)
    sets = {
        **load_corpus_sets(corpus),
        "faces/small": small_face_sheets(corpus),
        "faces/small@1024": small_face_sheets(corpus, sheet_width=1024),
    }
    return {name: evaluate(cases, detectors) for name, cases in sets.items()}


def test_the_corpus_is_what_the_figures_are_about(evaluation):
    assert evaluation["faces"][0]["face_images"] == 15 and evaluation["faces"][0]["faces_listed"] == 16
    listed = {name: evaluation[name][0]["plates_listed"] for name in PLATE_SETS}
    assert listed == {"plates/us": 121, "plates/br": 38, "plates/eu": 108}
    assert {name: evaluation[name][0]["images"] for name in PLATE_SETS} == listed  # one plate per photo


@pytest.mark.parametrize("name", PLATE_SETS)
def test_plate_coverage_at_least_97_percent_on_each_set(evaluation, name):
    summary, results = evaluation[name]
    missed = [r.path.name for r in results if r.masked["plate"] < r.listed["plate"]]
    assert summary["plate_coverage"] >= 0.97, (name, missed)


def test_face_recall_at_least_97_percent(evaluation):
    summary, results = evaluation["faces"]
    missed = [r.path.name for r in results if r.masked["face"] < r.listed["face"]]
    assert summary["face_recall"] >= 0.97, missed


def test_small_faces_down_to_10px_are_masked_by_the_zoomed_look(evaluation):
    """Sheets of the corpus's face photos reduced until their faces are 10-20 px wide: issue 11 asks for 97% down
    to 10 px (measured 50/50 with CenterFace and its zoomed look, 24/50 with the settings before the issue)."""
    summary, results = evaluation["faces/small"]
    per_width = {r.path.name: r.masked["face"] for r in results}
    assert summary["faces_listed"] == 50 and summary["face_recall"] >= 0.97, per_width
    assert per_width["small_faces_10px"] >= 9, per_width
    assert summary["false_per_image"] < 0.5, summary["false_detections"]
    zoomed = [d for r in results for d in r.detections if "+zoom" in d.detector]
    assert zoomed and all(d.kind == "face" and d.detector.startswith("centerface-") for d in zoomed)


def test_small_faces_in_a_wider_photo_are_still_found(evaluation):
    """The same faces on 1024 px sheets: the first pass at 640 sees them at 6-12 px, the crowd look brings them
    back (measured 49/50)."""
    summary, results = evaluation["faces/small@1024"]
    per_width = {r.path.name: r.masked["face"] for r in results}
    assert summary["face_recall"] >= 0.9, per_width
    assert summary["false_per_image"] < 0.5, summary["false_detections"]


def test_faces_with_ground_truth_boxes_are_covered_whole(evaluation):
    # The three photos whose source gives a box (dlib's face_locations), one of them cut by the left border.
    _, results = evaluation["faces"]
    boxed = [(r.path.name, fraction) for r in results for kind, fraction in r.coverage if kind == "face"]
    assert len(boxed) == 3
    assert all(fraction >= 0.95 for _, fraction in boxed), boxed


@pytest.mark.parametrize("name", ["faces", *PLATE_SETS])
def test_under_half_a_false_detection_per_image(evaluation, name):
    summary, _ = evaluation[name]
    assert summary["false_per_image"] < 0.5, summary["false_detections"]


def test_plates_only_the_zoomed_second_look_found_are_recorded_as_such(evaluation):
    # Audit rows name the model that produced each box: second-look boxes carry "+zoom<side>".
    detections = [d for name in PLATE_SETS for r in evaluation[name][1] for d in r.detections]
    zoomed = [d for d in detections if "+zoom" in d.detector]
    assert zoomed and all(d.kind == "plate" and d.detector.startswith("platedet-") for d in zoomed)


def test_negative_photos_have_no_face_found(evaluation):
    for result in evaluation["faces"][1]:
        if result.path.name in {"thumbor_no_face.jpg", "sharp_concert.jpg"}:
            assert [d for d in result.detections if d.kind == "face"] == [], result.path.name


def test_masked_faces_are_not_faces_to_a_second_pass(evaluation, settings):
    """Once masked with the configured mode, margin and grain, a face gives the face model (CenterFace, which
    finds faces of 8 px) nothing it scores like a face: each masked box, searched again at full resolution with
    its surroundings, yields a box scored below 0.7 at most, and at most one face in ten still reads as a
    face-shaped blob of mosaic cells (measured: 1 of 16, the bus's 42 px face, at 0.60; it scored 0.66 before)."""
    _, results = evaluation["faces"]
    model = Detectors(settings.model_copy(update={"plates": False})).face_model
    assert len(results) == 15
    masked_faces, blobs = 0, []
    for result in results:
        rgb = load_rgb(result.path)
        masked = mask_as_configured(rgb, result.detections, settings)
        for face in (d for d in result.detections if d.kind == "face"):
            masked_faces += 1
            x0, y0 = max(0, face.x - face.w), max(0, face.y - face.h)
            around = masked[y0 : face.y + 2 * face.h, x0 : face.x + 2 * face.w]
            found = [box for box in model(around, settings.face_min_score)
                     if abs(box[0] + box[2] / 2 + x0 - (face.x + face.w / 2)) < face.w / 2]
            blobs += [(result.path.name, round(box[4], 2)) for box in found]
    assert masked_faces >= 16
    assert all(score < 0.7 for _, score in blobs), blobs
    assert len(blobs) <= masked_faces // 10, blobs
