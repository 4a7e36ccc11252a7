"""The book's experiments, one module per chapter.

Each module has one entry point, ``experiment(profile) -> harness.Outcome``, which the chapter's
page calls and ``python -m tap run chNN`` calls: the page and the command line run the same code.
Modules are imported when asked for, so listing the experiments stays instant. ``harness`` is not
a chapter but the chapters' run harness (train or fit a classifier under a configuration, cache
it, return its record); only the chapters and the command line import it. The chapters may import
every floor below them (``tap.playbook`` down to ``tap.core``); nothing below imports them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# name -> (module, what its experiment runs)
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "ch01": (
        "ch01_transfer",
        "IMDB: encoder from scratch vs AG News pre-training + full fine-tuning vs partial unfreezing vs linear probing",
    ),
    "ch02": (
        "ch02_inference",
        "IMDB sentiment inference: accuracy vs truncation length, float32 vs int8, throughput vs batch size; decoding with the book's causal LM",
    ),
    "ch03": (
        "ch03_language_model",
        "WordPiece/BPE tokenizers, word vectors, masked-LM and causal-LM pre-training on IMDB; BERT pre-trained vs from scratch",
    ),
    "ch04": (
        "ch04_adapters",
        "Adapters (Houlsby, Pfeiffer, bottleneck sweep) on the AG-News-pre-trained encoder for IMDB vs full fine-tuning and probing",
    ),
    "ch05": (
        "ch05_lora",
        "LoRA on the AG-News-pre-trained encoder for IMDB: target layers, rank sweep, a CNN; the original study's word-vector classifier",
    ),
    "ch06": (
        "ch06_instruction_tuning",
        "BERT multi-class fine-tuning (native PyTorch loop) on AG News; instruction tuning with trl: untuned vs full vs LoRA",
    ),
    "ch07": (
        "ch07_playbook",
        "The playbook: every adaptation method on one pre-trained BERT (offline: MiniLM) vs TF-IDF; data efficiency",
    ),
    "ch08": (
        "ch08_your_task",
        "Your own task: python -m tap playbook on AG News's four topics, learning rates chosen on validation",
    ),
}


def chapter(name: str) -> ModuleType:
    """The module of experiment ``name``; an unknown name lists the valid ones."""
    if name not in EXPERIMENTS:
        raise ValueError(f"Unknown experiment {name!r}. Valid experiments: {', '.join(EXPERIMENTS)}.")
    return importlib.import_module(f"{__name__}.{EXPERIMENTS[name][0]}")
