"""The report's charts, drawn with matplotlib and returned as ``data:`` URIs.

Figures are built with :class:`matplotlib.figure.Figure` directly (the Agg canvas, no pyplot
state), so rendering is headless and thread-safe. Bar and line charts are SVG (crisp, small);
the embedding map is a PNG because thousands of points would make a heavy SVG. Math-text is
off so a class name with ``$`` in it is drawn as written.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

BLUE = "#4C72B0"
ORANGE = "#DD8452"
RED = "#C44E52"
GREY = "#B8BCC4"
INK = "#2B2F36"

_RC = {
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.edgecolor": "#C9CDD4",
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "curate",  # stable ids: the same data gives the same bytes
    "svg.fonttype": "path",
}

#: class colours for the map: tab10 without its red (label issues are red) and grey (other classes)
PALETTE = tuple(c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i not in (3, 7))

#: above this many classes, bars become a rank curve
MAX_BARS = 40


def _data_uri(fig: Figure, fmt: str, *, dpi: int = 100) -> str:
    buf = io.BytesIO()
    meta = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata=meta)
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def _log_axis(axis) -> None:
    """Log scale with plain tick labels (1, 10, 100, 1,000): the default labels are math-text,
    which is off here."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def class_distribution(names: Sequence[str], before: np.ndarray, after: np.ndarray | None = None) -> str:
    """Samples per class, log scale, and the expected count after rebalancing when given.

    names: K class names; before: (K,) counts; after: (K,) expected counts (sum of sampling
    weights per final label) or None. Classes are sorted by ``before``, largest first. With more
    than :data:`MAX_BARS` classes the chart is a count-by-rank curve instead of named bars.
    """
    before = np.asarray(before, dtype=np.float64)
    order = np.argsort(-before, kind="stable")
    with matplotlib.rc_context(_RC):
        if len(names) <= MAX_BARS:
            k = len(names)
            fig = Figure(figsize=(8.5, 0.8 + 0.26 * max(k, 3)))
            ax = fig.add_subplot()
            y = np.arange(k)
            h = 0.4 if after is not None else 0.7
            ax.barh(
                y - (h / 2 if after is not None else 0),
                np.maximum(before[order], 0.8),
                height=h,
                color=BLUE,
                label="now",
            )
            if after is not None:
                ax.barh(
                    y + h / 2,
                    np.maximum(np.asarray(after, dtype=np.float64)[order], 0.8),
                    height=h,
                    color=ORANGE,
                    label="after proposed rebalancing (expected)",
                )
            ax.set_yticks(y, [_short(names[i]) for i in order])
            ax.invert_yaxis()
            ax.set_xscale("log")
            _log_axis(ax.xaxis)
            ax.set_xlabel("samples (log scale)")
            ax.grid(axis="x", color="#E6E8EC", linewidth=0.8)
        else:
            fig = Figure(figsize=(8.5, 3.6))
            ax = fig.add_subplot()
            rank = np.arange(1, len(names) + 1)
            ax.plot(rank, np.maximum(before[order], 0.8), color=BLUE, linewidth=2, label="now")
            if after is not None:
                ax.plot(
                    rank,
                    np.maximum(np.asarray(after, dtype=np.float64)[order], 0.8),
                    color=ORANGE,
                    linewidth=2,
                    label="after proposed rebalancing (expected)",
                )
            ax.set_yscale("log")
            _log_axis(ax.yaxis)
            ax.set_xlabel("class rank (largest first)")
            ax.set_ylabel("samples (log scale)")
            ax.grid(color="#E6E8EC", linewidth=0.8)
        ax.set_axisbelow(True)
        if after is not None:
            ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)  # above, never on the bars
        return _data_uri(fig, "svg")


