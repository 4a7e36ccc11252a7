"""Every figure in the book: training curves and comparison bar charts, with labelled axes.

Figures are made without pyplot, so none appears by itself in the cell that made it: an
experiment builds its figures at once, and the page shows each where the prose needs it."""

from __future__ import annotations

import contextlib

import seaborn as sns
from matplotlib.artist import setp
from matplotlib.figure import Figure

# In a Jupyter kernel, a Figure that is a cell's value is drawn as a PNG only once the inline
# backend has registered its display formatter; importing it does that (elsewhere it does nothing).
with contextlib.suppress(ImportError):
    import matplotlib_inline.backend_inline  # noqa: F401

sns.set_theme(style="whitegrid", context="notebook")


def logged_train_loss(history: list[dict]) -> list[tuple[float, float]]:
    """``(epoch, training loss)`` points from a run's ``history``, where each logged
    ``train_loss`` is the mean over the steps since the previous point.

    When the steps of a run are not a multiple of the evaluation interval, the last point
    averages only the few steps left over (two batches of 32, say, where the others average
    39): a noisy value that draws a jump at the end of the curve. Such a short window is merged
    into the one before it, weighted by its steps, so every point averages a comparable number
    of batches and the merged point is the exact mean over the steps it covers."""
    points = []  # [epoch, mean loss, steps it averages]
    previous_step = 0
    for p in history:
        steps = p["step"] - previous_step
        previous_step = p["step"]
        if p.get("train_loss") is None:
            continue
        points.append([p["epoch"], p["train_loss"], steps])
    if len(points) > 1:
        typical = max(s for _, _, s in points)
        merged = [points[0]]
        for epoch, loss, steps in points[1:]:
            if steps < typical / 2:
                _, last_loss, last_steps = merged[-1]
                merged[-1] = [
                    epoch,
                    (last_loss * last_steps + loss * steps) / (last_steps + steps),
                    last_steps + steps,
                ]
            else:
                merged.append([epoch, loss, steps])
        points = merged
    return [(epoch, loss) for epoch, loss, _ in points]


def spaced_evaluations(history: list[dict]) -> list[dict]:
    """The validation points of a run's ``history`` without one that a later point follows
    within a few steps (the scheduled evaluation just before the final one, when the steps are
    not a multiple of the interval): two markers drawn on top of each other read as one odd,
    larger marker. The later evaluation is kept."""
    if len(history) < 3:
        return history
    gap = max(b["step"] - a["step"] for a, b in zip(history, history[1:]))
    return [
        p for p, after in zip(history, [*history[1:], None]) if after is None or after["step"] - p["step"] > gap / 4
    ]


def training_curves(records: dict[str, dict], title: str = "") -> Figure:
    """Training and validation loss (left) and validation accuracy (right) per epoch,
    one colour per run, from each record's ``history``. The training loss (dashed) is the
    mean over the batches since the previous point (``logged_train_loss``), measured with
    dropout on; the validation loss (solid) is measured on the whole validation set. A run
    whose history is a single point (a head fitted to convergence, such as chapter 01's linear
    probe, rather than trained over epochs) is drawn as dotted lines at its final validation
    loss and accuracy. One legend, below both panels, so that it never covers a curve."""
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(11, 4.6), layout="constrained")
    (ax_loss, ax_acc) = fig.subplots(1, 2)
    colours = sns.color_palette(n_colors=len(records))
    labels = []
    for (label, rec), colour in zip(records.items(), colours):
        h = rec["history"]
        if len(h) == 1:
            ax_loss.axhline(h[0]["val_loss"], color=colour, linestyle=":")
            ax_acc.axhline(100 * h[0]["val_accuracy"], color=colour, linestyle=":")
            labels.append((f"{label} (fitted, not trained over epochs: dotted)", ":"))
            continue
        ax_loss.plot(*zip(*logged_train_loss(h)), color=colour, linestyle="--")
        shown = spaced_evaluations(h)
        epochs = [p["epoch"] for p in shown]
        ax_loss.plot(epochs, [p["val_loss"] for p in shown], color=colour)
        ax_acc.plot(epochs, [100 * p["val_accuracy"] for p in shown], color=colour, marker="o")
        labels.append((label, "-"))
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss (dashed: training, solid: validation)")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy (%)", title="validation accuracy")
    runs = [
        Line2D([], [], color=colour, linewidth=3, linestyle=style, label=label)
        for (label, style), colour in zip(labels, colours)
    ]
    fig.legend(
        handles=runs,
        loc="outside lower center",
        ncol=min(len(runs), 2 if len(runs) == 4 else 3),
        fontsize=9,
        frameon=False,
    )
    if title:
        fig.suptitle(title)
    return fig


