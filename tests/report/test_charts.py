import base64

import numpy as np

from curate.report import charts


def _svg(uri: str) -> str:
    head, data = uri.split(",", 1)
    assert head == "data:image/svg+xml;base64"
    return base64.b64decode(data).decode()


def test_class_names_are_not_math_text_and_stay_escaped():
    names = ["$\\alpha$ {unbalanced", "<b>&", "plain"]
    svg = _svg(charts.class_distribution(names, np.array([100, 10, 1]), np.array([40.0, 35.0, 36.0])))
    assert svg.startswith("<?xml")  # parses as its own document, inlined only as a data URI
    assert "<b>&" not in svg


def test_many_classes_switch_to_a_rank_curve():
    k = charts.MAX_BARS + 60
    counts = np.sort(np.random.default_rng(0).integers(1, 5000, k))[::-1]
    few = _svg(charts.class_distribution([f"c{i}" for i in range(10)], counts[:10]))
    many = _svg(charts.class_distribution([f"c{i}" for i in range(k)], counts))
    assert len(many) < 3 * len(few)  # no per-class bars or labels for hundreds of classes


def test_embedding_map_is_a_png():
    rng = np.random.default_rng(0)
    uri = charts.embedding_map(
        rng.normal(size=(500, 2)),
        rng.integers(-1, 15, 500),
        [f"c{i}" for i in range(15)],
        is_label_issue=rng.random(500) < 0.05,
        is_outlier=rng.random(500) < 0.02,
    )
    head, data = uri.split(",", 1)
    assert head == "data:image/png;base64" and base64.b64decode(data)[:4] == b"\x89PNG"
