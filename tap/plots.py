"""Every figure in the book: training curves and comparison bar charts, with labelled axes."""
from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.figure import Figure

sns.set_theme(style="whitegrid", context="notebook")


def training_curves(records: dict[str, dict], title: str = "") -> Figure:
    """Training and validation loss (left) and validation accuracy (right) per epoch,
    one colour per run, from each record's ``history``."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for (label, rec), colour in zip(records.items(), sns.color_palette(n_colors=len(records))):
        h = rec["history"]
        epochs = [p["epoch"] for p in h]
        ax_loss.plot(epochs, [p["train_loss"] for p in h], color=colour, linestyle="--", label=f"{label} (train)")
        ax_loss.plot(epochs, [p["val_loss"] for p in h], color=colour, label=f"{label} (validation)")
        ax_acc.plot(epochs, [100 * p["val_accuracy"] for p in h], color=colour, marker="o", label=label)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy (%)", title="validation accuracy")
    ax_loss.legend(fontsize=8)
    ax_acc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def comparison_bars(values: dict[str, float], ylabel: str, title: str = "", fmt: str = "{:.1f}",
                    reference: tuple[str, float] | None = None, log: bool = False) -> Figure:
    """One bar per method with its value written on it; an optional horizontal
    reference line (e.g. chance or a classical baseline)."""
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(values)), 4))
    bars = ax.bar(list(values), list(values.values()), color=sns.color_palette(n_colors=len(values)))
    ax.bar_label(bars, labels=[fmt.format(v) for v in values.values()], padding=3)
    if reference:
        ax.axhline(reference[1], color="grey", linestyle=":", label=reference[0])
        ax.legend(loc="lower right")
    if log:
        ax.set_yscale("log")
    ax.set(ylabel=ylabel, title=title)
    ax.margins(y=0.15)
    plt.setp(ax.get_xticklabels(), rotation=15, ha="right")
    fig.tight_layout()
    return fig