def comparison_bars(
    values: dict[str, float],
    ylabel: str,
    title: str = "",
    fmt: str = "{:.1f}",
    reference: tuple[str, float] | None = None,
    log: bool = False,
) -> Figure:
    """One bar per method with its value written on it; an optional horizontal
    reference line (e.g. chance or a classical baseline). Long names are wrapped onto lines
    under their bar, and the figure widened to fit them, so that no two run into each other."""
    import textwrap

    names = [name if "\n" in name else textwrap.fill(name, 18, break_on_hyphens=False) for name in values]
    longest = max(len(line) for name in names for line in name.split("\n"))
    fig = Figure(figsize=(max(6, len(values) * max(1.4, 0.13 * longest)), 4))
    ax = fig.subplots()
    bars = ax.bar(range(len(values)), list(values.values()), color=sns.color_palette(n_colors=len(values)))
    ax.set_xticks(range(len(values)), names)
    ax.bar_label(bars, labels=[fmt.format(v) for v in values.values()], padding=3)
    if reference:  # beside the axes, where it hides no bar
        ax.axhline(reference[1], color="grey", linestyle=":", label=reference[0])
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set(ylabel=ylabel, title=title)
    ax.margins(y=0.15)
    fig.tight_layout()
    return fig


def parameter_sweep(
    series: dict[str, list[tuple[float, float, str]]],
    references: dict[str, tuple[float, float]] | None = None,
    ylabel: str = "test accuracy (%)",
    title: str = "",
    joined: bool = True,
) -> Figure:
    """Accuracy against trainable parameters (log scale): one line per method, each point
    ``(trainable params, accuracy, label)``; ``references`` are single runs drawn as stars.
    ``joined=False`` draws points only, for series whose points are different methods rather
    than settings of one (a line between them would suggest a trade-off curve)."""
    fig = Figure(figsize=(7, 5.2), layout="constrained")
    ax = fig.subplots()
    colours = sns.color_palette(n_colors=len(series) + len(references or {}))
    labels = []
    for (name, points), colour in zip(series.items(), colours):
        points = sorted(points)
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            color=colour,
            label=name,
            linestyle="-" if joined else "none",
        )
        for x, y, label in points:
            labels.append(ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 6), fontsize=8))
    for (name, (x, y)), colour in zip((references or {}).items(), colours[len(series) :]):
        ax.scatter([x], [y], marker="*", s=160, color=colour, label=name, zorder=3)
    ax.set_xscale("log")
    ax.set(xlabel="trainable parameters (log scale)", ylabel=ylabel, title=title)
    # The legend goes below the axes, where it can hide no point; labels that collide are moved apart.
    fig.legend(loc="outside lower center", ncol=1 if len(series) + len(references or {}) > 3 else 2, fontsize=8)
    separate_labels(fig, labels)
    return fig