def rate_bars(names: Sequence[str], rates: np.ndarray, *, xlabel: str) -> str:
    """Horizontal bars of per-class rates in 0..1 (already sorted and capped by the caller)."""
    rates = np.asarray(rates, dtype=np.float64)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(8.5, 0.8 + 0.26 * max(len(names), 3)))
        ax = fig.add_subplot()
        y = np.arange(len(names))
        ax.barh(y, rates * 100, height=0.7, color=RED)
        ax.set_yticks(y, [_short(n) for n in names])
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.set_xlim(0, max(5.0, float(rates.max(initial=0)) * 110))
        for yi, r in zip(y, rates):
            ax.annotate(
                f"{100 * r:.1f}%",
                (r * 100, yi),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color=INK,
            )
        ax.grid(axis="x", color="#E6E8EC", linewidth=0.8)
        ax.set_axisbelow(True)
        return _data_uri(fig, "svg")


def embedding_map(
    xy: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    is_label_issue: np.ndarray | None = None,
    is_outlier: np.ndarray | None = None,
    max_colours: int = 8,
) -> str:
    """Scatter of a 2-D projection coloured by class, issues highlighted; a PNG data URI.

    xy: (M, 2) float; labels: (M,) int64 class index, -1 unlabelled; the ``max_colours``
    largest classes get their own colour, the rest are grey. is_label_issue / is_outlier:
    (M,) bool or None.
    """
    labels = np.asarray(labels)
    known = labels[labels >= 0]
    counts = np.bincount(known, minlength=len(class_names)) if known.size else np.zeros(len(class_names), int)
    top = [int(k) for k in np.argsort(-counts, kind="stable")[:max_colours] if counts[k] > 0]
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(9.5, 6.4))
        ax = fig.add_subplot()
        dot = float(np.clip(20000 / max(len(xy), 1), 5, 28))  # a few hundred points need bigger dots
        rest = ~np.isin(labels, top)
        if rest.any():
            ax.scatter(
                xy[rest, 0],
                xy[rest, 1],
                s=dot * 0.8,
                color=GREY,
                alpha=0.5,
                linewidths=0,
                label="other classes" if top else "samples",
                rasterized=True,
            )
        palette = PALETTE
        for i, k in enumerate(top):
            m = labels == k
            ax.scatter(
                xy[m, 0],
                xy[m, 1],
                s=dot,
                color=palette[i % len(palette)],
                alpha=0.75,
                linewidths=0,
                label=_short(class_names[k], 24),
            )
        if is_outlier is not None and np.any(is_outlier):
            m = np.asarray(is_outlier, dtype=bool)
            ax.scatter(
                xy[m, 0], xy[m, 1], s=dot * 4 + 10, facecolors="none", edgecolors=INK, linewidths=0.9, label="outlier"
            )
        if is_label_issue is not None and np.any(is_label_issue):
            m = np.asarray(is_label_issue, dtype=bool)
            ax.scatter(xy[m, 0], xy[m, 1], s=dot * 3 + 8, marker="x", color=RED, linewidths=1.1, label="label issue")
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        legend = ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        for handle in legend.legend_handles:  # same-size keys whatever the dot size
            handle.set_sizes([40])
        return _data_uri(fig, "png", dpi=110)


def score_histogram(scores: np.ndarray, flagged: np.ndarray, *, xlabel: str, bins: int = 40) -> str:
    """Histogram of per-sample scores (N,) with the ``flagged`` (N,) bool ones stacked in red."""
    scores = np.asarray(scores, dtype=np.float64)
    flagged = np.asarray(flagged, dtype=bool)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(8.5, 2.4))
        ax = fig.add_subplot()
        edges = np.histogram_bin_edges(scores, bins=bins)
        ax.hist(
            [scores[~flagged], scores[flagged]], bins=edges, stacked=True, color=[BLUE, RED], label=["kept", "flagged"]
        )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("samples")
        ax.legend(frameon=False)
        ax.grid(axis="y", color="#E6E8EC", linewidth=0.8)
        ax.set_axisbelow(True)
        return _data_uri(fig, "svg")
