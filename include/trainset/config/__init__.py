"""The project file: one validated pydantic model, loaded from YAML.

Every stage reads its thresholds, storage roots and schedules from here, so a project is retuned by editing
``include/project.yaml`` (or the file named by ``TRAINSET_CONFIG``), never the code.  Values may use
``${VAR}`` / ``${VAR:-default}`` so one file serves a laptop, CI and a deployment.

Modules: ``model`` (``ProjectConfig``, the whole file), its sections in ``project`` (identity, classes, storage,
connections, schedules), ``stages`` (collect, refine, curation, annotate, inspection, train) and ``quality``
(labeling quality control), ``base`` (what every section shares), ``loading`` (YAML, env expansion, the cache).
Import from here: ``from trainset.config import ProjectConfig, get_config``.
"""

from __future__ import annotations

from trainset.config.base import ConfigError
from trainset.config.loading import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    INCLUDE_DIR,
    PROJECT_ROOT,
    config_path,
    get_config,
    load_config,
    parse_config,
)
from trainset.config.model import ProjectConfig
from trainset.config.project import (
    Connections,
    ImageClass,
    ImageFormat,
    ImageSpec,
    NamingRule,
    Period,
    ProjectInfo,
    ReportSettings,
    Schedules,
    SlackChannels,
    StorageRoots,
    TaskDefaults,
)
from trainset.config.quality import QualityHintSettings, QualitySettings
from trainset.config.stages import (
    AnnotateSettings,
    AnonymizeSettings,
    CollectSettings,
    CurationSettings,
    ExifSettings,
    InspectionSettings,
    QualityThresholds,
    RefineSettings,
    ResizeSettings,
    TrainSettings,
)

__all__ = [
    "CONFIG_ENV", "DEFAULT_CONFIG_PATH", "INCLUDE_DIR", "PROJECT_ROOT", "AnnotateSettings", "AnonymizeSettings",
    "CollectSettings", "ConfigError", "Connections", "CurationSettings", "ExifSettings", "ImageClass", "ImageFormat",
    "ImageSpec", "InspectionSettings", "NamingRule", "Period", "ProjectConfig", "ProjectInfo", "QualityHintSettings",
    "QualitySettings", "QualityThresholds", "RefineSettings", "ReportSettings", "ResizeSettings", "Schedules",
    "SlackChannels", "StorageRoots", "TaskDefaults", "TrainSettings", "config_path", "get_config", "load_config",
    "parse_config",
]
