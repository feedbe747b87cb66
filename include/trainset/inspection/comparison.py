"""Quality control overlays (품질관리): GT vs labeler and replica vs replica drawn over one image, the label-error
hints beside it, and the HTML page of the day's comparisons (the drawing primitives are the viewer's)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from trainset.config import ProjectConfig
from trainset.inspection import labels
from trainset.inspection.viewer import _font, _slug, draw_label, fit_text, hangul_font_path

REFERENCE_RGB = (40, 200, 80)  # GT, or the first replica
OTHER_RGB = (230, 40, 200)  # the labeler, or the second replica


@dataclass(frozen=True)
class ComparisonItem:
    item_key: str
    image_path: Path
    reference: dict  # the project JSON of GT (or replica A)
    other: dict | None  # the labeler's (or replica B's); None: nothing uploaded
    reference_name: str
    other_name: str
    kind: str  # gt | consensus
    summary: str = ""  # e.g. "accuracy 0.50 · missing 1"
    hints: tuple[str, ...] = ()  # lines shown beside the image


def render_comparison(image: Image.Image, item: ComparisonItem, *, font_path: Path) -> Image.Image:
    """Both labels over one image (reference green, other magenta, the other dashed), a legend, and a side
    panel with the comparison's summary and hints."""
    im = ImageOps.exif_transpose(image).convert("RGB")
    draw = ImageDraw.Draw(im)
    size = max(12, min(im.width, im.height) // 24)
    font = _font(str(font_path), size)
    width = max(2, min(im.width, im.height) // 150)
    for payload, color, dashed in ((item.reference, REFERENCE_RGB, False), (item.other, OTHER_RGB, True)):
        if not payload:
            continue
        stated = labels.image_size(payload)
        sx, sy = (im.width / stated[0], im.height / stated[1]) if stated and all(stated) else (1.0, 1.0)
        for obj in labels.objects(payload):
            if obj.bbox:
                x, y, w, h = obj.bbox
                box = (x * sx, y * sy, (x + w) * sx, (y + h) * sy)
            elif obj.polygon:
                xs, ys = [p[0] * sx for p in obj.polygon], [p[1] * sy for p in obj.polygon]
                box = (min(xs), min(ys), max(xs), max(ys))
            else:
                continue
            if dashed:
                _dashed_rectangle(draw, box, color, width)
            else:
                draw.rectangle(box, outline=color, width=width)
            draw_label(draw, (box[0], max(0, box[1] - size - 4) if not dashed else box[3] + 2),
                       obj.category or "?", font, color)
    legend = [(item.reference_name, REFERENCE_RGB), (item.other_name + ("" if item.other else " (no upload)"),
                                                     OTHER_RGB)]
    x = 4
    for text, color in legend:
        box = draw_label(draw, (x, 4), text, font, color)
        x = box[2] + 8
    panel_w = max(220, im.width // 3)
    out = Image.new("RGB", (im.width + panel_w, im.height), (255, 255, 255))
    out.paste(im, (0, 0))
    pdraw = ImageDraw.Draw(out)
    small = _font(str(font_path), max(11, size * 3 // 4))
    y = 6
    for line in ([item.kind + ": " + item.summary] if item.summary else []) + list(item.hints):
        pdraw.text((im.width + 6, y), fit_text(line, small, panel_w - 12), font=small, fill=(20, 20, 20))
        y += small.size + 6
    return out


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box, color, width: int, dash: int = 8) -> None:
    x1, y1, x2, y2 = box
    for a, b, horizontal, fixed in ((x1, x2, True, y1), (x1, x2, True, y2), (y1, y2, False, x1), (y1, y2, False, x2)):
        pos = a
        while pos < b:
            end = min(pos + dash, b)
            draw.line((pos, fixed, end, fixed) if horizontal else (fixed, pos, fixed, end), fill=color, width=width)
            pos += dash * 2


def build_quality_gallery(items: list[ComparisonItem], out_dir: Path, *, config: ProjectConfig | None = None,
                          title: str = "trainset 품질관리: GT vs labeler, replica vs replica") -> Path:
    """One overlay per comparison and ``index.html`` (GT comparisons first, then consensus); returns the page."""
    font_path = hangul_font_path(config.inspection.viewer_font if config else None)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "items").mkdir(exist_ok=True)
    e = html.escape
    figures = {"gt": [], "consensus": []}
    for item in items:
        name = f"items/{item.kind}_{_slug(item.item_key + item.reference_name + item.other_name)}.jpg"
        try:
            with Image.open(item.image_path) as im:
                drawn = render_comparison(im, item, font_path=font_path)
        except (OSError, ValueError) as err:
            drawn = Image.new("RGB", (320, 240), (200, 200, 200))
            draw_label(ImageDraw.Draw(drawn), (6, 6), f"image unreadable: {err}"[:60], _font(str(font_path), 14),
                       (255, 180, 180))
        drawn.save(out_dir / name, quality=88)
        caption = " · ".join(e(x) for x in (item.item_key, f"{item.reference_name} vs {item.other_name}",
                                           item.summary) if x)
        figures.setdefault(item.kind, []).append(
            f"<figure><a href='{e(name)}'><img src='{e(name)}' loading='lazy'></a>"
            f"<figcaption>{caption}</figcaption></figure>")
    out = ["<!doctype html><html lang='ko'><head><meta charset='utf-8'>", f"<title>{e(title)}</title>",
           "<style>body{font-family:'NanumGothic','Noto Sans KR',sans-serif;margin:20px}"
           "figure{display:inline-block;margin:6px;vertical-align:top;max-width:500px}"
           "figure img{max-width:480px;border:1px solid #ccc}figcaption{font-size:12px}</style></head><body>",
           f"<h1>{e(title)}</h1><p>green: GT or the first replica; magenta, dashed: the labeler or the other "
           f"replica</p>"]
    for kind, heading in (("gt", "GT vs labeler"), ("consensus", "Replica vs replica")):
        out.append(f"<h2 id='{kind}'>{heading} ({len(figures.get(kind, []))})</h2>")
        out += figures.get(kind, [])
    out.append("</body></html>")
    page = out_dir / "index.html"
    page.write_text("\n".join(out), encoding="utf-8")
    return page


def quality_comparisons(conn, day, *, hints: dict[str, list[str]] | None = None,
                        fetch: Callable[[str], Path] | None = None) -> list[ComparisonItem]:
    """The day's GT comparisons (GT vs each labeler's upload) and consensus pairs (every pair of replicas).

    ``fetch(uri) -> Path`` turns an image location into a local file (default: ``file://`` locations in place;
    the caller owns S3 access)."""
    from itertools import combinations

    from trainset import db
    from trainset.annotate.model import LabelItem, to_project_json

    def doc(payload):
        if payload is None:
            return None
        item = LabelItem.model_validate(payload if isinstance(payload, dict) else json.loads(payload))
        return to_project_json(item)

    hints = hints or {}
    fetch = fetch or (lambda uri: Path(str(uri).removeprefix("file://")))
    with conn.cursor() as cur:
        gt_rows = db.fetch_dicts(cur, """
            SELECT s.item_key, s.worker_id, s.accuracy, s.conflicts, g.payload AS gt, a.payload AS labeled,
                   i.location FROM quality_item_scores s JOIN quality_gt_items g USING (item_key)
            JOIN images i ON i.image_id = g.image_id
            LEFT JOIN annotations a ON a.annotation_id = s.annotation_id
            WHERE s.work_date = %s AND s.kind = 'gt' ORDER BY s.item_key, s.worker_id""", (day,))
        consensus = db.fetch_dicts(cur, """
            SELECT c.item_key, c.replicas, c.disputed, c.agreement, i.location
            FROM quality_consensus_results c JOIN images i USING (image_id)
            WHERE c.work_date = %s ORDER BY c.item_key""", (day,))
    out = []
    for r in gt_rows:
        conflicts = ", ".join(f"{k} {v}" for k, v in (r["conflicts"] or {}).items() if v)
        acc = "n/a" if r["accuracy"] is None else f"{r['accuracy']:.2f}"
        out.append(ComparisonItem(r["item_key"], fetch(r["location"]), doc(r["gt"]),
                                  doc(r["labeled"]), "GT", r["worker_id"], "gt",
                                  f"accuracy {acc}" + (f" · {conflicts}" if conflicts else ""),
                                  tuple(hints.get(r["item_key"], ()))))
    for r in consensus:
        replicas = r["replicas"] if isinstance(r["replicas"], dict) else json.loads(r["replicas"])
        state = "disputed" if r["disputed"] else "merged"
        for a, b in combinations(sorted(replicas), 2):
            if replicas[a] is None:
                continue
            out.append(ComparisonItem(r["item_key"], fetch(r["location"]),
                                      doc(replicas[a]), doc(replicas[b]), a, b, "consensus",
                                      f"{state} · agreement {r['agreement']:.2f}" if r["agreement"] is not None
                                      else state, tuple(hints.get(r["item_key"], ()))))
    return out
