"""Charts for the run report, drawn with matplotlib (Agg, no pyplot) and returned as PNG bytes."""
from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

CHART_DPI = 90


def _figure(width: float, height: float, fixed_margins: bool = False):
    # Figure without pyplot: no global state and no GUI backend, whatever MPLBACKEND says.
    from matplotlib.figure import Figure

    if fixed_margins:
        # The many small signal charts share one shape; constrained layout would double their cost.
        fig = Figure(figsize=(width, height), dpi=CHART_DPI)
        fig.subplots_adjust(left=0.17, right=0.97, bottom=0.12, top=0.84)  # room for a two-line title
        return fig
    return Figure(figsize=(width, height), dpi=CHART_DPI, layout="constrained")


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def chart_funnel(funnel: Sequence[dict[str, Any]]) -> bytes:
    fig = _figure(7.5, 3.2)
    ax = fig.add_subplot()
    stages = [f["stage"] for f in funnel]
    x = range(len(stages))
    ax.bar([i - 0.2 for i in x], [f["in"] for f in funnel], width=0.4, label="in", color="#9bb7d4")
    ax.bar([i + 0.2 for i in x], [f["out"] for f in funnel], width=0.4, label="out", color="#2f6690")
    ax.set_xticks(list(x), stages, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("documents")
    ax.set_title("Documents in and out of each stage")
    ax.legend(fontsize=8)
    return _png(fig)


def chart_bars(labels: Sequence[str], values: Sequence[float], title: str, xlabel: str, log: bool = False) -> bytes:
    fig = _figure(6.5, max(1.6, 0.28 * len(labels) + 0.9))
    ax = fig.add_subplot()
    positions = list(range(len(labels)))[::-1]  # largest at the top
    ax.barh(positions, values, color="#2f6690")
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    if log:
        ax.set_xscale("log")
    return _png(fig)


# Up to this many documents in both groups, a histogram shows counts: a
# fraction of 3 rejected documents (0.333) hides how few they are.
SMALL_GROUP = 100
SIGNAL_TICKS = 4  # x ticks on a 3.6-inch chart; more collide at font size 7
TITLE_CHARS = 28  # a signal name longer than this wraps at an underscore


def signal_heights(histogram: dict[str, Any]) -> tuple[dict[str, list[float]], str]:
    """Bar heights per group and the y-axis label: counts when both groups are small, else fractions.

    Fractions when either group is large: kept and rejected then differ in
    size by orders of magnitude and counts would flatten the smaller one.
    """
    totals = {label: sum(histogram[label]) for label in ("kept", "rejected")}
    if max(totals.values()) <= SMALL_GROUP:
        return {label: [int(c) for c in histogram[label]] for label in totals if totals[label]}, "documents"
    return {label: [c / totals[label] for c in histogram[label]] for label in totals if totals[label]}, "fraction"


def wrapped_title(name: str, width: int = TITLE_CHARS) -> str:
    """`name` on lines of at most `width` characters, broken after underscores (names have no spaces)."""
    lines, line = [], ""
    for part in name.split("_"):
        piece = part if not line else f"_{part}"
        if line and len(line) + len(piece) > width:
            lines.append(line + "_")
            line = part
        else:
            line += piece
    return "\n".join([*lines, line])


def signal_figure(name: str, histogram: dict[str, Any]):
    """The kept-vs-rejected histogram of one signal, as a matplotlib Figure (chart_signal draws it)."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(3.6, 2.6, fixed_margins=True)
    ax = fig.add_subplot()
    heights, ylabel = signal_heights(histogram)
    totals = {label: sum(histogram[label]) for label in heights}
    for label, color in (("kept", "#2f6690"), ("rejected", "#d1495b")):
        if label in heights:
            ax.stairs(heights[label], histogram["edges"], label=f"{label} ({totals[label]:,})", color=color, fill=True, alpha=0.45)
    ax.set_title(wrapped_title(name), fontsize=8)
    ax.set_ylabel(ylabel, fontsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=SIGNAL_TICKS))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=ylabel == "documents"))
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useOffset=False)
    ax.tick_params(labelsize=7)
    ax.xaxis.get_offset_text().set_fontsize(6)
    ax.legend(fontsize=6)
    return fig


def chart_signal(name: str, histogram: dict[str, Any]) -> bytes:
    return _png(signal_figure(name, histogram))


def chart_cluster_sizes(histogram: dict[str, int]) -> bytes:
    fig = _figure(6.0, 2.6)
    ax = fig.add_subplot()
    sizes = [int(k) for k in histogram]
    counts = list(histogram.values())
    ax.bar([str(s) for s in sizes], counts, color="#2f6690")
    if max(counts, default=0) > 50 * max(1, min(counts, default=0)):
        ax.set_yscale("log")  # singletons usually outnumber big clusters by orders of magnitude
    ax.set_xlabel("cluster size (documents)")
    ax.set_ylabel("clusters")
    ax.set_title("Duplicate cluster sizes")
    ax.tick_params(axis="x", labelsize=7)
    return _png(fig)


def chart_loss(train: Sequence[tuple[float, float]], val: Sequence[tuple[float, float]]) -> bytes:
    fig = _figure(7.0, 3.2)
    ax = fig.add_subplot()
    if train:
        ax.plot([s for s, _ in train], [v for _, v in train], label="train loss", color="#2f6690", linewidth=1)
    if val:
        ax.plot([s for s, _ in val], [v for _, v in val], "o-", label="val loss", color="#d1495b", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title("Training loss")
    ax.legend(fontsize=8)
    return _png(fig)


def chart_eval_curves(curves: dict[str, Sequence[tuple[float, float]]], chance: dict[str, float]) -> bytes:
    """Continuous-evaluation metrics by step (accuracies left, bits per byte
    right), with each task's chance level as a dotted line."""
    fig = _figure(7.0, 3.2)
    acc_ax, bpb_ax = fig.subplots(1, 2)
    for name, points in curves.items():
        ax = bpb_ax if name.endswith("bpb") else acc_ax
        ax.plot([s for s, _ in points], [v for _, v in points], "o-", label=name, markersize=3, linewidth=1)
    for task, level in chance.items():
        acc_ax.axhline(level, linestyle=":", color="grey", linewidth=1)
        acc_ax.annotate(f"{task} chance", (0, level), xycoords=("axes fraction", "data"), fontsize=6, color="grey")
    acc_ax.set_title("Task accuracy during training")
    bpb_ax.set_title("Bits per byte during training")
    for ax in (acc_ax, bpb_ax):
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(fontsize=6)
    return _png(fig)


def chart_ablation(recipes: dict[str, dict[str, Any]]) -> bytes:
    fig = _figure(6.0, 3.0)
    ax = fig.add_subplot()
    names = [n for n, r in recipes.items() if r.get("mean_bpb") is not None]
    # Points with error bars, not bars: bpb differences are small next to its absolute value.
    ax.errorbar(range(len(names)), [recipes[n]["mean_bpb"] for n in names],
                yerr=[recipes[n].get("std_bpb") or 0.0 for n in names],
                fmt="s", color="#2f6690", capsize=6, markersize=7, label="mean ± std over seeds")
    for i, name in enumerate(names):
        seeds = recipes[name]["val_bpb"]
        ax.plot([i + 0.12] * len(seeds), seeds, "o", color="#d1495b", markersize=4, alpha=0.8,
                label="one seed" if i == 0 else None)
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel("val bits per byte (lower is better)", fontsize=8)
    ax.set_title("Recipes at equal token budget")
    ax.legend(fontsize=7)
    return _png(fig)
