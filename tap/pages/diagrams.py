"""Pictures of where each parameter-efficient method sits inside a Transformer, drawn from the
dimensions of the model a page uses: Houlsby adapters (chapter 04), LoRA's two paths and its
merge (chapter 05), and (IA)³'s scaling vectors (chapter 07).

A diagram states no result, only shapes: every number on it is a dimension passed in or
arithmetic on them (a parameter count), so it stays true for any model it is drawn for.
Figures are made without pyplot, as in ``tap.pages.plots``."""

from __future__ import annotations

import contextlib
import numbers

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch, Rectangle

with contextlib.suppress(ImportError):  # a Figure as a cell's value is drawn inline (see tap.pages.plots)
    import matplotlib_inline.backend_inline  # noqa: F401

FROZEN, TRAINED, PLAIN = "#c9d6e8", "#f6b26b", "#eeeeee"  # pre-trained and frozen | trained | no weights
MERGED, ACTIVATION = "#dfc3a0", "#9a9a9a"  # frozen base + trained update in one matrix | a token's vector


def _check_sizes(where: str, **sizes: int | None) -> None:
    """Every dimension must be a whole number of at least 1 (``None``: not drawn)."""
    for name, value in sizes.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(
                f"{where}: {name} must be a whole number of at least 1 (a dimension of the model), got {value!r}; "
                f"pass the model's own sizes, e.g. config.hidden_size."
            )


def _canvas(ax: Axes, width: float, height: float, title: str, bottom: float = 0.0) -> None:
    ax.set_xlim(0, width)
    ax.set_ylim(bottom, height)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=11)


def _box(ax: Axes, x: float, y: float, w: float, h: float, text: str, colour: str = PLAIN, size: int = 9) -> None:
    """A rounded box centred on ``(x, y)`` with ``text`` inside."""
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.15", fc=colour, ec="#555555"
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=size)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], **style) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.2, **style})


