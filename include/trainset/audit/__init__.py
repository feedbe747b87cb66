"""``trainset audit``: the pipeline's invariants, checked over every storage root and the records DB.

Each breach is one dict (``kind``, ``uri`` or ``key``, ``detail``); the command prints them as JSON lines and
exits 1 when there is any. The kinds:

- ``file_without_row``: a file in ``raw``, ``warehouse``, ``quarantine`` or ``training`` that no record accounts
  for (raw: an accepted image's ``<class>/<sha[:2]>/<sha>.<ext>``; warehouse/quarantine: an ``images.location``
  or ``quarantine.location``; training: a file inside a release listed in its manifest, or a release folder with
  a ``releases`` row). The drop zone (not collected yet), ``labeling`` (people's uploads) and ``reports``
  (derived views) are inputs or outputs, not records, and are not walked for this check. Names starting with
  ``.`` (tool state such as ``.gx_stores``) are skipped.
- ``row_without_file``: an ``images.location``, an image's ``quarantine.location``, a verified transfer's object
  or a release's manifest that is not there.
- ``unmasked_detection``: an image outside the zones allowed to hold raw photos (``raw`` and the ``collect`` /
  ``refine`` folders of the quarantine) where a recorded detection is not masked. A byte-identical copy of a
  raw original that has detections is unmasked by definition. A de-identified file (the warehouse object and its
  byte copies in releases and on the inspection server) is judged against its raw original (``unmasked_boxes``):
  refine's own renderer re-creates the output without masks and with the recorded boxes masked, and a box is
  masked when the stored pixels are closer to the masked rendering; second test (mask settings changed since):
  inside the box the detail energy (mean absolute difference between neighbouring grey pixels) dropped to at
  most ``MASKED_ENERGY_RATIO`` of the original's, or the pixels moved at least ``MASKED_MIN_DIFFERENCE`` grey
  levels from it. On the corpus (53 boxes) every refine mask passes and every unmasked box is flagged; a box
  whose original region is flat (energy below ``FLAT_ENERGY``) cannot be judged and is not reported.
- ``gps_in_exif``: such an image still carrying a GPS IFD in its EXIF.
- ``counted_twice``: two images rows for one sha256 both in a final state (not duplicate/quarantined/rejected),
  two rows at one location, or two warehouse files with the same bytes.
- ``item_in_two_splits``: an item (or the same image under two item keys) in two splits of one release.
- ``release_mismatch``: any other problem ``verify_release`` finds (missing file, checksum).
- ``root_unreachable``: a storage root that could not be listed (the audit could not check it).

Modules: ``checks`` (``run_audit``: one function per check family), ``masks`` (is a box masked, GPS in EXIF).
"""

from __future__ import annotations

from trainset.audit.checks import (
    AUDITED_FORMATS,
    FINAL_EXCLUDED,
    KINDS,
    RAW_QUARANTINE_FOLDERS,
    RECORDED_ROOTS,
    AuditResult,
    open_roots,
    raw_key,
    run_audit,
)
from trainset.audit.masks import (
    FLAT_ENERGY,
    MASKED_ENERGY_RATIO,
    MASKED_MIN_DIFFERENCE,
    RecordedDetections,
    detail_energy,
    has_gps,
    unmasked_boxes,
)

__all__ = [
    "AUDITED_FORMATS", "FINAL_EXCLUDED", "FLAT_ENERGY", "KINDS", "MASKED_ENERGY_RATIO", "MASKED_MIN_DIFFERENCE",
    "RAW_QUARANTINE_FOLDERS", "RECORDED_ROOTS", "AuditResult", "RecordedDetections", "detail_energy", "has_gps",
    "open_roots", "raw_key", "run_audit", "unmasked_boxes",
]
