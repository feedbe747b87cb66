"""The annotate-intake stage (가공): daily labeling operations over the warehouse's refined images.

Modules:
- ``roster``: the worker roster the PM edits (YAML or CSV) and its sync into ``workers``.
- ``distribution``: the day's assignment (pure, deterministic, capacity-balanced, schedule-prioritised).
- ``model`` / ``readers``: the canonical annotation model and readers for the project's AI Hub-style JSON
  (``include/schemas/aihub_label.schema.json``), AI Hub K-Fashion-style Korean-key JSON, COCO instances (``coco``),
  YOLO txt.
- ``uploads``: the labeling storage layout, safe zip extraction and collecting a worker's upload.
- ``rules``: the first inspection (1차 검수): syntax from the JSON Schemas, then the flattened annotation table
  judged by the Great Expectations suite ``include/expectations/annotation_rules.json``.
- the DB side of each DAG task group, one module each, each with its step (``trainset.step``):
  ``distribute`` (the day's assignment and lists), ``upload_check`` (missing uploads and their messages),
  ``ingest`` (reading, schema validation, the rule table), ``first_inspection`` (the suite's verdicts),
  ``remedies`` (the automatic repairs of labels broken by refinement — pre-rename name, resize — and the second
  inspection), ``publish`` (accepted labels, quarantine, rework queue, the PM's tables); ``workday`` (the day's
  batch and due time) and ``warehouse`` (the facts of the images labels are about) serve them.
- ``offline``: the same first inspection on files without the DB (``python -m trainset validate``).

Labeling storage root (``storage.labeling`` in the project file; a folder or an S3 prefix)::

    labeling/
      assignments/<YYYY-MM-DD>/<worker_id>.csv     each worker's list for the day (written by the distribution):
                                                   item_key, image_uri, class_name, task_kind, due_at
      uploads/<YYYY-MM-DD>/<worker_id>/...         what the worker uploads for that day: per-image label JSON
                                                   (<item_key>.json), a COCO instances JSON (any name, with an
                                                   "images" list), YOLO txt (<item_key>.txt, class names from
                                                   classes.txt / obj.names / data.yaml in the folder, else the
                                                   project's classes in id order), or .zip files of any of these
      accepted/<item_key>.json                     the normalised label of every passed item (project format),
                                                   whatever the input format was: what the inspection stage sends

Rejected label files are copied to the quarantine root under ``annotate/<YYYY-MM-DD>/<worker_id>/``.
"""
