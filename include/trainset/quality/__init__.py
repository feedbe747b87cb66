"""Labeling quality control (품질관리): how well each labeler labels, and which well-formed labels look wrong.

- ``matching``: box IoU and one-to-one matching (Hungarian, ``scipy.optimize.linear_sum_assignment``);
- ``scoring``: a labeler's item against ground truth, CVAT-style (accuracy, precision, recall, mean IoU, label and
  attribute agreement, conflicts by type), summed per labeler;
- ``consensus``: 2-3 replicas of one item merged where a quorum agrees, with per-pair agreement;
- ``hints``: label-error hints without a model (per-class robust statistics, appearance, duplicates, co-occurrence,
  attributes, object counts) and with one (a COCO results file of any detector's predictions).

Plain Python over the canonical ``LabelItem``; no Airflow, no DB.
"""
