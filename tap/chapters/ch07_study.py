"""The original study's two headline figures, redrawn from this build's runs of the book's own
encoder (chapters 01, 04 and 05), with the study's reported values beside them as a separate,
labelled series: a performance chart (its five strategies) and a parameter-efficiency chart
(trainable parameters, log scale)."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from ..core.profiles import Profile
from ..methods.lora import apply_lora
from ..models.vector_classifier import WordVectorClassifier
from ..models.word_vectors import VECTORS
from ..pages import plots

# The study's reported IMDB accuracies (%), from its write-up: its own GPU runs with frozen GloVe
# vectors, not run here. Its LoRA was applied to a word-vector classifier (chapter 05).
STUDY_ACCURACY = {"from scratch": 83.0, "full fine-tuning": 86.0, "linear probe": 64.0, "adapters": 85.6, "LoRA": 69.2}
# Its parameter figure: the word-vector classifier's fc1 (100 -> 128) against rank-2 LoRA on it.
STUDY_FC1 = {"fc1 of the word-vector model": 12_800, "rank-2 LoRA on that fc1": 456}
STUDY_LABEL = "original study, as reported (not run here)"
# The study's strategy -> the name of this build's run of the book's encoder (ch07.from_scratch_runs).
OURS = {
    "from scratch": "from scratch",
    "full fine-tuning": "AG News + full fine-tuning",
    "linear probe": "AG News + linear probe",
    "adapters": "AG News + adapters (ch. 04)",
    "LoRA": "AG News + LoRA (ch. 05)",
}


def fc1_counts(profile: Profile) -> dict[str, int]:
    """``STUDY_FC1``'s two counts, from this book's word-vector classifier at the profile's
    vector size: fc1's weights, and the LoRA weights of rank 2 on it."""
    model = WordVectorClassifier(torch.zeros(2, VECTORS[profile.name].dim), num_classes=2)
    dense = model.fc1.weight.numel()
    apply_lora(model, ["fc1"], rank=2, alpha=4)
    lora = sum(p.numel() for name, p in model.named_parameters() if "lora" in name)
    return dict(zip(STUDY_FC1, (dense, lora)))


def study_values(scratch: dict[str, dict], profile: Profile) -> dict[str, dict[str, float]]:
    """What the two figures show for this build: test accuracy (%) and trainable parameters."""
    return {
        "accuracy": {k: 100 * scratch[name]["test_accuracy"] for k, name in OURS.items()},
        "parameters": {**{k: scratch[name]["trainable_params"] for k, name in OURS.items()}, **fc1_counts(profile)},
    }


def study_figures(values: dict[str, dict[str, float]], test_size: int) -> dict[str, Figure]:
    """The study's performance and parameter-efficiency charts, this build beside the study."""
    return {
        "study_accuracy": plots.beside_reference(
            values["accuracy"],
            STUDY_ACCURACY,
            ylabel="IMDB test accuracy (%)",
            reference_label=STUDY_LABEL,
            title=f"The study's five strategies on the book's encoder ({test_size:,} test reviews)",
        ),
        "study_parameters": plots.beside_reference(
            values["parameters"],
            STUDY_FC1,
            ylabel="trainable parameters (log scale)",
            reference_label=STUDY_LABEL,
            fmt="{:,.0f}",
            log=True,
            title="What each strategy trains",
        ),
    }


def shown_values(figure: Figure) -> list[float]:
    """The heights of a ``beside_reference`` figure's "this build" bars: what the reader sees,
    for the pages' checks against the records."""
    return [bar.get_height() for bar in figure.axes[0].containers[0]]


def agreement(values: dict[str, dict[str, float]]) -> str:
    """A sentence on whether this build ranks the strategies as the study did, at the ends."""
    ours = values["accuracy"]
    mine = max(ours, key=ours.get), min(ours, key=ours.get)
    theirs = max(STUDY_ACCURACY, key=STUDY_ACCURACY.get), min(STUDY_ACCURACY, key=STUDY_ACCURACY.get)
    said = (
        f"The study's best strategy was {theirs[0]} and its worst the {theirs[1]}; in this build the best is "
        f"{mine[0]} ({ours[mine[0]]:.1f}%) and the worst {mine[1]} ({ours[mine[1]]:.1f}%)"
    )
    return said + (": the same two ends." if mine == theirs else ".")