def sweep(
    x, panels: dict[str, dict[str, list[float]]], xlabel: str, title: str = "", logx: bool = False, logy: bool = False
) -> Figure:
    """One panel per measured quantity (its y-axis label is the key), each with one line per
    series, against a shared x: e.g. throughput and latency against batch size."""
    fig = Figure(figsize=(5.5 * len(panels), 4))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (ylabel, series) in zip(axes[0], panels.items()):
        for (label, y), colour in zip(series.items(), sns.color_palette(n_colors=len(series))):
            ax.plot(list(x), list(y), marker="o", color=colour, label=label or None)
        ax.set(xlabel=xlabel, ylabel=ylabel)
        if logx:
            ax.set_xscale("log", base=2)
            ax.set_xticks(list(x), [str(v) for v in x])
        if logy:
            ax.set_yscale("log")
        if any(series):
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def bar_panels(
    panels: dict[str, dict[str, float]], title: str = "", fmt: str = "{:.1f}", ylabels: dict[str, str] | None = None
) -> Figure:
    """Bar charts side by side, one per panel (titled by its key), the same categories
    in the same colours: e.g. speed, accuracy and size of a model and its quantised copy."""
    fig = Figure(figsize=(4.2 * len(panels), 4))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (name, values) in zip(axes[0], panels.items()):
        bars = ax.bar(list(values), list(values.values()), color=sns.color_palette(n_colors=len(values)))
        ax.bar_label(bars, labels=[fmt.format(v) for v in values.values()], padding=3)
        ax.set(title=name, ylabel=(ylabels or {}).get(name, name))
        ax.margins(y=0.15)
        setp(ax.get_xticklabels(), rotation=15, ha="right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def heatmap(
    matrix,
    labels: list[str],
    title: str = "",
    value_label: str = "",
    col_labels: list[str] | None = None,
    fmt: str = ".2f",
) -> Figure:
    """A matrix with its values written in: cosine similarities between sentences (rows and
    columns share ``labels``), or any table of rows ``labels`` by columns ``col_labels``."""
    cols = col_labels if col_labels is not None else labels
    fig = Figure(figsize=(0.9 * len(cols) + 4, 0.6 * len(labels) + 2.5))
    ax = fig.subplots()
    sns.heatmap(
        matrix,
        annot=True,
        fmt=fmt,
        xticklabels=cols,
        yticklabels=labels,
        cmap="viridis",
        cbar_kws={"label": value_label},
        ax=ax,
    )
    setp(ax.get_xticklabels(), rotation=30, ha="right")
    ax.set(title=title)
    fig.tight_layout()
    return fig


def matrix_rank(vectors, product, dense, title: str = "") -> Figure:
    """Rank made visible (chapter 05). Left: the columns of ``vectors`` (3 × k) drawn in 3-D
    with the plane the first two span. Middle: ``product`` (a low-rank matrix such as B A) as
    a heat map. Right: the singular values of ``product`` and of a full-rank ``dense`` matrix
    of the same shape; the rank is the number of singular values that are not zero."""
    import numpy as np

    # float32 like the tensors they come from, so rounding noise stays under numpy's rank tolerance
    vectors, product, dense = (np.asarray(m, dtype=np.float32) for m in (vectors, product, dense))
    fig = Figure(figsize=(15, 4.3))
    ax3d = fig.add_subplot(1, 3, 1, projection="3d")
    u, v = vectors[:, 0], vectors[:, 1]
    s, t = np.meshgrid(np.linspace(-1.2, 1.2, 7), np.linspace(-1.2, 1.2, 7))
    plane = s[..., None] * u + t[..., None] * v
    ax3d.plot_surface(plane[..., 0], plane[..., 1], plane[..., 2], alpha=0.2, color="grey")
    for k, colour in zip(range(vectors.shape[1]), sns.color_palette(n_colors=vectors.shape[1])):
        x, y, z = vectors[:, k]
        ax3d.quiver(0, 0, 0, x, y, z, color=colour, linewidth=2.5, arrow_length_ratio=0.12)
        ax3d.text(x, y, z, f" column {k + 1}", color=colour)
    ax3d.set(
        xlabel="x₁",
        ylabel="x₂",
        zlabel="x₃",
        title=f"{vectors.shape[1]} columns in ℝ³, rank {np.linalg.matrix_rank(vectors)}",
    )
    ax3d.view_init(elev=22, azim=-55)
    ax = fig.add_subplot(1, 3, 2)
    sns.heatmap(product, cmap="vlag", center=0, ax=ax, cbar_kws={"label": "entry value"})
    ax.set(
        xlabel="column (input feature)",
        ylabel="row (output feature)",
        title=f"B A: {product.shape[0]}×{product.shape[1]}, rank {np.linalg.matrix_rank(product)}",
    )
    ax = fig.add_subplot(1, 3, 3)
    for matrix, label, marker in ((dense, "random dense matrix", "o"), (product, "B A", "s")):
        values = np.linalg.svd(matrix, compute_uv=False)
        ax.semilogy(
            np.arange(1, len(values) + 1),
            np.maximum(values, 1e-12),
            marker=marker,
            label=f"{label} (rank {np.linalg.matrix_rank(matrix)})",
        )
    ax.set(xlabel="singular value index", ylabel="singular value (log scale)", title="singular values")
    ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def interval_bars(
    values: dict[str, tuple[float, float, float]],
    ylabel: str,
    title: str = "",
    reference: tuple[str, float] | None = None,
    fmt: str = "{:.1f}",
) -> Figure:
    """One bar per method, ``(value, low, high)``, with its confidence interval as an error bar
    and the value written above it; an optional horizontal reference line."""
    fig = Figure(figsize=(max(7, 1.3 * len(values)), 4.5))
    ax = fig.subplots()
    mid = [v[0] for v in values.values()]
    err = [[v[0] - v[1] for v in values.values()], [v[2] - v[0] for v in values.values()]]
    bars = ax.bar(list(values), mid, yerr=err, capsize=4, color=sns.color_palette(n_colors=len(values)))
    ax.bar_label(bars, labels=[fmt.format(v) for v in mid], padding=12, fontsize=9)
    if reference:  # beside the axes, where it hides no bar
        ax.axhline(reference[1], color="grey", linestyle=":", label=reference[0])
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    # Bars start at zero, so their lengths compare as the values do; the labels give the values.
    ax.set_ylim(0, max(v[2] for v in values.values()) * 1.12)
    ax.set(ylabel=ylabel, title=title)
    setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    return fig


