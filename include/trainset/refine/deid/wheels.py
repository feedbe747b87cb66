"""Where the models come from: files and versions of installed PyPI packages (nothing is fetched at run time), and
how their ONNX graphs are run."""

from __future__ import annotations

import importlib.util
from importlib import metadata


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def find_module_file(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{name} is not installed")
    return spec.origin


def cpu_session(graph_bytes: bytes, threads: int):
    """An onnxruntime CPU session for ``graph_bytes``: ``threads`` intra-op threads, nothing in parallel between
    operators, every graph optimisation, warnings off."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning idle threads would steal the core another refine process is using.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(graph_bytes, sess_options=options, providers=["CPUExecutionProvider"])
