"""The viewer: ground truth drawn over images, contact sheets and an HTML gallery, for a visual check.

Class names are drawn as ``사람 person`` and need a font with Hangul: NanumGothic, shipped inside the PyPI package
``koreanize-matplotlib`` (MIT; the font itself is under the SIL Open Font License), or any TTF named by
``inspection.viewer_font``.  We locate the font file without importing that package (importing it would change
matplotlib's global settings).
"""

from __future__ import annotations

import colorsys
import datetime as dt
import hashlib
import html
import importlib.util
import json
import logging
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from trainset.config import ProjectConfig
from trainset.inspection import labels
from trainset.step import StepContext, StepResult
from trainset.storage import publish_site

log = logging.getLogger(__name__)
FONT_PACKAGE = "koreanize_matplotlib"
FONT_FILE = "NanumGothic.ttf"
GROUPS = ("class", "worker", "reason")


class FontError(RuntimeError):
    pass


def hangul_font_path(configured: str | None = None) -> Path:
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise FontError(f"inspection.viewer_font {configured} does not exist")
        return path
    spec = importlib.util.find_spec(FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FontError(f"no Hangul font: install {FONT_PACKAGE} (requirements.txt) or set inspection.viewer_font")
    for location in spec.submodule_search_locations:
        path = Path(location) / "fonts" / FONT_FILE
        if path.is_file():
            return path
    raise FontError(f"{FONT_FILE} not found in {FONT_PACKAGE}")


@lru_cache(maxsize=16)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def color_for(name: str | None) -> tuple[int, int, int]:
    hue = int(hashlib.sha256((name or "?").encode()).hexdigest()[:4], 16) / 0xFFFF
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def display_name(category: str | None, config: ProjectConfig | None) -> str:
    if category is None:
        return "?"
    cls = config.class_by_name(category) if config else None
    return f"{cls.name_ko} {cls.name}" if cls else category


def draw_label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font, color) -> tuple[int, int, int, int]:
    """A filled tag with the text in it; returns the tag's box."""
    x, y = xy
    left, top, right, bottom = draw.textbbox((x, y), text, font=font)
    pad = 2
    box = (int(left - pad), int(top - pad), int(right + pad), int(bottom + pad))
    draw.rectangle(box, fill=color)
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    draw.text((x, y), text, font=font, fill=(0, 0, 0) if luminance > 140 else (255, 255, 255))
    return box


