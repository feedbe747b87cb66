"""Image features for curation: a fast classical style descriptor (default) and an optional ONNX embedding.

The classical descriptor is what separates photos from illustrations, icons and renders, computed on a small
colour working image (long side ``FEATURE_SIDE``; JPEGs decode it straight from the DCT at 1/2..1/8 scale like
refine's measurement, PNGs are box-reduced before resizing so a 25 MP canvas costs one decode, not a resample):

- colour: mean/std of saturation and value, colourfulness, hue entropy (saturation-weighted);
- palette: unique-colour ratio (5 bits a channel) and the share of the 8 most frequent colours;
- edges: Canny edge density, an 8-bin gradient orientation histogram (magnitude-weighted), its entropy and the
  axis-aligned share (flags, pixel art and UI graphics are drawn on the pixel grid);
- texture: gradient magnitude mean, spread and tail (p90/p50), the noise floor (median |Laplacian| where the
  image is smooth: sensors and film leave one, vector art does not), grey-level entropy;
- flat regions: share of pixels whose neighbourhood is exactly flat, and nearly flat;
- transparency share (an alpha channel with transparent pixels is an illustration/icon trait).

All features are plain floats with names (``CLASSICAL_NAMES``) so they can be stored as JSON and compared.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from trainset.imagefile import sniff_format
from trainset.refine.measure import _NP_ORIENT, open_image

# Long side of the colour working image the descriptor is computed on (fixed: features compare across sizes).
FEATURE_SIDE = 192
FEATURES_VERSION = "classical-v1"

CLASSICAL_NAMES = (
    "sat_mean", "sat_std", "val_mean", "val_std", "colourfulness", "hue_entropy",
    "unique_colour_ratio", "top8_colour_share",
    "edge_density", *(f"orient_{i}" for i in range(8)), "orient_entropy", "axis_aligned_share",
    "grad_mean", "grad_std", "grad_tail", "noise_floor", "grey_entropy",
    "flat_exact_share", "flat_share", "alpha_share",
    "content_unique_ratio", "content_noise", "content_grey_entropy", "content_flat_share",
)


@dataclass
class FeatureResult:
    """One image's features; ``error`` set (and ``vector`` None) when the pixels could not be read."""

    vector: list[float] | None
    kind: str = FEATURES_VERSION
    error: str | None = None

    def named(self) -> dict[str, float]:
        return dict(zip(CLASSICAL_NAMES, self.vector, strict=True)) if self.vector and \
            self.kind == FEATURES_VERSION else {}


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - broken EXIF: treat as upright
        return 1


