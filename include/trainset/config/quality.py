"""Labeling quality control settings (GT, consensus, gating) and the model-free label-error hints."""

from __future__ import annotations

from pydantic import Field, model_validator

from trainset.config.base import _Model


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
