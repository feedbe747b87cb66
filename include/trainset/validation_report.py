"""Our own static HTML of GX validation results, readable with no internet (the office network).

GX 1.x Data Docs load every stylesheet and script from CDNs (Bootstrap 4.3, jQuery, bootstrap-table, Font
Awesome, Vega); offline the index is nearly empty (its table is filled in by bootstrap-table) and validation pages
are unstyled.  No wheel on PyPI ships that set of files at those versions (Bootstrap 4 and bootstrap-table are
not packaged at all), so instead of patching GX's pages we render the same results ourselves: plain HTML with one
local stylesheet and no scripts, beside the GX site::

    <docs_dir>/offline/index.html                     every stored run, newest first (newest 100)
    <docs_dir>/offline/report.css                     the only style sheet (relative link, no CDN)
    <docs_dir>/offline/runs/<suite>/<run>.json        one digest per validation (what the pages show)
    <docs_dir>/offline/runs/<suite>/<run>.html        one page per validation

Every file is written atomically (temp file + rename); callers hold the Data Docs folder's file lock.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from trainset.expectations import SuiteOutcome

REPORT_SUBDIR = "offline"
RUNS_LIMIT = 100
FAILING_ROWS_SHOWN = 200

CSS = """\
:root { --ok: #1b7f3b; --fail: #b3261e; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --head: #f0f3f6; }
body { font-family: "Noto Sans KR", "Malgun Gothic", "Apple SD Gothic Neo", system-ui, sans-serif; color: var(--ink);
       margin: 2rem auto; max-width: 90rem; padding: 0 1rem; line-height: 1.45; background: #ffffff; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
p.meta { color: var(--muted); margin: .25rem 0 1rem; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { border: 1px solid var(--line); padding: .35rem .55rem; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: var(--head); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, "D2Coding", Consolas, monospace; font-size: .88em; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: .6rem; color: #ffffff; font-weight: 600;
         font-size: .85rem; }
.badge.ok { background-color: var(--ok); }
.badge.fail { background-color: var(--fail); }
dl.figures { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; margin: 0; }
dl.figures dt { color: var(--muted); }
dl.figures dd { margin: 0; font-variant-numeric: tabular-nums; }
a { color: #0b57d0; }
"""


def report_dir(docs_dir: Path) -> Path:
    return Path(docs_dir) / REPORT_SUBDIR


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


def digest(outcome: SuiteOutcome, *, run_name: str | None, validated_at: dt.datetime,
           gx_page: Path | None = None) -> dict:
    """What the pages show about one validation (JSON-able; the failing rows are capped)."""
    failing = sorted(outcome.failures.items(), key=lambda kv: (len(kv[0]), kv[0]))
    return {
        "suite": outcome.suite_name,
        "run_name": run_name or "",
        "validated_at": validated_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "success": outcome.success,
        "evaluated": outcome.evaluated,
        "failed": outcome.failed_count,
        "reasons": dict(outcome.reason_counts),
        "expectations": [{"reason_code": e.reason_code, "type": e.expectation_type, "column": e.column,
                          "kwargs": {k: v for k, v in e.kwargs.items() if k not in ("column", "result_format",
                                                                                    "batch_id")},
                          "description": e.description, "success": e.success,
                          "unexpected_count": e.unexpected_count, "null_count": e.null_count}
                         for e in outcome.expectations],
        "failing_rows": [[row_id, codes] for row_id, codes in failing[:FAILING_ROWS_SHOWN]],
        "failing_rows_total": len(failing),
        "gx_page": str(gx_page) if gx_page else None,
    }


def _esc(value) -> str:
    return html.escape("" if value is None else str(value))


def _badge(success: bool) -> str:
    return '<span class="badge ok">passed</span>' if success else '<span class="badge fail">failed</span>'


def _page(title: str, body: str, css_href: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="ko">\n<head>\n<meta charset="utf-8">\n<title>{_esc(title)}</title>\n'
            f'<link rel="stylesheet" href="{css_href}">\n</head>\n<body>\n{body}\n</body>\n</html>\n')


def _columns(e: dict) -> str:
    """The column(s) an expectation reads: its column, a pair's A and B, a list, else the whole table."""
    if e["column"]:
        return e["column"]
    kw = e["kwargs"]
    pair = [kw[k] for k in ("column_A", "column_B") if isinstance(kw.get(k), str)]
    listed = kw.get("column_list") if isinstance(kw.get("column_list"), list) else []
    return ", ".join(map(str, pair or listed)) or "(table)"


def render_run(d: dict, *, index_href: str, gx_href: str | None) -> str:
    rows = []
    for n, e in enumerate(d["expectations"], 1):
        args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in e["kwargs"].items())
        rows.append(f'<tr><td class="num">{n}</td><td><code>{_esc(e["reason_code"])}</code></td>'
                    f'<td><code>{_esc(e["type"])}</code></td><td>{_esc(_columns(e))}</td>'
                    f'<td><code>{_esc(args)}</code></td><td>{_esc(e["description"])}</td>'
                    f'<td>{_badge(e["success"])}</td><td class="num">{e["unexpected_count"]}</td>'
                    f'<td class="num">{e["null_count"]}</td></tr>')
    failing = "".join(f'<tr><td><code>{_esc(row_id)}</code></td><td>{_esc(", ".join(codes))}</td></tr>'
                      for row_id, codes in d["failing_rows"])
    more = d["failing_rows_total"] - len(d["failing_rows"])
    reasons = ", ".join(f"{_esc(k)} {v}" for k, v in d["reasons"].items()) or "none"
    gx = f' · <a href="{_esc(gx_href)}">GX Data Docs page</a> (loads its styles from the internet)' if gx_href else ""
    body = f"""<p><a href="{index_href}">All validations</a>{gx}</p>
<h1>{_esc(d["suite"])} {_badge(d["success"])}</h1>
<p class="meta">run <code>{_esc(d["run_name"] or "-")}</code> · validated {_esc(d["validated_at"])} (UTC)</p>
<dl class="figures">
<dt>rows evaluated</dt><dd id="evaluated">{d["evaluated"]}</dd>
<dt>rows passing</dt><dd id="passing">{d["evaluated"] - d["failed"]}</dd>
<dt>rows failing</dt><dd id="failing">{d["failed"]}</dd>
<dt>failing rows per reason</dt><dd id="reasons">{reasons}</dd>
</dl>
<h2>Expectations ({len(d["expectations"])})</h2>
<table id="expectations">
<thead><tr><th>#</th><th>reason code</th><th>expectation</th><th>column</th><th>arguments</th><th>what it checks</th>
<th>result</th><th>failing rows</th><th>of which null</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
<h2>Failing rows ({d["failing_rows_total"]})</h2>
{"<p>None.</p>" if not failing else f'<table id="failing-rows"><thead><tr><th>row id</th><th>reason codes</th></tr></thead><tbody>{failing}</tbody></table>'}
{f"<p>… and {more} more (the records DB has every verdict).</p>" if more > 0 else ""}"""
    return _page(f"{d['suite']} · {d['run_name']} · validation", body, "../../report.css")


def render_index(digests: list[tuple[str, dict]]) -> str:
    rows = "".join(
        f'<tr><td>{_esc(d["validated_at"])}</td><td><a href="{_esc(href)}">{_esc(d["suite"])}</a></td>'
        f'<td><code>{_esc(d["run_name"] or "-")}</code></td><td class="num">{d["evaluated"]}</td>'
        f'<td class="num">{d["failed"]}</td><td>{_badge(d["success"])}</td></tr>'
        for href, d in digests)
    body = f"""<h1>Validation results</h1>
<p class="meta">Great Expectations suites run by trainset, newest first (the newest {RUNS_LIMIT}). Times are UTC.
These pages need no internet.</p>
<table id="runs"><thead><tr><th>validated</th><th>suite</th><th>run</th><th>rows</th><th>failing</th><th>result</th>
</tr></thead><tbody>{rows or '<tr><td colspan="6">No validations yet.</td></tr>'}</tbody></table>"""
    return _page("trainset validation results", body, "report.css")


def write_report(docs_dir: Path, outcome: SuiteOutcome, *, run_name: str | None,
                 validated_at: dt.datetime | None = None, gx_page: Path | None = None) -> tuple[Path, Path]:
    """Add one validation to the offline report; returns (index.html, this run's page)."""
    root = report_dir(docs_dir)
    validated_at = validated_at or dt.datetime.now(dt.UTC)
    d = digest(outcome, run_name=run_name, validated_at=validated_at, gx_page=gx_page)
    stem = f"{_slug(run_name or 'run')}__{validated_at.astimezone(dt.UTC):%Y%m%dT%H%M%S%fZ}"
    folder = root / "runs" / _slug(outcome.suite_name)
    gx_href = os.path.relpath(gx_page, folder) if gx_page else None
    _atomic_write(root / "report.css", CSS)
    _atomic_write(folder / f"{stem}.json", json.dumps(d, ensure_ascii=False, indent=1, default=str))
    page = folder / f"{stem}.html"
    _atomic_write(page, render_run(d, index_href="../../index.html", gx_href=gx_href))
    index = root / "index.html"
    _atomic_write(index, render_index(_stored(root)))
    link_from_gx_index(docs_dir)
    return index, page


GX_INDEX_MARK = "<!-- trainset offline report link -->"


def link_from_gx_index(docs_dir: Path) -> bool:
    """Put a link to the offline report at the top of GX's index.html (rebuilt by GX on every run, so re-added
    each time): a PM who opens the GX site offline finds the readable pages."""
    index = Path(docs_dir) / "index.html"
    try:
        text = index.read_text(encoding="utf-8")
    except OSError:
        return False
    if GX_INDEX_MARK in text:
        return True
    m = re.search(r"<body[^>]*>", text)
    if not m:
        return False
    banner = (f'{GX_INDEX_MARK}<p id="trainset-offline-report" style="font: 16px sans-serif; margin: 1rem;">'
              f'<a href="{REPORT_SUBDIR}/index.html">Validation results that need no internet</a></p>')
    _atomic_write(index, text[: m.end()] + banner + text[m.end():])
    return True


def _stored(root: Path) -> list[tuple[str, dict]]:
    found = []
    for path in (root / "runs").glob("*/*.json"):
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged digest drops out of the index; its page stays
        found.append((d.get("validated_at", ""), path.relative_to(root).with_suffix(".html").as_posix(), d))
    found.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [(href, d) for _, href, d in found[:RUNS_LIMIT]]