def render(image: Image.Image, payload: dict, *, config: ProjectConfig | None = None, font_path: Path | None = None,
           caption: str | None = None) -> Image.Image:
    """The image with every box and polygon of the payload drawn and named."""
    font_path = font_path or hangul_font_path(config.inspection.viewer_font if config else None)
    im = ImageOps.exif_transpose(image).convert("RGB")
    # Labels are in the coordinates of the size the JSON states; scale if the file differs (draw what they meant).
    stated = labels.image_size(payload)
    sx, sy = (im.width / stated[0], im.height / stated[1]) if stated and all(stated) else (1.0, 1.0)
    overlay = Image.new("RGBA", im.size, (0, 0, 0, 0))
    odraw = ImageDraw.Draw(overlay)
    draw = ImageDraw.Draw(im)
    size = max(12, min(im.width, im.height) // 22)
    font = _font(str(font_path), size)
    width = max(2, min(im.width, im.height) // 150)
    tags = []
    for obj in labels.objects(payload):
        color = color_for(obj.category)
        name = display_name(obj.category, config)
        anchor = None
        if obj.polygon and len(obj.polygon) >= 2:
            pts = [(x * sx, y * sy) for x, y in obj.polygon]
            odraw.polygon(pts, fill=(*color, 70))
            draw.line([*pts, pts[0]], fill=color, width=width)
            anchor = min(pts, key=lambda p: (p[1], p[0]))
        if obj.bbox:
            x, y, w, h = obj.bbox
            draw.rectangle((x * sx, y * sy, (x + w) * sx, (y + h) * sy), outline=color, width=width)
            anchor = (x * sx, y * sy)
        if anchor is not None:
            tags.append(((max(0, anchor[0]), max(0, anchor[1] - size - 4)), name, color))
    im = Image.alpha_composite(im.convert("RGBA"), overlay).convert("RGB")
    draw = ImageDraw.Draw(im)
    for xy, name, color in tags:
        draw_label(draw, xy, name, font, color)
    if caption:
        draw_label(draw, (4, im.height - size - 6), caption, font, (255, 255, 255))
    return im


# ---------------------------------------------------------------------------------------------------------------
# Contact sheets and the gallery


@dataclass(frozen=True)
class ViewItem:
    item_key: str
    image_path: Path
    payload: dict
    class_name: str | None = None
    worker_id: str | None = None
    reason: str | None = None  # e.g. "annotation: box_loose"
    comment: str | None = None


def _key_of(item: ViewItem, group_by: str) -> str:
    value = {"class": item.class_name, "worker": item.worker_id, "reason": item.reason}[group_by]
    return value or "(none)"


def fit_text(text: str, font, width: int) -> str:
    """The text, cut from the start (keys differ at their end: class, date, sequence) to fit ``width`` px."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength("…" + text) > width:
        text = text[1:]
    return "…" + text


def contact_sheet(tiles: list[tuple[str, Image.Image]], *, title: str, thumb: int, font_path: Path,
                  columns: int = 6) -> Image.Image:
    columns = max(1, min(columns, len(tiles)))
    rows = max(1, (len(tiles) + columns - 1) // columns)
    head = 40
    cap = 22
    sheet = Image.new("RGB", (columns * (thumb + 8) + 8, head + rows * (thumb + cap + 8) + 8), (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    draw.text((8, 8), title, font=_font(str(font_path), 22), fill=(0, 0, 0))
    small = _font(str(font_path), 13)
    for n, (caption, im) in enumerate(tiles):
        tile = ImageOps.contain(im, (thumb, thumb))
        x = 8 + (n % columns) * (thumb + 8)
        y = head + (n // columns) * (thumb + cap + 8)
        sheet.paste(tile, (x + (thumb - tile.width) // 2, y + (thumb - tile.height) // 2))
        draw.text((x, y + thumb + 3), fit_text(caption, small, thumb), font=small, fill=(30, 30, 30))
    return sheet


def _slug(text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in text)[:40]
    return f"{safe}_{digest}"


def build_gallery(items: list[ViewItem], out_dir: Path, *, config: ProjectConfig | None = None,
                  group_by: tuple[str, ...] = GROUPS, title: str = "trainset inspection gallery") -> Path:
    """Render every item, a contact sheet per class / worker / reason, and ``index.html``; returns its path."""
    font_path = hangul_font_path(config.inspection.viewer_font if config else None)
    thumb = config.inspection.viewer_thumb_px if config else 320
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "items").mkdir(exist_ok=True)
    (out_dir / "sheets").mkdir(exist_ok=True)
    rendered: dict[str, tuple[str, Image.Image]] = {}
    problems = []
    for item in items:
        try:
            with Image.open(item.image_path) as im:
                drawn = render(im, item.payload, config=config, font_path=font_path)
        except (OSError, ValueError) as err:
            # A missing or unreadable image is shown as such, not a crash of the whole page.
            problems.append((item.item_key, str(err)))
            drawn = Image.new("RGB", (thumb, thumb), (200, 200, 200))
            draw_label(ImageDraw.Draw(drawn), (6, 6), "image unreadable", _font(str(font_path), 16), (255, 180, 180))
        name = f"items/{_slug(item.item_key)}.jpg"
        drawn.save(out_dir / name, quality=88)
        rendered[item.item_key] = (name, drawn)
    sections = []
    for group in group_by:
        buckets: dict[str, list[ViewItem]] = defaultdict(list)
        for item in items:
            buckets[_key_of(item, group)].append(item)
        for value in sorted(buckets):
            members = buckets[value]
            tiles = [(m.item_key, rendered[m.item_key][1]) for m in members]
            sheet_title = f"{group}: {display_name(value, config) if group == 'class' else value} ({len(members)})"
            sheet = contact_sheet(tiles, title=sheet_title, thumb=thumb // 2, font_path=font_path)
            sheet_name = f"sheets/{group}_{_slug(value)}.jpg"
            sheet.save(out_dir / sheet_name, quality=85)
            sections.append((group, value, sheet_title, sheet_name, members))
    page = out_dir / "index.html"
    page.write_text(_html(title, items, rendered, sections, problems, config), encoding="utf-8")
    (out_dir / "items.json").write_text(json.dumps(
        [{"item_key": i.item_key, "class": i.class_name, "worker": i.worker_id, "reason": i.reason,
          "comment": i.comment, "render": rendered[i.item_key][0]} for i in items], ensure_ascii=False, indent=2),
        encoding="utf-8")
    return page


def _html(title, items, rendered, sections, problems, config) -> str:
    e = html.escape
    out = ["<!doctype html><html lang='ko'><head><meta charset='utf-8'>", f"<title>{e(title)}</title>",
           "<style>body{font-family:'NanumGothic','Noto Sans KR',sans-serif;margin:20px}"
           "figure{display:inline-block;margin:6px;vertical-align:top;max-width:340px}"
           "figure img{max-width:320px;border:1px solid #ccc}figcaption{font-size:12px}"
           "nav a{margin-right:10px}h2{border-bottom:1px solid #ddd}</style></head><body>",
           f"<h1>{e(title)}</h1><p>{len(items)} item(s)</p>"]
    if problems:
        out.append("<p><b>Unreadable:</b> " + ", ".join(f"{e(k)} ({e(v)})" for k, v in problems) + "</p>")
    groups = []
    for group, _value, _t, _s, _m in sections:
        if group not in groups:
            groups.append(group)
    out.append("<nav>" + "".join(f"<a href='#{g}'>by {g}</a>" for g in groups) + "</nav>")
    current = None
    for group, _value, sheet_title, sheet_name, members in sections:
        if group != current:
            out.append(f"<h2 id='{group}'>By {group}</h2>")
            current = group
        out.append(f"<h3>{e(sheet_title)}</h3><p><a href='{e(sheet_name)}'><img src='{e(sheet_name)}' "
                   f"style='max-width:100%' alt='{e(sheet_title)}'></a></p><details><summary>items</summary>")
        for m in members:
            caption = " · ".join(e(x) for x in (m.item_key, display_name(m.class_name, config) if m.class_name else None,
                                               m.worker_id, m.reason, m.comment) if x)
            out.append(f"<figure><a href='{e(rendered[m.item_key][0])}'><img src='{e(rendered[m.item_key][0])}' "
                       f"loading='lazy'></a><figcaption>{caption}</figcaption></figure>")
        out.append("</details>")
    out.append("</body></html>")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------------------
# Items from the records DB


def failed_items(conn, *, day=None, verdict: str = "fail") -> list[dict]:
    """Server verdicts (of ``day``, or all) with what the viewer needs: image location, payload, worker, reason."""
    from trainset import db

    with conn.cursor() as cur:
        return db.fetch_dicts(cur, """
            SELECT x.item_key, x.inspected_on, x.reason_category, x.reason_codes, x.comment, x.inspector,
                   a.payload, a.worker_id, i.location, coalesce(i.class_name, a.class_name) AS class_name
            FROM inspections x
            JOIN annotations a ON a.annotation_id = x.annotation_id
            LEFT JOIN images i ON i.image_id = a.image_id
            WHERE x.round = 'server' AND (%(verdict)s = 'all' OR x.verdict = %(verdict)s)
              AND (%(day)s::date IS NULL OR x.inspected_on = %(day)s::date)
            ORDER BY x.inspected_on, x.item_key""", {"day": day, "verdict": verdict})


def view_items_from_rows(rows: list[dict], fetch) -> list[ViewItem]:
    """``fetch(uri) -> Path`` turns an image location into a local file (the caller owns S3 access)."""
    out = []
    for r in rows:
        reason = r.get("reason_category")
        if reason and r.get("reason_codes"):
            reason = f"{reason}: {', '.join(r['reason_codes'])}"
        out.append(ViewItem(item_key=r["item_key"], image_path=fetch(r["location"]) if r.get("location") else Path(""),
                            payload=r.get("payload") or {}, class_name=r.get("class_name"),
                            worker_id=r.get("worker_id"), reason=reason, comment=r.get("comment")))
    return out


# ---------------------------------------------------------------------------------------------------------------
# The gallery task


def gallery_step(ctx: StepContext) -> StepResult:
    """The ``labeling_show`` task: a gallery of each verdict day's items (``verdict``: fail, pass or all) under
    ``<reports>/inspection/gallery/<day>/``; the days are those the verdict task recorded
    (``ctx.upstream["verdicts"]``), else the work date.  XCom ``{"pages": {day: page URI}}``."""
    from trainset.inspection.transfer import fetch_uri

    verdict = ctx.arg("verdict", "fail")
    pulled = ctx.upstream.get("verdicts") or {}
    days = [dt.date.fromisoformat(d) for d in pulled.get("days", [])] or [ctx.work_date]
    client = ctx.storages.s3_client if ctx.storages.any_on_s3("warehouse", "reports") else None
    rows_by_day = {day: failed_items(ctx.conn, day=day, verdict=verdict) for day in days}
    pages, lines = {}, []
    for day, rows in rows_by_day.items():
        if not rows:
            lines.append(f"{day}: no {verdict} verdicts to show")
            continue
        work = Path(tempfile.mkdtemp(prefix="trainset-gallery-"))
        try:
            items = view_items_from_rows(rows, lambda uri, work=work: fetch_uri(uri, client, work))
            page = build_gallery(items, work / "site", config=ctx.config,
                                 title=f"검수 {verdict} — {day.isoformat()} ({len(items)} items)")
            pages[day.isoformat()] = publish_site(ctx.storages.reports, f"inspection/gallery/{day.isoformat()}",
                                                  page.parent)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        lines.append(f"gallery of {len(rows)} {verdict} item(s) for {day}: {pages[day.isoformat()]}")
    return StepResult(summary=lines[0], details=lines[1:], xcom={"pages": pages})
