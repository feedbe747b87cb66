"""Refine files outside Airflow and without the records DB (``python -m trainset refine``).

Same measurement (``measure_bytes``, its judged columns included), same suite (``refine_measurements`` over the
same ``judge.JUDGE_COLUMNS`` through ``validate_dataframe``), same rendering (``render`` via the operators' worker
function); only the state differs: near duplicates are looked up among the inputs of this call (in memory, same
multi-index lookup), and the sequence numbers are local.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

from trainset.config import ProjectConfig
from trainset.refine.dedup import MemoryIndex
from trainset.refine.judge import SUITE, judge_table, suite_parameters
from trainset.refine.measure import measure_file
from trainset.refine.naming import dataset_fields, sequence_scope
from trainset.refine.output import detector_settings, init_detectors, render_task
from trainset.refine.parallel import pool_map

SKIP_NAMES = {"MANIFEST.tsv", "SHA256SUMS", "manifest.csv", "README.md"}


def expand_inputs(inputs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.name not in SKIP_NAMES
                            and not f.name.startswith("."))
        else:
            files.append(p)
    return files


def _measure(args) -> dict:
    path, required, tz, max_pixels = args
    try:
        return measure_file(path, required_fields=required, timezone=tz, max_pixels=max_pixels).as_dict()
    except OSError as err:
        from trainset.refine.measure import Measurement

        return Measurement(decode_error=f"cannot read: {err}"[:300]).as_dict()


def _near_duplicates(measurements: list[dict], radius: int) -> None:
    """``near_duplicate_of`` (an earlier input's index) and the distance, among this call's inputs."""
    index = MemoryIndex()
    for i, m in enumerate(measurements):
        if m["dhash"] is None:
            continue
        match = index.nearest(m["dhash"], radius)
        if match is not None:
            m["near_duplicate_of"], m["near_duplicate_distance"] = match.image_id, match.distance
        else:
            index.add(i, m["dhash"])


def _write_output(path: Path, m: dict, result: dict, out_dir: Path, config: ProjectConfig, rejected: bool,
                  seqs: dict[str, int]) -> str:
    """The rendered image under its name (local sequence numbers), atomically; returns its path."""
    class_name = next((p.name for p in path.parents if config.class_by_name(p.name)), "unclassified")
    capture = dt.datetime.fromisoformat(m["capture_time"]) if m["capture_time"] else None
    fields = dataset_fields(config, class_name, capture)
    scope = sequence_scope(config.naming.pattern, fields)
    seqs[scope] = seqs.get(scope, 0) + 1
    name = config.naming.pattern.format(**fields, seq=seqs[scope])
    target = out_dir / (name if not rejected else f"rejected/{name}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
    tmp.write_bytes(result["data"])
    os.replace(tmp, target)  # atomic: a reader never sees half a file
    return str(target)


def refine_files(inputs: list[Path], out_dir: Path, config: ProjectConfig, *, write_all: bool = False,
                 now: dt.datetime | None = None) -> Iterator[dict]:
    """One result per input file, in input order."""
    from trainset.expectations import validate_dataframe

    files = expand_inputs(inputs)
    if not files:
        return
    required = list(config.refine.exif.required_fields)
    tasks = [(str(f), required, config.project.timezone, config.image_spec.max_pixels) for f in files]
    measurements = list(pool_map(_measure, tasks, workers=config.refine.workers, min_items_per_worker=100))
    _near_duplicates(measurements, config.refine.quality.near_duplicate_radius)
    _domain_outliers(files, measurements, config)
    df = judge_table([{**m, "image_id": i} for i, m in enumerate(measurements)])
    outcome = validate_dataframe(df, SUITE, id_column="image_id", parameters=suite_parameters(config, now))
    verdicts = {i: outcome.failures.get(str(i), []) for i in range(len(files))}

    to_render = [i for i in range(len(files)) if write_all or not verdicts[i]]
    render_tasks = [(i, str(files[i]), config) for i in to_render if measurements[i]["decode_error"] is None]
    rendered = dict(pool_map(render_task, render_tasks, workers=config.refine.workers, initializer=init_detectors,
                             initargs=(detector_settings(config),), min_items_per_worker=2))

    out_dir.mkdir(parents=True, exist_ok=True)
    seqs: dict[str, int] = {}
    for i, path in enumerate(files):
        m, codes, result = measurements[i], verdicts[i], rendered.get(i)
        record = {"input": str(path), "output": None, "verdict": "rejected" if codes else "passed",
                  "reason_codes": codes, "measurements": _public(m), "detections": []}
        if result is not None and "error" in result:
            record["render_error"] = result["error"]
        elif result is not None:
            record["output"] = _write_output(path, m, result, out_dir, config, bool(codes), seqs)
            record["output_size"] = [result["width"], result["height"]]
            record["detections"] = result["detections"]
        if m.get("near_duplicate_of") is not None:
            record["near_duplicate_of"] = str(files[m["near_duplicate_of"]])
        yield record


def _domain_outliers(files: list[Path], measurements: list[dict], config: ProjectConfig) -> None:
    """``domain``/``domain_score`` of each decodable input, judged within its folder (class folders) or among all
    inputs (``curation.domain_outlier_scope: project``)."""
    import numpy as np

    from trainset.curation.domain import judge_group
    from trainset.curation.features import features_file

    settings = config.curation
    if not settings.domain_outlier:
        return
    groups: dict[str, list[tuple[int, list[float]]]] = {}
    for i, (path, m) in enumerate(zip(files, measurements, strict=True)):
        if m["decode_error"] is not None:
            continue
        r = features_file(path, max_pixels=config.image_spec.max_pixels)
        if r.vector is not None:
            key = str(path.parent) if settings.domain_outlier_scope == "class" else ""
            groups.setdefault(key, []).append((i, r.vector))
    for members in groups.values():
        verdicts = judge_group(np.array([v for _, v in members]), threshold=settings.domain_outlier_threshold,
                               min_group=settings.domain_outlier_min_group)
        judged = len(members) >= settings.domain_outlier_min_group
        for (i, _), v in zip(members, verdicts, strict=True):
            measurements[i]["domain"] = v.domain
            measurements[i]["domain_score"] = v.score if judged else None


def _public(m: dict) -> dict:
    keys = ("format", "width", "height", "bytes", "orientation", "capture_time", "capture_time_raw", "make",
            "model", "has_gps", "exif_missing_fields", "exif_error", "sharpness", "edge_sharpness", "brightness",
            "contrast", "entropy", "near_duplicate_distance", "decode_error", "domain", "domain_score")
    out = {k: m.get(k) for k in keys}
    out["dhash"] = f"{m['dhash'] & ((1 << 64) - 1):016x}" if m.get("dhash") is not None else None
    for k in ("sharpness", "brightness", "contrast", "entropy"):
        if out[k] is not None:
            out[k] = round(out[k], 4)
    return out
