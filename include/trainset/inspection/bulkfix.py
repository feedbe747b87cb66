"""Bulk fixes (json_dump): one rule-based correction applied to many annotation files at once.

Rules (written ``kind:argument`` on the command line and in the DAG's Params):

- ``rename_class:OLD=NEW``            every annotation (and the image's class) named OLD becomes NEW
- ``drop_attribute:NAME`` / ``drop_attribute:NAME@CLASS``   remove an attribute (only on CLASS's annotations)
- ``clamp_boxes``                     boxes and polygon points are clamped to the image's declared size
- ``set_meta:PATH=VALUE``             set a field by dotted path (``capture.date=2026-03-14``); VALUE is JSON if it
                                      parses as JSON (numbers, true/false, null), else a string

A dry run reads every file, applies the rules in memory and reports what would change (files, changes per rule,
examples); it writes nothing.  A real run keeps each original under the reports root
(``bulkfix/<run>/originals/<key>``), writes the new file atomically, re-validates it with the first inspection's
rules (``trainset.annotate``) and records one audit row per changed file in ``annotation_fixes``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from trainset import db
from trainset.config import ProjectConfig
from trainset.inspection import labels
from trainset.step import StepContext, StepInputError, StepResult
from trainset.storage import Storage

log = logging.getLogger(__name__)
RULE_KINDS = ("rename_class", "drop_attribute", "clamp_boxes", "set_meta")


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    kind: str
    arg: str = ""

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.arg}" if self.arg else self.kind

    def apply(self, doc: dict) -> list[str]:
        """Change ``doc`` in place; return one line per change (empty when the rule does not match)."""
        return getattr(self, f"_{self.kind}")(doc)

    def _rename_class(self, doc: dict) -> list[str]:
        old, new = self.arg.split("=", 1)
        changes = []
        for n, ann in enumerate(labels.annotation_list(doc)):
            key = labels.category_key(ann)
            if key and ann[key] == old:
                ann[key] = new
                changes.append(f"annotations[{n}].{key}: {old} → {new}")
        image = labels.image_info(doc)
        if image.get("class_name") == old:
            image["class_name"] = new
            changes.append(f"image.class_name: {old} → {new}")
        return changes

    def _drop_attribute(self, doc: dict) -> list[str]:
        name, _, only_class = self.arg.partition("@")
        changes = []
        for n, ann in enumerate(labels.annotation_list(doc)):
            if only_class and labels.category_of(ann) != only_class:
                continue
            attrs = ann.get("attributes")
            if isinstance(attrs, dict) and name in attrs:
                value = attrs.pop(name)
                changes.append(f"annotations[{n}].attributes.{name} removed (was {value!r})")
        return changes

    def _clamp_boxes(self, doc: dict) -> list[str]:
        size = labels.image_size(doc)
        if size is None:
            return []
        width, height = size
        changes = []
        for n, ann in enumerate(labels.annotation_list(doc)):
            box = ann.get("bbox")
            if isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) for v in box):
                x0, y0 = max(0.0, min(box[0], width)), max(0.0, min(box[1], height))
                x1, y1 = max(0.0, min(box[0] + box[2], width)), max(0.0, min(box[1] + box[3], height))
                clamped = [_num(x0), _num(y0), _num(x1 - x0), _num(y1 - y0)]
                if clamped != box:
                    ann["bbox"] = clamped
                    changes.append(f"annotations[{n}].bbox: {box} → {clamped}")
            for key in ("points", "polygon"):
                pts = ann.get(key)
                if isinstance(pts, list) and pts and all(isinstance(p, list) and len(p) == 2 for p in pts):
                    clamped_pts = [[_num(max(0.0, min(p[0], width))), _num(max(0.0, min(p[1], height)))]
                                   for p in pts]
                    if clamped_pts != pts:
                        ann[key] = clamped_pts
                        changes.append(f"annotations[{n}].{key}: {sum(a != b for a, b in zip(pts, clamped_pts, strict=True))} point(s) clamped")
        return changes

    def _set_meta(self, doc: dict) -> list[str]:
        path, raw = self.arg.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = doc
        parts = path.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                if part in node:
                    return []  # the path crosses a non-object: not this file's shape, leave it alone
                node[part] = {}
            node = node[part]
        old = node.get(parts[-1], _MISSING)
        if old == value:
            return []
        node[parts[-1]] = value
        return [f"{path}: {'(absent)' if old is _MISSING else json.dumps(old, ensure_ascii=False)} → "
                f"{json.dumps(value, ensure_ascii=False)}"]


_MISSING = object()


def _num(v: float) -> float | int:
    v = round(float(v), 2)
    return int(v) if v.is_integer() else v


def parse_rule(spec: str) -> Rule:
    kind, _, arg = spec.strip().partition(":")
    kind = kind.strip().replace("-", "_")
    if kind not in RULE_KINDS:
        raise RuleError(f"unknown rule {kind!r}; rules: {', '.join(RULE_KINDS)}")
    if kind in ("rename_class", "set_meta") and not re.fullmatch(r"[^=]+=.*", arg):
        raise RuleError(f"{kind} needs OLD=NEW / PATH=VALUE, got {arg!r}")
    if kind == "rename_class" and not arg.split("=", 1)[1]:
        raise RuleError("rename_class needs a new name")
    if kind == "drop_attribute" and not arg.split("@")[0]:
        raise RuleError("drop_attribute needs an attribute name")
    if kind == "clamp_boxes" and arg:
        raise RuleError("clamp_boxes takes no argument")
    return Rule(kind, arg)


def check_against_taxonomy(rules: list[Rule], config: ProjectConfig) -> list[str]:
    """Warnings for rules that would produce names the project does not know (a typo in NEW)."""
    warnings = []
    for rule in rules:
        if rule.kind == "rename_class" and config.class_by_name(rule.arg.split("=", 1)[1]) is None:
            warnings.append(f"{rule.spec}: {rule.arg.split('=', 1)[1]!r} is not a class of the project; "
                            "re-validation will fail those files (unknown_class)")
    return warnings


@dataclass
class FilePlan:
    key: str
    uri: str
    item_key: str
    old: bytes
    new: bytes
    changes: dict[str, list[str]]  # rule spec -> change lines


@dataclass
class FixResult:
    run: str
    dry_run: bool
    scanned: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    plans: list[FilePlan] = field(default_factory=list)
    changes_by_rule: Counter = field(default_factory=Counter)
    written: int = 0
    revalidated_ok: int = 0
    revalidation_failures: dict[str, list[str]] = field(default_factory=dict)
    payloads_updated: int = 0  # accepted annotations (annotations.payload) that now carry the fix
    warnings: list[str] = field(default_factory=list)

    def summary_lines(self, examples: int = 5) -> list[str]:
        mode = "DRY RUN (nothing written)" if self.dry_run else "applied"
        lines = [f"bulk fix {self.run}: {mode}; {self.scanned} file(s) scanned, {len(self.plans)} would change"
                 if self.dry_run else
                 f"bulk fix {self.run}: {mode}; {self.scanned} file(s) scanned, {self.written} changed, "
                 f"re-validation passed {self.revalidated_ok}, failed {len(self.revalidation_failures)}; "
                 f"{self.payloads_updated} accepted annotation(s) updated in the records DB"]
        lines += [f"  {rule}: {n} change(s)" for rule, n in sorted(self.changes_by_rule.items())]
        for plan in self.plans[:examples]:
            lines.append(f"  {plan.key}:")
            lines += [f"    - {c}" for cs in plan.changes.values() for c in cs[:6]]
        if len(self.plans) > examples:
            lines.append(f"  … and {len(self.plans) - examples} more file(s)")
        lines += [f"  unreadable {k}: {why}" for k, why in self.unreadable[:examples]]
        lines += [f"  re-validation failed {k}: {', '.join(codes)}"
                  for k, codes in list(self.revalidation_failures.items())[:examples]]
        lines += [f"  warning: {w}" for w in self.warnings]
        return lines


def plan_fixes(storage: Storage, prefix: str, rules: list[Rule], *, run: str, dry_run: bool) -> FixResult:
    result = FixResult(run=run, dry_run=dry_run)
    for entry in storage.list(prefix):
        if not entry.key.lower().endswith(".json"):
            continue
        result.scanned += 1
        old = storage.read_bytes(entry.key)
        try:
            doc = json.loads(old.decode("utf-8-sig"))
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
        except (UnicodeDecodeError, ValueError) as err:
            result.unreadable.append((entry.key, str(err)[:200]))
            continue
        changes = {}
        for rule in rules:
            if lines := rule.apply(doc):
                changes[rule.spec] = lines
                result.changes_by_rule[rule.spec] += len(lines)
        if changes:
            new = (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
            result.plans.append(FilePlan(entry.key, entry.uri, PurePosixPath(entry.key).stem, old, new, changes))
    return result


def _image_facts(conn, item_keys: list[str]) -> dict:
    from trainset.annotate.rules import ImageFacts

    if conn is None or not item_keys:
        return {}
    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, """
            SELECT item_key, image_id, width, height, original_name, class_name, location
            FROM images WHERE item_key = ANY(%s)""", (item_keys,))
    return {r["item_key"]: ImageFacts(**r) for r in rows}


def revalidate(plans: list[FilePlan], config: ProjectConfig, *, conn=None, work_date: dt.date | None = None,
               items_out: dict | None = None) -> dict[str, list[str]]:
    """The first inspection's rules over the new bytes: reason codes per file key (empty list = passed).
    ``items_out``, when given, receives the normalised label (``LabelItem``) of each file key that parsed.
    ``work_date`` is the day the rules judge for (the task's work date; default today in the project time zone)."""
    from trainset.annotate.readers import parse_files
    from trainset.annotate.rules import RuleUnit, judge

    class_order = [c.name for c in sorted(config.classes, key=lambda c: c.id)]
    facts = _image_facts(conn, [p.item_key for p in plans])

    def size(stem: str):
        f = facts.get(stem)
        return (f.width, f.height) if f else None

    out: dict[str, list[str]] = {}
    units, refs = [], {}
    for plan in plans:
        parsed = parse_files([(PurePosixPath(plan.key).name, plan.new, plan.uri)], class_order=class_order,
                             image_size=size, max_bytes=config.annotate.label_max_bytes)
        codes = set()
        for p in parsed:
            codes |= {f.code for f in p.findings}
            if p.item is not None:
                if items_out is not None:
                    items_out[plan.key] = p.item
                ref = str(len(units))
                refs[ref] = plan.key
                # Without a DB the image is not known: judge the label alone (no pairing/size facts).
                units.append(RuleUnit(ref=ref, item_key=p.item_key, item=p.item, image=facts.get(p.item_key)))
        out[plan.key] = sorted(codes)
    if units:
        findings, _ = judge(units, config, work_date or config.project.today())
        for ref, found in findings.items():
            if conn is None:
                found = [f for f in found if f.code not in ("no_image", "image_size_mismatch")]
            out[refs[ref]] = sorted(set(out[refs[ref]]) | {f.code for f in found})
    return out


def apply_fixes(conn, storage: Storage, prefix: str, rules: list[Rule], config: ProjectConfig, *, run: str,
                dry_run: bool = True, backup: Storage | None = None, work_date: dt.date | None = None) -> FixResult:
    result = plan_fixes(storage, prefix, rules, run=run, dry_run=dry_run)
    result.warnings = check_against_taxonomy(rules, config)
    if dry_run or not result.plans:
        return result
    if backup is None:
        raise ValueError("a real run needs a backup storage for the original files")
    items: dict = {}
    verdicts = revalidate(result.plans, config, conn=conn, work_date=work_date, items_out=items)
    # Order matters for a crash: originals kept, then the audit committed, then the files written. A retry of
    # the same run plans only the files not written yet; their audit rows already exist (ON CONFLICT: kept).
    audit = []
    for plan in result.plans:
        backup_uri = backup.write_bytes(f"bulkfix/{run}/originals/{plan.key}", plan.old)
        codes = verdicts.get(plan.key, [])
        audit.append((run, plan.uri, plan.item_key, json.dumps([r.spec for r in rules]),
                      json.dumps(plan.changes, ensure_ascii=False), hashlib.sha256(plan.old).hexdigest(),
                      hashlib.sha256(plan.new).hexdigest(), backup_uri, not codes, codes))
    with conn.cursor() as cur:
        db.execute_batch(cur, """
            INSERT INTO annotation_fixes (fix_run, file_uri, item_key, rules, changes, old_sha256, new_sha256,
                                          backup_uri, revalidated, reason_codes)
            VALUES %s ON CONFLICT ON CONSTRAINT annotation_fixes_natural_key DO NOTHING""", audit)
    conn.commit()  # the audit must exist before any file is overwritten (see the order above)
    for plan in result.plans:
        storage.write_bytes(plan.key, plan.new)
        result.written += 1
        if codes := verdicts.get(plan.key, []):
            result.revalidation_failures[plan.key] = codes
        else:
            result.revalidated_ok += 1
    # The accepted annotation's canonical form follows the fixed file, so the transfer and the release (which read
    # annotations.payload) carry the fix; a fix that fails re-validation leaves the payload as it was.
    updates = [(items[p.key].model_dump_json(), len(items[p.key].objects), p.item_key)
               for p in result.plans if p.key in items and not verdicts.get(p.key)]
    with conn.cursor() as cur:
        db.execute_batch(cur, """
            UPDATE annotations a SET payload = v.payload::jsonb, object_count = v.objects::int
            FROM (VALUES %s) AS v(payload, objects, item_key)
            WHERE a.item_key = v.item_key AND a.status = 'passed'""", updates)
    conn.commit()  # the files are rewritten: the payloads that follow them must not roll back with a later error
    result.payloads_updated = len(updates)
    files = {p.key: {"key": p.key, "changes": p.changes, "revalidation": verdicts.get(p.key, [])}
             for p in result.plans}
    summary_key = f"bulkfix/{run}/summary.json"
    if backup.exists(summary_key):  # a retry of the run: keep what the first try wrote
        files = {f["key"]: f for f in json.loads(backup.read_bytes(summary_key))["files"]} | files
    summary = {"run": run, "rules": [r.spec for r in rules], "files": sorted(files.values(), key=lambda f: f["key"])}
    backup.write_bytes(summary_key, json.dumps(summary, ensure_ascii=False, indent=2).encode("utf-8"))
    return result


def bulkfix_step(ctx: StepContext) -> StepResult:
    """The ``json_dump`` task (and ``python -m trainset json-dump``): parse ``rules`` (a malformed rule or none at
    all is an input error), apply them to the files under ``root`` (default ``storage.labeling``) / ``prefix``,
    keeping originals under the reports root; ``dry_run`` reports only.  The run's name is ``run`` or
    ``json_dump__<run_id>``; the first inspection's rules judge for the work date."""
    try:
        rules = [parse_rule(spec) for spec in ctx.arg("rules", [])]
    except RuleError as err:
        raise StepInputError(str(err)) from err
    if not rules:
        raise StepInputError("no rules given")
    run = ctx.arg("run") or "json_dump__" + "".join(c if c.isalnum() or c in "-_." else "_" for c in ctx.run_id)
    dry_run = ctx.arg("dry_run", True)
    storage = ctx.storages.open(ctx.arg("root") or ctx.config.storage.labeling)
    result = apply_fixes(ctx.conn, storage, ctx.arg("prefix", ""), rules, ctx.config, run=run, dry_run=dry_run,
                         backup=None if dry_run else ctx.storages.reports, work_date=ctx.work_date)
    lines = result.summary_lines(examples=20)
    return StepResult(summary=lines[0], details=lines[1:],
                      xcom={"dry_run": result.dry_run, "scanned": result.scanned, "matched": len(result.plans),
                            "written": result.written, "revalidation_failed": len(result.revalidation_failures),
                            "changes_by_rule": dict(result.changes_by_rule)})
