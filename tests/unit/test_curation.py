"""Curation: classical features, the usearch index, domain-outlier verdicts, the ONNX embedder and the CLI."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw
from trainset.curation.domain import judge_group, load_domain_model
from trainset.curation.features import CLASSICAL_NAMES, OnnxEmbedder, features_bytes, load_embedder
from trainset.curation.index import FeatureIndex


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def drawing(seed: int) -> bytes:
    """Flat-colour clip art: a few filled shapes with outlines on white."""
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (400, 400), "white")
    d = ImageDraw.Draw(im)
    for _ in range(4):
        x, y = rng.integers(20, 260, 2)
        w, h = rng.integers(40, 120, 2)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        box = [int(x), int(y), int(x + w), int(y + h)]
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=colour, outline="black", width=4)
    return _png(im)


def photos() -> list[bytes]:
    from skimage import data

    return [_jpeg(a) for a in (data.astronaut(), data.coffee(), data.chelsea(), data.rocket())]


def test_classical_vector_is_named_and_separates_drawings_from_photos():
    d = features_bytes(drawing(1))
    p = features_bytes(photos()[0])
    assert d.error is None and len(d.vector) == len(CLASSICAL_NAMES)
    dn, pn = d.named(), p.named()
    assert dn["flat_exact_share"] > 0.5 > pn["flat_exact_share"]
    assert pn["noise_floor"] > dn["noise_floor"]
    model = load_domain_model()
    logits = model.logit(np.array([d.vector, p.vector]))
    assert logits[0] < 0 < logits[1]  # drawing illustration-like, photo photo-like


def test_bad_input_has_a_reason_and_transparent_pixels_count():
    assert features_bytes(b"").error == "unrecognised format"
    assert "Error" in (features_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).error or "")
    im = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse([50, 50, 150, 150], fill=(255, 0, 0, 255))
    named = features_bytes(_png(im)).named()
    assert 0.6 < named["alpha_share"] < 0.9
    assert named["val_mean"] > 0.8  # transparent → white, not the black hidden under it


def test_a_photo_among_drawings_and_a_drawing_among_photos_are_flagged():
    drawings = [features_bytes(drawing(s)).vector for s in range(9)]
    photo_vecs = [features_bytes(b).vector for b in photos()]
    verdicts = judge_group(np.array(drawings + photo_vecs[:1]))
    assert [v.outlier for v in verdicts] == [False] * 9 + [True]
    assert verdicts[-1].domain == "photo" and verdicts[0].group_domain == "illustration"
    # the reverse: photos (each twice, as a class would hold several shots) plus one drawing
    verdicts = judge_group(np.array(photo_vecs + photo_vecs + [drawings[0]]))
    assert verdicts[-1].outlier and not any(v.outlier for v in verdicts[:-1])
    # too small a group is scored but never judged
    assert not any(v.outlier for v in judge_group(np.array(drawings[:2] + photo_vecs[:1])))


def test_feature_index_finds_the_nearest_neighbour():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 16)).astype(np.float32)
    index = FeatureIndex(16)
    index.add(np.arange(500) + 1000, x)
    keys, dist = index.search(x[42] + 0.001, 3)
    assert keys[0] == 1042 and dist[0] < 0.01 and dist[1] > dist[0]
    assert index.nearest_distance(x[:5]).max() < 1e-3
    assert np.isinf(FeatureIndex(4).nearest_distance(np.zeros((1, 4)))).all()


def _tiny_onnx(path):
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("GlobalAveragePool", ["x"], ["y"])
    graph = helper.make_graph([node], "gap", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 1, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_onnx_embedder_runs_a_local_model(tmp_path):
    path = tmp_path / "gap.onnx"
    _tiny_onnx(path)
    embedder = load_embedder(f"onnx:{path}")
    assert isinstance(embedder, OnnxEmbedder) and (embedder.height, embedder.width) == (32, 32)
    r = features_bytes(drawing(3), embedder=embedder)
    assert r.kind == "onnx:gap.onnx" and len(r.vector) == 3
    assert abs(np.linalg.norm(r.vector) - 1.0) < 1e-5
    assert load_embedder("classical") is None
    with pytest.raises(FileNotFoundError):
        load_embedder(f"onnx:{tmp_path / 'missing.onnx'}")


def test_cli_judges_each_class_folder(tmp_path, capsys):
    from trainset.cli import main

    (tmp_path / "drawings").mkdir()
    (tmp_path / "photos").mkdir()
    for s in range(8):
        (tmp_path / "drawings" / f"d{s}.png").write_bytes(drawing(s))
    pics = photos()
    (tmp_path / "drawings" / "intruder.jpg").write_bytes(pics[1])
    for i, b in enumerate(pics + pics):
        (tmp_path / "photos" / f"p{i}.jpg").write_bytes(b)
    (tmp_path / "photos" / "clipart.png").write_bytes(drawing(11))
    assert main(["curate", "outliers", str(tmp_path)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 18
    assert {x["input"].rsplit("/", 1)[-1] for x in lines if x["outlier"]} == {"intruder.jpg", "clipart.png"}
    assert all({"input", "domain", "score", "outlier", "cluster"} <= set(x) for x in lines)
    assert main(["curate", "outliers", str(tmp_path / "nope")]) == 2
