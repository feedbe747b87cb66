"""The release's data card: one HTML page with PNG plots and the quality figures a PM signs off.

Plots: class distribution per split, image width/height and aspect ratio, boxes per image, box sizes, and the
first-inspection / inspection pass rates per day.  Quality figures: 구문 정확성 (share of first-inspected items
without a syntax failure), the inspection pass rates, and the de-identification counts (faces and plates found
and masked, from the ``detections`` table).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path

from trainset import figures
from trainset.db import fetch_dicts
from trainset.train.items import DatasetItem
from trainset.train.split import SplitPlan


def quality_figures(conn, image_ids: Sequence[int], *, upto: dt.date | None = None) -> dict:
    """The card's quality figures: the first inspection and the inspection server over all days (to ``upto``),
    from their one definition (trainset.figures), and the de-identification counts."""
    scope = figures.Scope.all_time(upto)
    first = figures.first_inspection(conn, scope)
    server = figures.server_inspection(conn, scope)
    with conn.cursor() as cur:
        deid_all = fetch_dicts(cur, "SELECT kind, count(*) AS found, count(*) FILTER (WHERE masked) AS masked, "
                                    "count(DISTINCT image_id) AS images FROM detections GROUP BY kind ORDER BY kind")
        deid_release = fetch_dicts(cur, "SELECT kind, count(*) AS found, count(*) FILTER (WHERE masked) AS masked, "
                                        "count(DISTINCT image_id) AS images FROM detections WHERE image_id = ANY(%s) "
                                        "GROUP BY kind ORDER BY kind", (list(image_ids),))
    return {
        "scope": scope.label,
        "first_inspected": first.inspected,
        "first_passed": first.passed,
        "first_missing": first.missing,
        "syntax_accuracy": first.syntax_accuracy,  # 구문 정확성
        "first_inspection_pass_rate": first.pass_rate,
        "server_inspected": server.inspected,
        "server_passed": server.passed,
        "inspection_pass_rate": server.pass_rate,
        "deidentification": {
            "all_images": {r["kind"]: {k: int(r[k]) for k in ("found", "masked", "images")} for r in deid_all},
            "release_images": {r["kind"]: {k: int(r[k]) for k in ("found", "masked", "images")} for r in deid_release},
        },
    }


def pass_rates_per_day(conn) -> dict[str, list[tuple[dt.date, float, int]]]:
    """The plotted series, per day, from the same definitions as the table (trainset.figures)."""
    return figures.pass_rates_per_day(conn)


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    return plt, fig, ax


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    buf = io.BytesIO()
    # Fixed metadata so a rebuilt card has the same bytes (and checksum) as the first build.
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def _class_distribution(ax, items: Sequence[DatasetItem], plan: SplitPlan, class_names: Sequence[str]) -> None:
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    splits = list(plan.ratios)
    x = np.arange(len(class_names))
    width = 0.8 / max(1, len(splits))
    for k, split in enumerate(splits):
        counts = [sum(1 for i in items if i.class_name == c and plan.assignment[i.item_key] == split)
                  for c in class_names]
        ax.bar(x + k * width, counts, width, label=split)
    ax.set_xticks(x + width * (len(splits) - 1) / 2, class_names)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("images")
    ax.set_title("Class distribution per split")
    ax.legend()


def _image_sizes(ax, items: Sequence[DatasetItem]) -> None:
    ax.scatter([i.width for i in items], [i.height for i in items], s=14, alpha=0.7)
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
    ax.set_title("Image width and height")


def _aspect_ratios(ax, items: Sequence[DatasetItem]) -> None:
    aspects = [i.width / i.height for i in items if i.height]
    ax.hist(aspects, bins=min(30, max(5, len(aspects) // 2)), color="tab:green")
    ax.set_xlabel("aspect ratio (width / height)")
    ax.set_ylabel("images")
    ax.set_title("Aspect ratio distribution")


def _boxes_per_image(ax, items: Sequence[DatasetItem]) -> None:
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    per_image = [len(i.objects) for i in items]
    top = max(per_image, default=0)
    ax.hist(per_image, bins=np.arange(-0.5, top + 1.5, 1), color="tab:orange", rwidth=0.85)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("boxes per image")
    ax.set_ylabel("images")
    ax.set_title("Boxes per image")


def _box_sizes(ax, items: Sequence[DatasetItem]) -> None:
    # Box size as the square root of its share of the image area: 0.1 ≈ a box 10% of the frame's side.
    sizes = [math.sqrt(max(0.0, o.bbox[2] * o.bbox[3]) / (i.width * i.height))
             for i in items if i.width and i.height for o in i.objects]
    ax.hist(sizes, bins=20, range=(0, 1), color="tab:purple")
    ax.set_xlabel("sqrt(box area / image area)")
    ax.set_ylabel("boxes")
    ax.set_title("Box size distribution")


def _pass_rates(fig, ax, rates: dict[str, list[tuple[dt.date, float, int]]]) -> None:
    import matplotlib.dates as mdates

    for label, series in rates.items():
        if series:
            ax.plot([d for d, _, _ in series], [r * 100 for _, r, _ in series], marker="o", label=label)
    ax.set_ylim(0, 105)
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, len({d for s in rates.values() for d, _, _ in s}) // 10)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    ax.set_ylabel("pass rate (%)")
    ax.set_title("Pass rates over time")
    if any(rates.values()):
        ax.legend()
    fig.autofmt_xdate()


def render_plots(out_dir: Path, items: Sequence[DatasetItem], plan: SplitPlan, class_names: Sequence[str],
                 rates: dict[str, list[tuple[dt.date, float, int]]]) -> dict[str, Path]:
    """The data card's PNG plots, one figure each: ``{name: path}``."""
    draw = {
        "class_distribution": lambda fig, ax: _class_distribution(ax, items, plan, class_names),
        "image_sizes": lambda fig, ax: _image_sizes(ax, items),
        "aspect_ratios": lambda fig, ax: _aspect_ratios(ax, items),
        "boxes_per_image": lambda fig, ax: _boxes_per_image(ax, items),
        "box_sizes": lambda fig, ax: _box_sizes(ax, items),
        "pass_rates": lambda fig, ax: _pass_rates(fig, ax, rates),
    }
    plots: dict[str, Path] = {}
    for name, plot in draw.items():
        plt, fig, ax = _figure()
        plot(fig, ax)
        plots[name] = _save(plt, fig, out_dir / f"{name}.png")
    return plots


