"""EDA for the release's data card: per-class sample grids, image size and aspect per class, domain outliers.

``render_eda`` writes PNGs beside the card and returns an HTML section the card appends.  Samples per class are
the first picks of the k-center order over refine's stored features (a spread of the class, not its first files);
without features, the first files by name.  The outlier table lists the release's images with the highest
domain-outlier scores refine recorded (flagged ones are above ``curation.domain_outlier_threshold``).
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from pathlib import Path

from trainset.db import fetch_dicts

GRID_PER_CLASS = 8
THUMB = 96
OUTLIER_ROWS = 10


def _features(conn, items) -> dict[int, list[float]]:
    from trainset.curation.features import FEATURES_VERSION

    with conn.cursor() as cur:
        cur.execute("SELECT i.image_id, f.vector FROM images i JOIN image_features f ON f.sha256 = i.sha256 "
                    "AND f.kind = %s WHERE i.image_id = ANY(%s)", (FEATURES_VERSION, [i.image_id for i in items]))
        return dict(cur.fetchall())


def samples_per_class(items, features: dict[int, list[float]], n: int = GRID_PER_CLASS) -> dict[str, list]:
    from trainset.curation.select import k_center_order

    out = {}
    for class_name in sorted({i.class_name for i in items}):
        members = sorted((i for i in items if i.class_name == class_name), key=lambda i: i.file_name)
        with_f = {i.image_id: features[i.image_id] for i in members if i.image_id in features}
        if len(with_f) == len(members) and members:
            by_id = {i.image_id: i for i in members}
            out[class_name] = [by_id[p.image_id] for p in k_center_order(with_f, limit=n)]
        else:
            out[class_name] = members[:n]
    return out


def _grid(path: Path, samples: dict[str, list], read: Callable[[str], bytes]) -> Path:
    from PIL import Image, ImageDraw

    rows = max(1, len(samples))
    sheet = Image.new("RGB", (120 + GRID_PER_CLASS * (THUMB + 4), rows * (THUMB + 4) + 4), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (class_name, members) in enumerate(samples.items()):
        y = 4 + r * (THUMB + 4)
        draw.text((4, y + THUMB // 2 - 6), class_name[:18], fill="black")
        for c, item in enumerate(members):
            try:
                with Image.open(io.BytesIO(read(item.location))) as im:
                    im.draft("RGB", (THUMB * 2, THUMB * 2))
                    thumb = im.convert("RGB")
                    thumb.thumbnail((THUMB, THUMB))
            except Exception:  # noqa: BLE001 - a missing/odd file leaves its cell empty, the card still builds
                continue
            sheet.paste(thumb, (120 + c * (THUMB + 4), y))
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    sheet.save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return path


def _size_plots(out_dir: Path, items) -> dict[str, Path]:
    from trainset.train.datacard import _figure, _save

    classes = sorted({i.class_name for i in items})
    plots = {}
    plt, fig, ax = _figure()
    for c in classes:
        ax.scatter([i.width for i in items if i.class_name == c], [i.height for i in items if i.class_name == c],
                   s=14, alpha=0.7, label=c)
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
    ax.set_title("Image size per class")
    if classes:
        ax.legend(fontsize=7)
    plots["size_per_class"] = _save(plt, fig, out_dir / "eda_size_per_class.png")
    plt, fig, ax = _figure()
    data = [[i.width / i.height for i in items if i.class_name == c and i.height] for c in classes]
    if any(data):
        ax.boxplot(data, tick_labels=classes)
    ax.set_ylabel("aspect ratio (width / height)")
    ax.set_title("Aspect ratio per class")
    plots["aspect_per_class"] = _save(plt, fig, out_dir / "eda_aspect_per_class.png")
    return plots


def domain_outliers(conn, items, n: int = OUTLIER_ROWS) -> list[dict]:
    by_id = {i.image_id: i for i in items}
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, """SELECT image_id, domain, domain_score, domain_group FROM refine_measurements
                                   WHERE image_id = ANY(%s) AND domain_score IS NOT NULL
                                   ORDER BY domain_score DESC, image_id LIMIT %s""", (list(by_id), n))
    return [{"file_name": by_id[r["image_id"]].file_name, "class_name": by_id[r["image_id"]].class_name,
             "domain": r["domain"], "score": round(float(r["domain_score"]), 3)} for r in rows]


def render_eda(conn, out_dir: Path, items: Sequence, read: Callable[[str], bytes], *, threshold: float) -> str:
    """Write the EDA figures under ``out_dir``; the card's HTML section for them."""
    samples = samples_per_class(items, _features(conn, items))
    grid = _grid(out_dir / "eda_samples.png", samples, read)
    plots = _size_plots(out_dir, items)
    outliers = domain_outliers(conn, items)
    rows = "".join(
        f"<tr><td>{html.escape(o['file_name'])}</td><td>{html.escape(o['class_name'])}</td>"
        f"<td>{html.escape(o['domain'] or '')}</td><td>{o['score']}</td>"
        f"<td>{'flagged' if o['score'] > threshold else ''}</td></tr>" for o in outliers)
    figs = "".join(f'<figure><img src="{html.escape(p.name)}" alt="{html.escape(k)}"><figcaption>'
                   f"{html.escape(k.replace('_', ' '))}</figcaption></figure>" for k, p in plots.items())
    return (f'<h2 id="eda">EDA (탐색적 분석)</h2>\n<h3>Samples per class (spread by k-center over image features)</h3>\n'
            f'<figure><img src="{html.escape(grid.name)}" alt="samples per class" style="max-width:60rem">'
            f"</figure>\n<h3>Image size and aspect per class</h3>\n{figs}\n"
            f"<h3>Domain outliers (photo vs illustration, within the class; flagged above {threshold})</h3>\n"
            + (f"<table><tr><th>file</th><th>class</th><th>domain</th><th>score</th><th></th></tr>{rows}</table>"
               if rows else "<p>No domain scores recorded for these images.</p>") + "\n")


def balanced_section(counts: dict) -> str:
    """The card's table of the balanced training view: per class before / after, augmented, dropped."""
    rows = "".join(f"<tr><td>{html.escape(c)}</td><td>{v['before']}</td><td>{v['after']}</td><td>{v['augmented']}"
                   f"</td><td>{v['dropped']}</td></tr>" for c, v in sorted(counts.items()))
    return ('<h2 id="balanced">Balanced training view (balanced/, train split only)</h2>\n'
            "<table><tr><th>class</th><th>before</th><th>after</th><th>augmented</th><th>dropped</th></tr>"
            f"{rows}</table>\n<p>Augmented copies (flip, rotation, scale/shift, brightness/contrast/gamma; boxes "
            "moved with the pixels) and their sources are listed in balanced/manifest.json; validation and test are "
            "untouched.</p>\n")