def working_rgb(im: Image.Image, orientation: int = 1, side: int = FEATURE_SIDE) -> tuple[np.ndarray, float]:
    """(RGB uint8 array with long side ``side`` (never upscaled), share of transparent pixels), upright.
    Transparent pixels are composited on white so what is hidden under them does not count."""
    w, h = im.size
    scale = min(1.0, side / max(w, h))
    target = (max(1, round(w * scale)), max(1, round(h * scale)))
    if im.format == "JPEG":
        im.draft("RGB", target)
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    if im.mode not in ("L", "RGB", "RGBA", "P", "CMYK", "YCbCr", "LA", "PA", "1"):
        arr = np.asarray(im, dtype=np.float64)  # 16-bit / float: scale to 8 bits by the actual range
        lo, hi = float(arr.min()), float(arr.max())
        arr = np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
        im = Image.fromarray(arr.astype(np.uint8))
    if im.mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGBA" if has_alpha else "RGB")  # Image.reduce takes no palette / bilevel / CMYK
    factor = max(1, min(im.size[0] // max(1, 2 * target[0]), im.size[1] // max(1, 2 * target[1])))
    if factor > 1:
        im = im.reduce(factor)  # box reduce while decoding-sized: cheap, and the resize below stays small
    im = im.convert("RGBA" if has_alpha else "RGB")
    arr = np.asarray(im)
    if (arr.shape[1], arr.shape[0]) != target:
        arr = cv2.resize(arr, target, interpolation=cv2.INTER_AREA)
    alpha_share = 0.0
    if has_alpha:
        a = arr[..., 3:4].astype(np.float32) / 255.0
        alpha_share = float((a < 0.5).mean())
        arr = (arr[..., :3].astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)
    if orientation in _NP_ORIENT:
        arr = _NP_ORIENT[orientation](arr)
    return np.ascontiguousarray(arr), alpha_share


def _entropy(counts: np.ndarray) -> float:
    total = float(counts.sum())
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def classical_vector(rgb: np.ndarray, alpha_share: float = 0.0) -> list[float]:
    """The classical descriptor (``CLASSICAL_NAMES`` order) of an RGB uint8 working image."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    colour, codes = _colour_stats(rgb)
    gradient, mag, lap = _gradient_stats(gray)
    flatness = _flatness_stats(rgb, gray, codes, mag, lap)
    return [*colour, *gradient, *flatness[:2], alpha_share, *flatness[2:]]


def _colour_stats(rgb: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Saturation, value, colourfulness, hue entropy and palette size; with the 15-bit colour code per pixel."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    sat = hsv[..., 1].astype(np.float32) / 255.0
    val = hsv[..., 2].astype(np.float32) / 255.0
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    colourfulness = (math.sqrt(float(rg.std()) ** 2 + float(yb.std()) ** 2)
                     + 0.3 * math.sqrt(float(rg.mean()) ** 2 + float(yb.mean()) ** 2)) / 255.0
    hue_hist = np.bincount((hsv[..., 0].ravel() // 10).astype(np.int64), weights=sat.ravel(), minlength=18)
    hue_entropy = _entropy(hue_hist[:18]) / math.log2(18)
    q = rgb >> 3
    codes = (q[..., 0].astype(np.int32) << 10) | (q[..., 1].astype(np.int32) << 5) | q[..., 2]
    colour_counts = np.bincount(codes.ravel(), minlength=1 << 15)
    n = codes.size
    unique_ratio = float(np.count_nonzero(colour_counts)) / n
    top8 = float(np.partition(colour_counts, -8)[-8:].sum()) / n
    return [float(sat.mean()), float(sat.std()), float(val.mean()), float(val.std()), colourfulness, hue_entropy,
            unique_ratio, top8], codes


def _gradient_stats(gray: np.ndarray) -> tuple[list[float], np.ndarray, np.ndarray]:
    """Edge density, orientation histogram and its entropy, gradient strength and tail, noise floor, grey
    entropy; with the gradient magnitude and |Laplacian| maps the flatness figures reuse."""
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    mag, ang = cv2.cartToPolar(gx, gy)
    mag_flat = mag.ravel()
    strong = mag_flat > 8.0
    orient = np.bincount(((ang.ravel()[strong] % math.pi) / (math.pi / 8)).astype(np.int64).clip(0, 7),
                         weights=mag_flat[strong], minlength=8)
    orient_total = float(orient.sum())
    orient_norm = orient / orient_total if orient_total > 0 else np.full(8, 1 / 8)
    orient_entropy = _entropy(orient) / 3.0 if orient_total > 0 else 1.0
    axis_share = float(orient_norm[0] + orient_norm[4])
    edge_density = float(np.count_nonzero(cv2.Canny(gray, 50, 150))) / gray.size
    p50, p90 = np.percentile(mag_flat, [50, 90])
    grad_tail = math.log1p(float(p90)) - math.log1p(float(p50))
    lap = np.abs(cv2.Laplacian(gray, cv2.CV_32F, ksize=1))
    smooth = mag < 24.0
    noise_floor = float(np.median(lap[smooth])) if smooth.any() else 0.0
    grey_entropy = _entropy(np.bincount(gray.ravel(), minlength=256)) / 8.0
    return [edge_density, *(float(x) for x in orient_norm), orient_entropy, axis_share,
            float(mag_flat.mean()) / 255.0, float(mag_flat.std()) / 255.0, grad_tail, noise_floor,
            grey_entropy], mag, lap


def _flatness_stats(rgb: np.ndarray, gray: np.ndarray, codes: np.ndarray, mag: np.ndarray,
                    lap: np.ndarray) -> list[float]:
    """Share of exactly / nearly flat pixels, then the photographic figures on the content only."""
    # exactly flat: the 3x3 neighbourhood has a single value in every channel
    local_range = (cv2.dilate(rgb, np.ones((3, 3), np.uint8)).astype(np.int16)
                   - cv2.erode(rgb, np.ones((3, 3), np.uint8))).max(axis=2)
    flat_exact = float((local_range == 0).mean())
    flat_near = float((local_range <= 3).mean())
    # The same on the content only (pixels not in an exactly flat area): a product shot on a white sweep or a
    # subject on a black background is still photographic where there is something to see.
    content = local_range > 0
    n_content = int(np.count_nonzero(content))
    if n_content < 32:
        return [flat_exact, flat_near, 0.0, 0.0, 0.0, 1.0]
    smooth_content = content & (mag < 24.0)
    return [flat_exact, flat_near, float(np.unique(codes[content]).size) / n_content,
            float(lap[smooth_content].mean()) if smooth_content.any() else 0.0,
            _entropy(np.bincount(gray[content], minlength=256)) / 8.0, float((local_range[content] <= 3).mean())]


def classical_features(im: Image.Image, orientation: int | None = None) -> list[float]:
    rgb, alpha = working_rgb(im, _orientation(im) if orientation is None else orientation)
    return classical_vector(rgb, alpha)


def features_bytes(data: bytes, *, max_pixels: int = 80_000_000, embedder: OnnxEmbedder | None = None
                   ) -> FeatureResult:
    """Features of one file; never raises for bad data (``error`` says why)."""
    kind = embedder.kind if embedder else FEATURES_VERSION
    fmt = sniff_format(data[:32]) if data else None
    if fmt is None:
        return FeatureResult(None, kind, "unrecognised format")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with open_image(data, fmt) as im:
                if im.size[0] * im.size[1] > max_pixels:
                    return FeatureResult(None, kind, f"{im.size[0] * im.size[1]} px exceeds {max_pixels}")
                if embedder is not None:
                    return FeatureResult(embedder.embed(im, _orientation(im)), kind)
                return FeatureResult(classical_features(im), kind)
        except Exception as err:  # noqa: BLE001 - hostile files raise anything
            return FeatureResult(None, kind, f"{type(err).__name__}: {err}"[:300])


def features_file(path: str | Path, **kwargs) -> FeatureResult:
    return features_bytes(Path(path).read_bytes(), **kwargs)


class OnnxEmbedder:
    """A learned embedding from any ONNX image model the project file points at (``curation.onnx_model``).

    The model takes one NCHW float32 image (its input's height/width are read from the graph; dynamic sizes
    default to 224), ImageNet-normalised RGB; the first output, flattened and L2-normalised, is the embedding.
    Nothing is downloaded: the file must be on disk.
    """

    MEAN = np.array([0.485, 0.456, 0.406], np.float32)
    STD = np.array([0.229, 0.224, 0.225], np.float32)

    def __init__(self, path: str | Path):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX model {self.path} not found")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = list(inp.shape)
        self.height = shape[2] if len(shape) == 4 and isinstance(shape[2], int) else 224
        self.width = shape[3] if len(shape) == 4 and isinstance(shape[3], int) else 224
        self.kind = f"onnx:{self.path.name}"

    def embed(self, im: Image.Image, orientation: int = 1) -> list[float]:
        rgb, _ = working_rgb(im, orientation, side=max(self.height, self.width) * 2)
        x = cv2.resize(rgb, (self.width, self.height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        x = ((x - self.MEAN) / self.STD).transpose(2, 0, 1)[None]
        out = np.asarray(self.session.run(None, {self.input_name: x})[0], np.float32).ravel()
        norm = float(np.linalg.norm(out))
        return (out / norm if norm > 0 else out).tolist()


def load_embedder(spec: str | None) -> OnnxEmbedder | None:
    """``classical`` / None → no embedder; ``onnx:PATH`` or a path ending in .onnx → that model."""
    if not spec or spec == "classical":
        return None
    path = spec[5:] if spec.startswith("onnx:") else spec
    return OnnxEmbedder(path)
