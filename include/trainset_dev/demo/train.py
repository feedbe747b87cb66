"""The train-handoff lines of the demo's summary: the newest release and its data card."""

from __future__ import annotations

from trainset import figures
from trainset.config import get_config
from trainset.db import fetch_dicts
from trainset.train.split import ordered_splits


def demo_summary(conn, *, run_id: str | None = None) -> list[str]:
    """The PM's lines about the newest release, ending with where its data card is."""
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, """
            SELECT r.release_name, r.version, r.uri, r.counts, b.leak_check, b.params, b.run_id
            FROM releases r JOIN release_builds b USING (release_name)
            ORDER BY r.created_at DESC LIMIT 1""")
    if not rows:
        return ["train_handoff: no release yet (no item has passed inspection)"]
    r = rows[0]
    counts, leak = r["counts"], r["leak_check"]
    per_split = counts.get("per_split", {})
    splits = ", ".join(f"{s} {per_split[s]}" for s in ordered_splits(per_split))  # jsonb sorts keys

    target = get_config().annotate.syntax_accuracy_target
    made = f"this run: published {r['release_name']}" if run_id and r["run_id"] == run_id else (
        f"this run: no new release (nothing changed since {r['release_name']})" if run_id else None)
    return [
        *([f"train_handoff {made}"] if made else []),
        f"train_handoff: release {r['release_name']} ({r['version']}): {counts.get('items', 0)} items, "
        f"{counts.get('objects', 0)} objects; {splits}",
        f"  formats {', '.join(r['params'].get('formats', []))}; leak check "
        f"{'passed' if leak.get('passed') else 'FAILED'} ({leak.get('groups', 0)} groups, "
        f"{leak.get('multi_item_groups', 0)} with several items); imbalance ratio {counts.get('imbalance_ratio')}",
        f"  data card figures (as published with the release; {counts.get('quality_scope', 'all time')}): 구문 정확성 "
        f"{figures.syntax_text(counts.get('syntax_accuracy'), target)}, first-inspection pass rate "
        f"{figures.pct(counts.get('first_inspection_pass_rate'))}, inspection pass rate "
        f"{figures.pct(counts.get('inspection_pass_rate'))}",
        f"  release: {r['uri']} (manifest.json lists every file with its sha256)",
        f"  data card: {r['uri']}/datacard/index.html",
    ]