def _table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_pct = figures.pct


def render_html(*, release: str, version: str, project_name: str, counts: dict, balance: dict, quality: dict,
                leak: dict, plots: dict[str, Path], syntax_target: float, created_at: str) -> str:
    splits = balance["splits"]
    class_rows = [[c, *[balance["images_per_split"][s].get(c, 0) for s in splits], balance["images_total"][c],
                   balance["class_weights"].get(c)] for c in balance["class_names"]]
    plan_rows = [[r["class_name"], r["train_images"], r["action"], r["factor"]] for r in balance["sampling_plan"]]
    deid_rows = [[scope, kind, v["found"], v["masked"], v["images"]]
                 for scope, kinds in quality["deidentification"].items() for kind, v in kinds.items()]
    syntax = quality["syntax_accuracy"]
    syntax_status = figures.target_status(syntax, syntax_target)
    plot_html = "".join(f'<figure><img src="{html.escape(p.name)}" alt="{html.escape(name)}">'
                      f"<figcaption>{html.escape(name.replace('_', ' '))}</figcaption></figure>"
                      for name, p in plots.items())
    return f"""<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><title>Data card: {html.escape(release)} {html.escape(version)}</title>
<style>
body{{font-family:system-ui,"Noto Sans KR",sans-serif;margin:2rem;max-width:70rem;color:#222}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}td,th{{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}}
th{{background:#f3f3f3}}td:first-child{{text-align:left}}figure{{display:inline-block;margin:.5rem}}
img{{max-width:32rem;border:1px solid #ddd}}.ok{{color:#17803d}}.bad{{color:#b42318}}
</style></head><body>
<h1>Data card — {html.escape(release)} <small>({html.escape(version)})</small></h1>
<p>{html.escape(project_name)} · created {html.escape(created_at)} · {counts['items']} items,
{counts['objects']} objects, {len(balance['class_names'])} classes</p>
<h2>Quality (품질 지표)</h2>
<p>Scope: {html.escape(quality['scope'])} (every work date and verdict day so far, not only this release's
items).</p>
{_table(["figure", "value"], [
    ["구문 정확성 (syntax accuracy)", figures.syntax_text(syntax, syntax_target)],
    ["first inspection pass rate",
     f"{_pct(quality['first_inspection_pass_rate'])} ({quality['first_passed']} of {quality['first_inspected']} "
     f"first-inspected items; {quality['first_missing']} not uploaded)"],
    ["inspection (검수) pass rate",
     f"{_pct(quality['inspection_pass_rate'])} ({quality['server_passed']} of {quality['server_inspected']} "
     "server verdicts)"],
])}
<p class="{'ok' if syntax_status == 'met' else 'bad'}">구문 정확성: {html.escape(syntax_status)}.</p>
<h3>De-identification (비식별화)</h3>
{_table(["scope", "kind", "found", "masked", "images"], deid_rows) if deid_rows else "<p>No faces or plates found.</p>"}
<h2>Split</h2>
{_table(["split", "items", "ratio"], [[s, balance['split_sizes'][s], counts['ratios'].get(s)] for s in splits])}
<p class="{'ok' if leak['passed'] else 'bad'}">Leak check {'passed' if leak['passed'] else 'FAILED'}:
{leak['groups']} groups ({leak['multi_item_groups']} with several items), groups in two splits:
{len(leak['groups_in_two_splits'])}, same bytes in two splits: {len(leak['sha256_in_two_splits'])},
near duplicates across splits: {len(leak['near_duplicates_across_splits'])}.</p>
<h2>Classes and balance</h2>
{_table(["class", *splits, "total", "class weight"], class_rows)}
<p>Imbalance ratio (largest / smallest training class): {balance['imbalance_ratio']}</p>
<h3>Sampling plan (to {balance['sampling_target']} training images per class)</h3>
{_table(["class", "train images", "action", "factor"], plan_rows)}
<h2>Distributions</h2>
{plot_html}
</body></html>
"""


