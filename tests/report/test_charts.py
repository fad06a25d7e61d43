import base64

import numpy as np
import pytest

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


def _bar_widths(fig):
    """Drawn lengths of the bars in pixels from the axis' left edge to their ends, in the chart's order."""
    ax = fig.axes[0]
    fig.canvas.draw()
    left = ax.transData.transform((ax.get_xlim()[0], 0))[0]
    return [ax.transData.transform((p.get_x() + p.get_width(), 0))[0] - left for p in ax.patches]


def test_counts_within_a_decade_are_drawn_in_proportion():
    """500 vs 1,000 on a log axis starting near 450 read as about 1:20; linear, they are 1:2."""
    fig = charts.class_distribution_figure(["a", "b", "c"], np.array([1000, 700, 500]))
    widths = _bar_widths(fig)
    assert fig.axes[0].get_xscale() == "linear"
    assert widths[2] / widths[0] == pytest.approx(0.5, rel=0.02)


def test_a_long_tail_is_log_scale_with_bars_from_one():
    fig = charts.class_distribution_figure(["a", "b"], np.array([10000, 10]))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlim()[0] <= 1.0
    widths = _bar_widths(fig)
    # a bar's length is its count's magnitude from 1: log(10) / log(10,000) = 1/4, give or take the floor
    assert 0.2 < widths[1] / widths[0] < 0.35


def test_a_class_name_the_font_lacks_does_not_warn_on_stderr():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        charts.class_distribution(["猫", "dog"], np.array([5, 9]))
        charts.rate_bars(["猫", "dog"], np.array([0.1, 0.2]), xlabel="label noise (%)")
    assert not [w for w in caught if "Glyph" in str(w.message)]
