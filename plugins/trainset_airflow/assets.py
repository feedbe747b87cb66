"""The Assets that chain the five stages: collect → refine → annotate-intake → inspect → train-handoff."""

from airflow.sdk import Asset

raw_images = Asset("trainset://raw_images", group="trainset")
source_images = Asset("trainset://source_images", group="trainset")
first_inspection_passed = Asset("trainset://first_inspection_passed", group="trainset")
inspection_passed = Asset("trainset://inspection_passed", group="trainset")
training_dataset = Asset("trainset://training_dataset", group="trainset")