def labeler_quality_section(conn, out_dir: Path) -> str:
    """품질관리 for the data card: the per-labeler table (GT scores summed over the project, the latest rolling
    accuracy, gating) and ``labeler_accuracy.png`` (daily GT accuracy per labeler over time); "" without GT."""
    import matplotlib.dates as mdates

    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('quality_labeler_daily') IS NOT NULL")
        if not cur.fetchone()[0]:
            return ""
        cur.execute("""SELECT worker_id, work_date, gt_items, gt_boxes, labeled_boxes, matched, accuracy,
                              rolling_accuracy, gated, consensus_items, consensus_agreement
                       FROM quality_labeler_daily ORDER BY worker_id, work_date""")
        rows = cur.fetchall()
    if not rows:
        return ""
    table, series = [], {}
    for worker in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == worker]
        gt, labeled, matched = (sum(r[k] for r in mine) for k in (3, 4, 5))
        acc = matched / (gt + labeled - matched) if gt + labeled - matched else None
        agreements = [r[10] for r in mine if r[10] is not None]
        last = mine[-1]
        table.append([worker, sum(r[2] for r in mine), gt, _pct(acc),
                      _pct(matched / labeled if labeled else None), _pct(matched / gt if gt else None),
                      _pct(last[7]), sum(r[9] for r in mine),
                      _pct(sum(agreements) / len(agreements) if agreements else None), "yes" if last[8] else "no"])
        series[worker] = [(r[1], r[6]) for r in mine if r[6] is not None]
    plt, fig, ax = _figure()
    for worker, points in series.items():
        if points:
            ax.plot([d for d, _ in points], [a * 100 for _, a in points], marker="o", label=worker)
    ax.set_ylim(0, 105)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    ax.set_ylabel("GT accuracy (%)")
    ax.set_title("Labeler accuracy over time (GT items)")
    if any(series.values()):
        ax.legend()
    fig.autofmt_xdate()
    out_dir.mkdir(parents=True, exist_ok=True)
    plot = _save(plt, fig, out_dir / "labeler_accuracy.png")
    return ("<h2>Labeling quality (품질관리)</h2>"
            + _table(["labeler", "GT items", "GT boxes", "accuracy", "precision", "recall", "rolling accuracy",
                      "consensus items", "consensus agreement", "gated"], table)
            + f'<figure><img src="{html.escape(plot.name)}" alt="labeler accuracy">'
              "<figcaption>labeler accuracy over time</figcaption></figure>")


def insert_section(page: str, section: str) -> str:
    """``section`` placed at the end of the card's body."""
    return page.replace("</body>", section + "\n</body>", 1) if section else page