def _path(ax: Axes, points: list[tuple[float, float]], label: str = "") -> None:
    """A polyline ending in an arrow (a residual connection), labelled at its middle."""
    xs, ys = zip(*points)
    ax.plot(xs[:-1], ys[:-1], color="#333333", lw=1.2)
    _arrow(ax, points[-2], points[-1])
    if label:
        x, y = points[len(points) // 2]
        ax.text(x - 0.15, (y + points[len(points) // 2 - 1][1]) / 2, label, ha="right", va="center", fontsize=8)


def _plus(ax: Axes, x: float, y: float) -> None:
    ax.add_patch(Circle((x, y), 0.3, fc="white", ec="#333333"))
    ax.text(x, y, "+", ha="center", va="center", fontsize=12)


def adapter_placement(
    hidden: int, bottleneck: int, ffn: int | None = None, layers: int | None = None, activation: str = "ReLU"
) -> Figure:
    """Where Houlsby adapters sit in a post-norm Transformer layer (left: after each sub-layer,
    before its residual add & norm) and what one adapter is (right: down to ``bottleneck``,
    a non-linearity, up to ``hidden``, a skip around it). A picture shows the order of the
    sub-layers and the squeeze through the bottleneck faster than the code does."""
    _check_sizes("adapter_placement", hidden=hidden, bottleneck=bottleneck, ffn=ffn, layers=layers)
    d, m = hidden, bottleneck
    fig = Figure(figsize=(12, 7.2), layout="constrained")
    block, inside = fig.subplots(1, 2)

    layer_title = "one Transformer layer" + (f" (the model has L = {layers})" if layers else "")
    _canvas(block, 10, 14, layer_title + ", with Houlsby adapters", bottom=-0.8)
    stack = [  # bottom to top: (y, text, colour)
        (2.0, "multi-head self-attention\n(query, key, value, output)", FROZEN),
        (3.8, f"adapter  {d} → {m} → {d}", TRAINED),
        (5.6, "add & layer norm", FROZEN),
        (7.4, "feed-forward  " + (f"{d} → {ffn} → {d}" if ffn else f"{d} → {d}"), FROZEN),
        (9.2, f"adapter  {d} → {m} → {d}", TRAINED),
        (11.0, "add & layer norm", FROZEN),
    ]
    block.text(5, 0.5, f"hidden states [tokens, d = {d}]", ha="center", va="center", fontsize=9)
    block.text(5, 13.2, f"to the next layer [tokens, d = {d}]", ha="center", va="center", fontsize=9)
    previous = 0.8
    for y, text, colour in stack:
        _arrow(block, (5, previous), (5, y - 0.5))
        _box(block, 5, y, 5.2, 1.0, text, colour)
        previous = y + 0.5
    _arrow(block, (5, previous), (5, 12.9))
    # Residual connections: around attention + adapter, then around feed-forward + adapter.
    _path(block, [(5, 1.15), (1.2, 1.15), (1.2, 5.6), (2.4, 5.6)], "residual")
    _path(block, [(5, 6.5), (1.2, 6.5), (1.2, 11.0), (2.4, 11.0)], "residual")
    block.text(5, -0.4, "blue: pre-trained, frozen    orange: trained for the task", ha="center", fontsize=9)
    inside.text(4, -0.4, "grey bars: one token's vector, drawn as wide as its dimension", ha="center", fontsize=9)

    _canvas(inside, 10, 14, "inside one adapter", bottom=-0.8)
    full = 5.0  # the drawn width of a d-vector; an m-vector is drawn m/d as wide
    narrow = max(full * m / d, 0.12)

    def vector(y: float, width: float, text: str) -> None:
        inside.add_patch(Rectangle((4 - width / 2, y - 0.15), width, 0.3, fc=ACTIVATION, ec="none"))
        inside.text(4 + full / 2 + 0.3, y, text, ha="left", va="center", fontsize=8)

    vector(0.6, full, f"h: d = {d}")
    _box(inside, 4, 1.9, 5.8, 0.9, f"down-projection $W_\\downarrow$ ({m} × {d}) + $b_\\downarrow$", TRAINED)
    vector(3.1, narrow, f"bottleneck: m = {m}")
    _box(inside, 4, 4.3, 5.8, 0.9, f"non-linearity f ({activation})", PLAIN)
    vector(5.5, narrow, f"m = {m}")
    _box(inside, 4, 6.7, 5.8, 0.9, f"up-projection $W_\\uparrow$ ({d} × {m}) + $b_\\uparrow$\nstarts at zero", TRAINED)
    vector(7.9, full, f"d = {d}")
    _plus(inside, 4, 9.1)
    vector(10.3, full, f"output: d = {d}")
    for start, end in [(0.75, 1.45), (2.35, 2.95), (3.25, 3.85), (4.75, 5.35), (5.65, 6.25), (7.15, 7.75)]:
        _arrow(inside, (4, start), (4, end))
    _arrow(inside, (4, 8.05), (4, 8.8))
    _arrow(inside, (4, 9.4), (4, 10.15))
    _path(inside, [(4 - full / 2, 0.6), (0.6, 0.6), (0.6, 9.1), (3.7, 9.1)], "skip")
    inside.text(
        5,
        11.8,
        "$\\mathrm{Adapter}(h) = h + W_\\uparrow\\, f(W_\\downarrow h + b_\\downarrow) + b_\\uparrow$\n"
        f"parameters: 2dm + m + d = {2 * d * m + m + d:,}",
        ha="center",
        va="center",
        fontsize=10,
    )
    return fig


def _matrix(ax: Axes, x: float, y: float, rows: int, cols: int, scale: float, colour: str, text: str) -> float:
    """A ``rows × cols`` matrix drawn to scale (at least thick enough to see) with its lower-left
    corner at ``(x, y)``, labelled above; returns its drawn width."""
    w, h = max(cols * scale, 0.12), max(rows * scale, 0.12)
    ax.add_patch(Rectangle((x, y), w, h, fc=colour, ec="#555555"))
    ax.text(x + w / 2, y + h + 0.15, text, ha="center", va="bottom", fontsize=9)
    return w


def lora_paths(d_in: int, d_out: int, rank: int, alpha: float) -> Figure:
    """LoRA on one linear layer, with every matrix drawn to scale (left: the frozen ``W0`` and
    the trainable ``B A`` side by side, scaled by alpha/rank and summed) and what merging does
    (right: one matrix ``W0 + (alpha/rank) B A``, the layer's original cost; unmerging
    subtracts it again). The thinness of A and B next to W0 is the point of the method."""
    _check_sizes("lora_paths", d_in=d_in, d_out=d_out, rank=rank)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
        raise ValueError(
            f"lora_paths: alpha must be a positive number (the update is scaled by alpha/rank), got {alpha!r}."
        )
    r, scaling = rank, alpha / rank
    fig = Figure(figsize=(13, 6.2), layout="constrained")
    paths, merged = fig.subplots(1, 2, width_ratios=[1.35, 1])
    scale = 3.2 / max(d_in, d_out)  # the larger side of W0 is drawn 3.2 units long

    _canvas(
        paths,
        13,
        9,
        f"training: h = $W_0$x + (α/r) B A x, with r = {r}, α = {alpha:g}\n"
        f"trainable: r($d_{{in}}$ + $d_{{out}}$) = {r * (d_in + d_out):,};   frozen: $d_{{out}} d_{{in}}$ = {d_in * d_out:,}",
    )
    paths.text(0.9, 4.5, f"x\n$d_{{in}}$ = {d_in}", ha="center", va="center", fontsize=10)
    w0 = _matrix(paths, 3.0, 5.0, d_out, d_in, scale, FROZEN, f"$W_0$: {d_out} × {d_in} (frozen)")
    a = _matrix(paths, 3.0, 1.2, r, d_in, scale, TRAINED, f"A: {r} × {d_in}")
    b = _matrix(paths, 3.6 + a, 0.5, d_out, r, scale, TRAINED, f"B: {d_out} × {r}\n(starts at zero)")
    paths.text(4.3 + a + b, 1.6, f"× α/r\n= {scaling:g}", ha="left", va="center", fontsize=10)
    _arrow(paths, (1.4, 4.9), (2.9, 5.0 + min(d_out * scale, 3.2) / 2))
    _arrow(paths, (1.4, 4.1), (2.9, 1.2 + max(r * scale, 0.12) / 2))
    _arrow(paths, (3.05 + a, 1.3), (3.55 + a, 1.3))
    _plus(paths, 10.0, 4.5)
    _arrow(paths, (3.1 + w0, 6.6), (9.75, 4.7))
    _arrow(paths, (5.6 + a + b, 1.6), (9.75, 4.3))
    paths.text(11.3, 4.5, f"h\n$d_{{out}}$ = {d_out}", ha="center", va="center", fontsize=10)

    _canvas(merged, 9, 9, "after training: merge into one matrix")
    merged.text(0.8, 4.5, f"x\n{d_in}", ha="center", va="center", fontsize=10)
    wm = _matrix(merged, 2.2, 2.9, d_out, d_in, scale, MERGED, f"W = $W_0$ + (α/r) B A: {d_out} × {d_in}")
    _arrow(merged, (1.2, 4.5), (2.1, 4.5))
    _arrow(merged, (2.3 + wm, 4.5), (7.0, 4.5))
    merged.text(7.6, 4.5, f"h\n{d_out}", ha="center", va="center", fontsize=10)
    merged.text(
        4.5,
        1.4,
        "merge:  W ← $W_0$ + (α/r) B A\none matrix, one product per token: no extra latency\n\n"
        "unmerge:  $W_0$ ← W − (α/r) B A  (up to rounding)\nthe base is back, ready for another task's B and A",
        ha="center",
        va="center",
        fontsize=9,
    )
    return fig


def ia3_vectors(hidden: int, ffn: int, layers: int | None = None, attention_output: bool = False) -> Figure:
    """(IA)³ in one layer: learned vectors, initialised to ones, that multiply element by element
    the keys and values (``l_k``, ``l_v``: ``hidden`` long) and the feed-forward block's inner
    activation (``l_ff``: ``ffn`` long); with ``attention_output``, also the attention's output
    before its projection (``l_o``, as PEFT's ``output.dense`` target does in chapter 07). Every
    weight matrix stays frozen: the picture shows how little there is to train."""
    _check_sizes("ia3_vectors", hidden=hidden, ffn=ffn, layers=layers)
    h, f = hidden, ffn
    fig = Figure(figsize=(12, 6.6), layout="constrained")
    ax = fig.subplots()
    _canvas(ax, 17, 10, "(IA)³: learned vectors rescale activations; every weight matrix stays frozen", bottom=-0.6)
    unit = 4.0 / max(h, f)  # the longer vector is drawn 4 units long

    def scaling(x: float, y: float, length: int, name: str) -> None:
        """A learned vector of ``length`` numbers, drawn to scale and centred on the path it
        multiplies element by element (⊙)."""
        w = max(length * unit, 0.1)
        ax.add_patch(Rectangle((x - w / 2, y - 0.12), w, 0.24, fc=TRAINED, ec="#555555", zorder=3))
        ax.text(x + max(w / 2, 0.5) + 0.15, y, f"⊙ {name}: {length} numbers", va="center", fontsize=9)

    # Attention: x -> query, key, value; keys and values rescaled; (with l_o) the heads' output
    # rescaled before the output projection.
    ax.text(3.2, 0.7, f"x [tokens, h = {h}]", ha="center", fontsize=9)
    for x, name in ((1.0, "query"), (3.2, "key"), (5.4, "value")):
        _arrow(ax, (3.2, 1.05), (x, 2.0))
        _box(ax, x, 2.4, 1.9, 0.8, f"{name}\n{h} × {h}", FROZEN)
        _arrow(ax, (x, 2.8), (x, 5.2))
    scaling(3.2, 3.6, h, "$l_k$")
    scaling(5.4, 4.4, h, "$l_v$")
    _box(
        ax,
        3.2,
        5.6,
        6.2,
        0.8,
        "$\\mathrm{softmax}(Q\\,(l_k \\odot K)^\\top/\\sqrt{d_{head}})\\,(l_v \\odot V)$",
        PLAIN,
    )
    _arrow(ax, (3.2, 6.0), (3.2, 7.2))
    if attention_output:
        scaling(3.2, 6.6, h, "$l_o$")
    _box(ax, 3.2, 7.6, 3.4, 0.8, f"output projection\n{h} × {h}", FROZEN)
    _box(ax, 3.2, 8.9, 3.4, 0.6, "add & layer norm", FROZEN)
    _arrow(ax, (3.2, 8.0), (3.2, 8.6))

    # Feed-forward: up-projection -> activation -> l_ff -> down-projection.
    _path(ax, [(4.9, 8.9), (8.7, 8.9), (8.7, 0.8), (11.8, 0.8), (11.8, 1.4)])
    _box(ax, 11.8, 1.8, 3.4, 0.8, f"up-projection\n{h} → {f}", FROZEN)
    _box(ax, 11.8, 3.4, 3.4, 0.6, "activation (GELU)", PLAIN)
    scaling(11.8, 4.7, f, "$l_{ff}$")
    _box(ax, 11.8, 6.0, 3.4, 0.8, f"down-projection\n{f} → {h}", FROZEN)
    _box(ax, 11.8, 7.4, 3.4, 0.6, "add & layer norm", FROZEN)
    for start, end in ((2.2, 3.1), (3.7, 5.6), (6.4, 7.1)):
        _arrow(ax, (11.8, start), (11.8, end))
    _arrow(ax, (11.8, 7.7), (11.8, 8.6))
    ax.text(11.8, 8.8, "to the next layer", ha="center", va="bottom", fontsize=9)

    per_layer = 2 * h + f + (h if attention_output else 0)
    formula = "3h + f" if attention_output else "2h + f"
    total = f";  × L = {layers}: {layers * per_layer:,}" if layers else ""
    ax.text(
        8.5,
        -0.2,
        f"learned per layer: {formula} = {per_layer:,} numbers, all starting at 1{total}",
        ha="center",
        fontsize=10,
    )
    return fig