def learning_curves(
    series: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str, title: str = "", logx: bool = True
) -> Figure:
    """One line per method through its ``(x, y)`` points, each series with its own x values:
    e.g. test accuracy against the number of training examples."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for (name, points), colour in zip(series.items(), sns.color_palette(n_colors=len(series))):
        points = sorted(points)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=colour, label=name)
    if logx:
        from matplotlib.ticker import NullFormatter

        ax.set_xscale("log")
        ticks = sorted({p[0] for points in series.values() for p in points})
        ax.set_xticks(ticks, [f"{t:,.0f}" for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        setp(ax.get_xticklabels(), rotation=30, ha="right")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion_matrix(counts, labels: list[str], title: str = "") -> Figure:
    """Rows are true classes, columns predicted ones; each cell shows the count and its share
    of the row (the recall of that class on the diagonal)."""
    import numpy as np

    counts = np.asarray(counts)
    share = 100 * counts / counts.sum(1, keepdims=True).clip(min=1)
    notes = [[f"{c:,}\n{s:.0f}%" for c, s in zip(rc, rs)] for rc, rs in zip(counts, share)]
    fig = Figure(figsize=(1.2 * len(labels) + 3, 1.0 * len(labels) + 1.5))
    ax = fig.subplots()
    sns.heatmap(
        share,
        annot=notes,
        fmt="",
        xticklabels=labels,
        yticklabels=labels,
        cmap="Blues",
        vmin=0,
        vmax=100,
        cbar_kws={"label": "share of the true class (%)"},
        ax=ax,
    )
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    fig.tight_layout()
    return fig


def grouped_bars(
    groups: dict[str, dict[str, float]],
    ylabel: str,
    title: str = "",
    fmt: str = "{:.0f}",
    reference: tuple[str, dict[str, float]] | None = None,
) -> Figure:
    """Bars grouped by category (e.g. task), one colour per series (e.g. model); an optional
    reference value per group (e.g. the majority baseline) drawn as a dashed line over it."""
    import numpy as np

    series = list(next(iter(groups.values())))
    width = 0.8 / len(series)
    fig = Figure(figsize=(max(6, 1.2 * len(groups) * len(series) / 2 + 3), 4))
    ax = fig.subplots()
    for k, (name, colour) in enumerate(zip(series, sns.color_palette(n_colors=len(series)))):
        values = [groups[g][name] for g in groups]
        bars = ax.bar(
            np.arange(len(groups)) + (k - (len(series) - 1) / 2) * width, values, width, label=name, color=colour
        )
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=2, fontsize=8)
    if reference:
        label, values = reference
        for i, g in enumerate(groups):
            ax.hlines(values[g], i - 0.45, i + 0.45, colors="black", linestyles="--", label=label if i == 0 else None)
    ax.set_xticks(np.arange(len(groups)), list(groups))
    ax.set(ylabel=ylabel, title=title)
    ax.margins(y=0.15)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def loss_curves(records: dict[str, dict], title: str = "", ylabel: str = "loss (cross-entropy, nats/token)") -> Figure:
    """Training loss (dashed) and held-out loss (solid) per epoch, one colour per run, from each
    record's ``history`` (``train_loss``) and ``held_out_loss`` (``val_loss``) entries."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for (label, rec), colour in zip(records.items(), sns.color_palette(n_colors=len(records))):
        ax.plot(
            [p["epoch"] for p in rec["history"]],
            [p["train_loss"] for p in rec["history"]],
            color=colour,
            linestyle="--",
            label=f"{label} (training)",
        )
        held = rec.get("held_out_loss") or []
        if held:
            ax.plot(
                [p["epoch"] for p in held],
                [p["val_loss"] for p in held],
                color=colour,
                marker="o",
                label=f"{label} (held out)",
            )
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def language_model_curves(records: dict[str, dict], unigram: dict[str, float] | None = None) -> Figure:
    """Training and held-out loss (left) and held-out perplexity, log scale (right), against
    the millions of tokens seen, one colour per language model; ``unigram`` (same labels)
    adds each model's context-free reference perplexity as a dotted line."""
    fig = Figure(figsize=(11, 4))
    ax_loss, ax_ppl = fig.subplots(1, 2)
    for (label, rec), colour in zip(records.items(), sns.color_palette(n_colors=len(records))):
        h = rec["history"]
        tokens = [p["tokens"] / 1e6 for p in h]
        trained = [(p["tokens"] / 1e6, p["train_loss"]) for p in h if p["train_loss"] is not None]
        ax_loss.plot(*zip(*trained), color=colour, linestyle="--", label=f"{label} (train)")
        ax_loss.plot(tokens, [p["val_loss"] for p in h], color=colour, marker="o", label=f"{label} (held-out)")
        ax_ppl.plot(tokens, [p["val_perplexity"] for p in h], color=colour, marker="o", label=label)
        if label in (unigram or {}):
            ax_ppl.axhline(unigram[label], color=colour, linestyle=":", label=f"{label}: unigram model")
    ax_loss.set(xlabel="training tokens seen (millions)", ylabel="cross-entropy loss (nats per token)", title="loss")
    ax_ppl.set(
        xlabel="training tokens seen (millions)",
        ylabel="held-out perplexity (log scale)",
        title="held-out perplexity",
        yscale="log",
    )
    plain_log_ticks(ax_ppl.yaxis)
    ax_loss.legend(fontsize=8)
    ax_ppl.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plain_log_ticks(axis) -> None:
    """Label a log axis with plain numbers ("6,000", "400"), not "6×10³": matplotlib still picks
    which ticks get a label (the decades, and the ticks between them when the axis spans less than
    a decade or two), only the wording changes."""
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):
        def _num_to_string(self, x, vmin, vmax):
            return f"{x:,.0f}" if x >= 1 else f"{x:g}"

    axis.set_major_formatter(Plain(10))
    axis.set_minor_formatter(Plain(10, labelOnlyBase=False))


