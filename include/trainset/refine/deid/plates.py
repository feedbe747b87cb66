"""Licence plates: the YOLOv8s-seg ONNX model inside the ``platedet`` wheel, run directly with onnxruntime.

The model's own metadata says it was trained with Ultralytics and is AGPL-3.0 (README's licence table).
"""

from __future__ import annotations

import math
import os
import re

import cv2
import numpy as np

from trainset.refine.deid import int8
from trainset.refine.deid.wheels import cpu_session, find_module_file, package_version

PLATE_PRECISIONS = ("fp16", "int8")
# The int8 cache key's recipe: bump when the calibration, options or graph cut change.
PLATE_INT8_RECIPE = "qdq-u8s8-perchannel-minmax-skimage6-floathead-v2"


def verify_crop(cand, context: float, aspect: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The full-resolution crop (x0, y0, x1, y1) a plate candidate's second look runs on: centred on the box,
    ``context`` times its width (at least twice its height: a plate is wide, and a box cut short by the border
    or a square motorcycle plate is widened) and ``aspect`` times that tall, clipped to the image.

    Tight on purpose: on the corpus the model confirms plates far more reliably when the plate fills half to two
    thirds of the crop's width than at a third (a plate on a white van body scores nothing there), and the rows
    above and below it cost as much as any (``benchmarks/deid_recall.py``; README, "How plates are found")."""
    cx, cy = cand.x + cand.w / 2, cand.y + cand.h / 2
    side = max(cand.w, 2 * cand.h, 16) * context
    x0, y0 = max(0, math.floor(cx - side / 2)), max(0, math.floor(cy - side * aspect / 2))
    x1, y1 = min(width, math.ceil(cx + side / 2)), min(height, math.ceil(cy + side * aspect / 2))
    return x0, y0, x1, y1


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
        if precision not in PLATE_PRECISIONS:
            raise ValueError(f"unknown plate model precision {precision!r}; expected one of {PLATE_PRECISIONS}")
        model_path = os.path.join(os.path.dirname(find_module_file("platedet")), "artifacts", "platedet.onnx")
        if not os.path.exists(model_path):
            raise FileNotFoundError(f"platedet model not found at {model_path}; is the platedet wheel installed?")
        graph_bytes, self.licence, self._input_dtype = self._boxes_only_graph(model_path)
        self.input_long_side = max(32, input_long_side // 32 * 32)
        self.precision = precision
        self.cache_file = None  # the int8 copy's path
        if precision == "int8":
            self.cache_file = int8.cache_path(model_path, cache_dir, name="platedet", recipe=PLATE_INT8_RECIPE)
            graph_bytes = int8.int8_graph(graph_bytes, self.cache_file, self._quantize)
            self._input_dtype = np.float32
        self.session = cpu_session(graph_bytes, threads)
        self._input_name = self.session.get_inputs()[0].name
        suffix = "-int8" if precision == "int8" else ""
        self.id = f"platedet-{package_version('platedet')}{suffix}"
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

    def _quantize(self, float_path: str, int8_path: str) -> None:
        int8.quantize(float_path, int8_path, lambda rgb: self._letterbox(rgb, np.float32)[0], _float_tail(float_path))

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


def _float_tail(path: str) -> list[str]:
    """The nodes kept in float: the head's last convolutions (box and score logits) and everything after them.
    Calibration photos hold no plates, so a range calibrated on them would clip a plate's score logit (every
    score then tops out below the threshold); the float tail costs ~1 ms."""
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    inner_head = re.compile(r"^/model\.22/cv[23]\.\d/cv[23]\.\d\.[01]/")
    return [n.name for n in graph.node if n.name.startswith("/model.22/") and not inner_head.match(n.name)]
