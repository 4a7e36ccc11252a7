"""The book's experiments by name, for the command line (``python -m tap``).

Each entry points at a function ``(profile) -> Outcome`` in the module of its chapter, so
a reader can reproduce a chapter's table at any scale without opening Jupyter.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from matplotlib.figure import Figure

from .profiles import Profile


@dataclass
class Outcome:
    """What an experiment produced: run records (JSON-able) and figures."""

    records: dict[str, dict]
    figures: dict[str, Figure] = field(default_factory=dict)


# name -> ("module:function", what it runs). Imported lazily: each chapter's module stays independent.
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "ch01": ("tap.transfer:chapter_experiment",
             "IMDB: encoder from scratch vs AG News pre-training + full fine-tuning vs linear probing"),
    "ch02": ("tap.inference:chapter_experiment",
             "IMDB sentiment inference: accuracy vs truncation length, float32 vs int8, throughput vs batch size"),
    "ch03": ("tap.lm_experiments:chapter_experiment",
             "WordPiece/BPE tokenizers, masked-LM and causal-LM pre-training on IMDB; BERT pre-trained vs from scratch"),
    "ch04": ("tap.adapters:chapter_experiment",
             "Adapters (Houlsby, Pfeiffer, bottleneck sweep) on the AG-News-pre-trained encoder for IMDB vs full fine-tuning and probing"),
    "ch05": ("tap.lora:chapter_experiment",
             "LoRA on the AG-News-pre-trained encoder for IMDB: target layers, rank sweep, a CNN adapted with the same code"),
    "ch06": ("tap.instruct:chapter_experiment",
             "BERT multi-class fine-tuning (native PyTorch loop) on AG News; instruction tuning with trl: untuned vs full vs LoRA"),
    "ch07": ("tap.playbook:chapter_experiment",
             "The playbook: every adaptation method on one pre-trained BERT (offline: MiniLM) vs TF-IDF; data efficiency"),
}


def get_experiment(name: str) -> Callable[[Profile], Outcome]:
    """The function behind an experiment name; unknown names list the valid ones."""
    if name not in EXPERIMENTS:
        raise ValueError(f"Unknown experiment {name!r}. Valid experiments: {', '.join(EXPERIMENTS)}.")
    module, _, func = EXPERIMENTS[name][0].partition(":")
    return getattr(importlib.import_module(module), func)