def training_curves_by_examples(records: dict[str, dict], title: str = "") -> Figure:
    """``training_curves`` against the number of training examples seen instead of epochs, from
    each record's ``history`` (chapter 05). Runs trained on different amounts of data (LoRA's one
    epoch over half the reviews, chapter 01's two epochs over all of them) line up on this axis;
    on an axis of epochs, one LoRA epoch would sit beside one epoch over twice the data."""

    def seen(p: dict, rec: dict) -> int:
        return p["examples"] if "examples" in p else p["step"] * rec["train_config"]["batch_size"]

    by_examples = {
        label: {**rec, "history": [{**p, "epoch": seen(p, rec)} for p in rec["history"]]}
        for label, rec in records.items()
    }
    fig = training_curves(by_examples, title)
    for ax in fig.axes:
        if ax.get_xlabel() == "epoch":
            ax.set_xlabel("training examples seen")
            ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}")
    return fig


def beside_reference(
    ours: dict[str, float],
    reference: dict[str, float],
    ylabel: str,
    reference_label: str,
    title: str = "",
    fmt: str = "{:.1f}",
    log: bool = False,
) -> Figure:
    """This build's values (solid bars) beside a published reference series (hatched grey bars)
    for the categories both have: two series side by side, never one, because the reference
    was not measured here. Values are written on every bar."""
    fig = Figure(figsize=(max(7, 1.5 * len(ours)), 4.6))
    ax = fig.subplots()
    mine = ax.bar(
        [i - 0.2 for i in range(len(ours))],
        list(ours.values()),
        0.4,
        label="this build",
        color=sns.color_palette(n_colors=1)[0],
    )
    ax.bar_label(mine, labels=[fmt.format(v) for v in ours.values()], padding=2, fontsize=8)
    shown = [(i, reference[k]) for i, k in enumerate(ours) if k in reference]
    theirs = ax.bar(
        [i + 0.2 for i, _ in shown],
        [v for _, v in shown],
        0.4,
        label=reference_label,
        color="lightgrey",
        edgecolor="dimgrey",
        hatch="//",
    )
    ax.bar_label(theirs, labels=[fmt.format(v) for _, v in shown], padding=2, fontsize=8, color="dimgrey")
    if log:
        ax.set_yscale("log")
        ax.margins(y=0.18)
    else:
        ax.set_ylim(0, 1.3 * max([*ours.values(), *(v for _, v in shown)]))  # room for the legend above the bars
    ax.set_xticks(range(len(ours)), list(ours), rotation=15, ha="right")
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=8, loc="upper right" if log else "upper left", ncol=1 if log else 2)
    fig.tight_layout()
    return fig


