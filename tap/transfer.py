"""Chapter 01's experiments: a Transformer encoder trained from scratch on IMDB, versus
pre-trained on a source task (AG News) and then fully fine-tuned, versus linear probing
(the pre-trained encoder frozen, only a new head trained)."""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import nn

from . import data, encoder, text, training
from .cache import cached_run, source_digest
from .data import Splits, ag_news_splits, imdb_splits
from .encoder import TransformerClassifier
from .profiles import Profile, get_profile
from .text import EncodedDataset, Vocabulary
from .training import TrainConfig, test_record, train


@dataclass
class Run:
    """A finished (or cached) run: its record and the trained model."""

    record: dict
    model: nn.Module


@dataclass
class EncodedTask:
    """One classification task, tokenised with the shared vocabulary."""

    splits: Splits
    train: EncodedDataset
    val: EncodedDataset
    test: EncodedDataset

    @classmethod
    def from_splits(cls, splits: Splits, vocab: Vocabulary, max_len: int) -> "EncodedTask":
        def enc(ds) -> EncodedDataset:
            return EncodedDataset.from_texts(ds["text"], ds["label"], vocab, max_len)
        return cls(splits, enc(splits.train), enc(splits.val), enc(splits.test))

    @property
    def num_classes(self) -> int:
        return len(self.splits.label_names)


@dataclass
class TransferSetup:
    """Everything chapter 01 trains on: the profile, the shared vocabulary, both tasks."""

    profile: Profile
    vocab: Vocabulary
    imdb: EncodedTask
    ag_news: EncodedTask

    def key(self) -> dict:
        """What the runs depend on, for the cache key."""
        digest = hashlib.sha256("\n".join(self.vocab.itos).encode()).hexdigest()[:16]
        return {"profile": self.profile.to_dict(), "vocab": digest,
                "imdb": self.imdb.splits.sizes(), "ag_news": self.ag_news.splits.sizes()}


def prepare(profile: Profile | None = None, seed: int = 0) -> TransferSetup:
    """Load both tasks and build one vocabulary from their training text, so an encoder
    pre-trained on AG News can read IMDB reviews with the same embeddings."""
    p = profile or get_profile()
    imdb, ag = imdb_splits(p, seed), ag_news_splits(p, seed)
    vocab = Vocabulary.build(list(imdb.train["text"]) + list(ag.train["text"]), max_size=p.encoder.vocab_size)
    size = replace(p.encoder, vocab_size=len(vocab))
    p = replace(p, encoder=size)
    return TransferSetup(p, vocab, EncodedTask.from_splits(imdb, vocab, size.max_len),
                         EncodedTask.from_splits(ag, vocab, size.max_len))


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

    code = source_digest(data, text, encoder, training, sys.modules[__name__])
    record, state = cached_run(name, {**key, "train": cfg.to_dict(), "code": code}, compute)
    model.load_state_dict(state)
    return Run(record, model)


def _config(setup: TransferSetup, epochs: int, lr: float) -> TrainConfig:
    p = setup.profile
    return TrainConfig(epochs=epochs, lr=lr, batch_size=p.batch_size, evals_per_epoch=p.evals_per_epoch)


def from_scratch(setup: TransferSetup, lr: float = 1e-3) -> Run:
    """Strategy 1: a randomly initialised encoder trained on IMDB only."""
    def build() -> nn.Module:
        return TransformerClassifier(setup.profile.encoder, setup.imdb.num_classes)
    return run_classifier("imdb-from-scratch", setup.key(), build, setup.imdb,
                          _config(setup, setup.profile.epochs, lr))


def pretrain_on_ag_news(setup: TransferSetup, lr: float = 1e-3) -> Run:
    """The source task: AG News topic classification, 4 classes."""
    def build() -> nn.Module:
        return TransformerClassifier(setup.profile.encoder, setup.ag_news.num_classes)
    return run_classifier("ag-news-pretrain", setup.key(), build, setup.ag_news,
                          _config(setup, setup.profile.source_epochs, lr))


def _from_pretrained(setup: TransferSetup, source: Run, freeze_encoder: bool) -> nn.Module:
    """A copy of the source model with a new 2-class head (optionally everything else frozen)."""
    model = TransformerClassifier(setup.profile.encoder, setup.ag_news.num_classes)
    model.load_state_dict(source.model.state_dict())
    model.replace_head(setup.imdb.num_classes)
    if freeze_encoder:
        for name, p in model.named_parameters():
            p.requires_grad = name.startswith("head.")
    return model


def fine_tune(setup: TransferSetup, source: Run, lr: float = 5e-4) -> Run:
    """Strategy 2: the AG-News-pre-trained encoder, every parameter trained on IMDB."""
    key = {**setup.key(), "source": source.record["config"]}
    return run_classifier("imdb-full-finetune", key, lambda: _from_pretrained(setup, source, False),
                          setup.imdb, _config(setup, setup.profile.epochs, lr))


def linear_probe(setup: TransferSetup, source: Run, lr: float = 5e-3) -> Run:
    """Strategy 3: the pre-trained encoder frozen; only the new head is trained."""
    key = {**setup.key(), "source": source.record["config"]}
    return run_classifier("imdb-linear-probe", key, lambda: _from_pretrained(setup, source, True),
                          setup.imdb, _config(setup, setup.profile.epochs, lr))


def chapter_experiment(profile: Profile) -> "Outcome":
    """Everything chapter 01 trains, for ``python -m tap run ch01``."""
    from .baselines import tfidf_logreg
    from .experiments import Outcome
    from .plots import training_curves

    setup = prepare(profile)
    source = pretrain_on_ag_news(setup)
    runs = {"from scratch": from_scratch(setup), "pre-trained + full fine-tuning": fine_tune(setup, source),
            "linear probe": linear_probe(setup, source)}
    records = {name: run.record for name, run in runs.items()}
    imdb = setup.imdb.splits
    records["TF-IDF + logistic regression"] = tfidf_logreg(imdb.train["text"], imdb.train["label"],
                                                           imdb.test["text"], imdb.test["label"])
    records["AG News source task"] = source.record
    curves = training_curves({name: run.record for name, run in runs.items()})
    return Outcome(records, {"training_curves": curves})
