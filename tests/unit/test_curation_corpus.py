"""Domain outliers on ../shared/corpus/domain (real illustrations and photos): the held-out split, which the
shipped model never saw, must keep precision and recall of the outlier flag high (skips without the corpus)."""

from __future__ import annotations

import pytest
from trainset.curation.domain import DEFAULT_THRESHOLD
from trainset.curation.evaluate import load_labelled, precision_recall, split_of
from trainset.curation.features import features_file


@pytest.fixture(scope="module")
def labelled(corpus):
    return load_labelled(corpus / "domain")


def test_held_out_precision_and_recall(labelled):
    held = [i for i in labelled if split_of(i.name) == "held_out"]
    assert len(held) > 60
    result = precision_recall(held, threshold=DEFAULT_THRESHOLD, seeds=3)
    assert result["folders"] >= 15
    assert result["precision"] >= 0.85 and result["recall"] >= 0.85, result


def test_25mp_canvas_and_bilevel_drawing_decode(corpus):
    for name in ("free-gophers_characters-4.png", "sharp_patent-drawing.png"):
        r = features_file(corpus / "domain" / "illustration" / name)
        assert r.error is None, (name, r.error)