def _renderer(fig: Figure):
    """A renderer for measuring text on ``fig`` (an Agg canvas, attached if the figure has none)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    return canvas.get_renderer()


def separate_labels(fig: Figure, labels: list, tries: int = 12) -> None:
    """Move point labels (``ax.annotate`` with an offset in points) so that no two overlap: each
    label, in turn, keeps its offset if it overlaps none placed before it, else takes the nearest
    free offset one line height above or below (then two, ...)."""
    if fig.get_layout_engine() is not None:
        fig.get_layout_engine().execute(fig)  # measure where the labels will be drawn
    renderer = _renderer(fig)
    placed = []
    for label in labels:
        x, y = label.xyann
        step = label.get_window_extent(renderer).height * 72 / fig.dpi + 1  # one line, in points
        for shift in [0] + [s * k * step for k in range(1, tries) for s in (-1, 1)]:
            label.xyann = (x, y + shift)
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
        else:
            label.xyann = (x, y)
        placed.append(label.get_window_extent(renderer))


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """The names no other point beats on both axes: fewer (or equal) costs ``x`` and a higher
    (or equal) accuracy ``y``, one strictly. Sorted by cost."""
    front = [
        n
        for n, (x, y) in points.items()
        if not any((x2 <= x and y2 >= y) and (x2, y2) != (x, y) for x2, y2 in points.values())
    ]
    return sorted(front, key=lambda n: points[n][0])


MARKERS = ["o", "s", "^", "D", "v", "P", "X", "h", "<", ">", "p", "*"]  # one per method, in the order given


def tradeoff(
    points: dict[str, tuple[float, float, float, float]],
    xlabel: str,
    title: str = "",
    ylabel: str = "test accuracy (%)",
) -> Figure:
    """Accuracy (with its 95% interval) against a cost on a log axis, one point per method, the
    Pareto front (no method both cheaper and more accurate) joined and marked in red. Each method
    has its own marker, named in the legend beside the axes, rather than a text label by the point:
    methods of nearly the same cost sit so close that a label could be read as a neighbour's, or
    cover its error bar. Figures drawn from the same methods, in the same order, share markers."""
    fig = Figure(figsize=(8.4, 4.5), layout="constrained")
    ax = fig.subplots()
    front = pareto_front({n: (x, y) for n, (x, y, _, _) in points.items()})
    for (name, (x, y, lo, hi)), marker in zip(points.items(), MARKERS * (len(points) // len(MARKERS) + 1)):
        ax.errorbar(
            [x],
            [y],
            yerr=[[y - lo], [hi - y]],
            fmt=marker,
            markersize=8,
            markeredgecolor="black",
            markeredgewidth=0.6,
            color="C3" if name in front else "C0",
            ecolor="C3" if name in front else "C0",
            elinewidth=1,
            capsize=3,
            alpha=0.75,  # markers of methods with nearly the same cost show through one another
            label=name,
            zorder=3,
        )
    ax.plot([points[n][0] for n in front], [points[n][1] for n in front], "--", color="C3", label="Pareto front (red)")
    ax.set_xscale("log")
    ax.margins(x=0.1)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    fig.legend(loc="outside right center", fontsize=8)
    return fig
