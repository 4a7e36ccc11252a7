"""The run harness: train (or fit) a classifier under a configuration, cache the run, and
return its record. Every chapter's experiments are built from these few calls.

* ``EncodedTask``: one classification task's splits, tokenised.
* ``run_classifier``: train with ``tap.training.loop.train``, test once, cache (``tap.core.cache.cached_run``).
* ``run_probe``: a linear probe fitted to convergence on frozen features (``tap.methods.probing``), cached.
* ``Run``: a record and its trained model; ``Outcome``: what a chapter's experiment returns.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from ..core.cache import cached_run, source_digest
from ..core.devices import device
from ..core.measure import hardware, timer, track_peak_memory
from ..data import datasets, text
from ..data.datasets import Splits
from ..data.text import EncodedDataset, Vocabulary
from ..methods import probing
from ..methods.parameter_counts import count_parameters
from ..models import encoder
from ..training import loop
from ..training.loop import BatchSource, TrainConfig, test_record, train


@dataclass
class Run:
    """A finished (or cached) run: its record and the trained model."""

    record: dict
    model: nn.Module


@dataclass
class Outcome:
    """What a chapter's experiment produced: run records (JSON-able, written by ``python -m tap
    run``), figures (written as PNG), and ``context``: objects the chapter's page shows or
    explains (a vocabulary, a trained model) that the command line does not write, as named
    fields, so that a misspelt name fails where it is written."""

    records: dict[str, dict]
    figures: dict[str, Figure] = field(default_factory=dict)
    context: Any = None  # the chapter's context dataclass (see each chapter module)


@dataclass
class EncodedTask:
    """One classification task: its splits, and each split tokenised."""

    splits: Splits
    train: BatchSource
    val: BatchSource
    test: BatchSource

    @classmethod
    def from_splits(cls, splits: Splits, vocab: Vocabulary, max_len: int) -> EncodedTask:
        """Tokenise every split with a word vocabulary (the from-scratch track)."""

        def enc(ds) -> EncodedDataset:
            return EncodedDataset.from_texts(ds["text"], ds["label"], vocab, max_len)

        return cls(splits, enc(splits.train), enc(splits.val), enc(splits.test))

    @property
    def num_classes(self) -> int:
        return len(self.splits.label_names)


def _code() -> str:
    """The code every run depends on: editing it invalidates the cached runs."""
    return source_digest(datasets, text, encoder, loop, probing, sys.modules[__name__])


def run_classifier(name: str, key: dict, build: Callable[[], nn.Module], task: EncodedTask, cfg: TrainConfig) -> Run:
    """Train ``build()`` on ``task`` and test it, or reuse the cached run with the same key.

    The seed is set before ``build()`` so a run's initial weights do not depend on what the
    process ran before it.
    """
    torch.manual_seed(cfg.seed)
    model = build()

    def compute() -> tuple[dict, dict]:
        record, trained = train(model, task.train, task.val, cfg, desc=name)
        return {**record, **test_record(trained, task.test)}, trained.state_dict()

    record, state = cached_run(name, {**key, "train": cfg.to_dict(), "code": _code()}, compute)
    model.load_state_dict(state)
    return Run(record, model)


def run_probe(
    name: str, key: dict, build: Callable[[], nn.Module], task: EncodedTask, l2: float = probing.PROBE_L2
) -> Run:
    """Fit the head of ``build()`` (everything else frozen) on ``task`` and test it, or reuse the
    cached run. The encoder reads each training and validation review once; the head is then
    fitted to convergence on those fixed features (``probing.fit_linear_head``). The record has
    the shape of ``loop.train``'s, with a one-point history: the fitted head's losses and
    validation accuracy."""
    torch.manual_seed(0)
    model = build()

    def compute() -> tuple[dict, dict]:
        model.to(device())
        with track_peak_memory() as mem, timer() as clock:
            x_train, y_train = probing.frozen_features(model, task.train)
            x_val, y_val = probing.frozen_features(model, task.val)
            iterations = probing.fit_linear_head(model.head, x_train, y_train, l2)
            with torch.no_grad():
                weight, bias = model.head.weight.cpu(), model.head.bias.cpu()
                train_loss = F.cross_entropy(F.linear(x_train, weight, bias), y_train).item()
                val_logits = F.linear(x_val, weight, bias)
                val_loss = F.cross_entropy(val_logits, y_val).item()
                val_accuracy = (val_logits.argmax(-1) == y_val).float().mean().item()
        history = [
            {
                "step": iterations,
                "epoch": 1.0,
                "examples": len(task.train),
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_accuracy": val_accuracy,
            }
        ]
        record = {
            "history": history,
            "best_val_accuracy": val_accuracy,
            "best_step": iterations,
            "train_config": {
                "solver": "L-BFGS (logistic regression on frozen features)",
                "l2": l2,
                "max_iter": probing.PROBE_MAX_ITER,
                "epochs": 1,
                "batch_size": 64,
                "seed": 0,
            },
            "train_examples": len(task.train),
            "steps": iterations,
            "wall_time_s": clock["seconds"],
            "examples_per_s": (len(task.train) + len(task.val)) / clock["seconds"],
            **mem,
            **count_parameters(model),
            "hardware": hardware(),
            "seed": 0,
        }
        return {**record, **test_record(model, task.test)}, model.state_dict()

    config = {**key, "probe": {"l2": l2, "max_iter": probing.PROBE_MAX_ITER}, "code": _code()}
    record, state = cached_run(name, config, compute)
    model.load_state_dict(state)
    return Run(record, model)
