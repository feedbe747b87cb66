"""The day's quality gallery when there is nothing to compare, published to a folder and to S3 (moto server)."""

from __future__ import annotations

import datetime as dt

from trainset.config import get_config
from trainset.quality.gallery import build_day_gallery
from trainset.storage import open_storage

DAY = dt.date(2026, 3, 16)


def test_a_day_without_comparisons_gets_a_page_saying_so(records, tmp_path):
    reports = open_storage("file://" + str(tmp_path / "reports"))
    result = build_day_gallery(records, get_config(), DAY, reports)
    page = tmp_path / "reports" / "quality" / "gallery" / "2026-03-16" / "index.html"
    assert result == {"work_date": "2026-03-16", "page": "file://" + str(page), "items": 0, "gt": 0,
                      "consensus": 0, "items_with_hints": 0}
    text = page.read_text(encoding="utf-8")
    assert "nothing to compare" in text and "GT vs labeler (0)" in text and "Replica vs replica (0)" in text
    assert [p.name for p in page.parent.rglob("*") if p.is_file()] == ["index.html"]  # no temporary leftovers


def test_the_page_is_published_to_s3(records, s3_server):
    client = s3_server.client()
    client.create_bucket(Bucket="reports-gallery")
    reports = open_storage("s3://reports-gallery/team", client)
    result = build_day_gallery(records, get_config(), DAY, reports, s3_client=client)
    assert result["page"] == "s3://reports-gallery/team/quality/gallery/2026-03-16/index.html"
    body = client.get_object(Bucket="reports-gallery", Key="team/quality/gallery/2026-03-16/index.html")["Body"]
    assert "nothing to compare" in body.read().decode("utf-8")
