"""The refine stage (정제): measure, judge (GX), de-identify, rename, resize, store in the warehouse.

Modules, in the order a batch goes through them:

- ``plan`` — the images still ``raw`` cut into this run's batches;
- ``source`` — reading an image's bytes from the storage roots;
- ``measure`` (with ``exif``, ``edge_sharpness``) — the one-decode measurement of an image, the suite's derived
  columns included; ``checks`` — a batch measured and its check rows written (``dedup``: the perceptual-hash
  index; the curation features and the domain-outlier score come from the same pass);
- ``judge`` — the suite ``refine_measurements`` over the stored columns, verdicts recorded;
- ``route`` — rejects copied to quarantine;
- ``naming``, ``render``, ``output`` — passed images named, rendered and written to the warehouse;
- ``summary`` — a batch's line and a run's counts; ``records`` — the rows every step shares;
- ``steps`` — one ``step(ctx)`` per DAG task, and ``refine_batch`` (a whole batch in one process);
- ``deid`` — the face and licence-plate detectors and masking (used by ``render``);
- ``local`` — the CLI path over files, without the records DB; ``parallel`` — the process pool.
"""
