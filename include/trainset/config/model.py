"""``ProjectConfig``: the whole project file, one section per model."""

from __future__ import annotations

from pydantic import Field, model_validator

from trainset.config.base import _Model
from trainset.config.project import (
    Connections,
    ImageClass,
    ImageSpec,
    NamingRule,
    ProjectInfo,
    ReportSettings,
    Schedules,
    SlackChannels,
    StorageRoots,
    TaskDefaults,
)
from trainset.config.quality import QualitySettings
from trainset.config.stages import (
    AnnotateSettings,
    CollectSettings,
    CurationSettings,
    InspectionSettings,
    RefineSettings,
    TrainSettings,
)


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
