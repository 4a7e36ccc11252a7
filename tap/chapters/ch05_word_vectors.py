"""Chapter 05, the original study's own LoRA experiment: its word-vector classifier (frozen
100-dimensional word vectors, averaged; ``fc1`` 100 → 128, ReLU, a linear head) trained on
IMDB alone, against the same classifier pre-trained on AG News and adapted to IMDB with LoRA on
``fc1`` (ranks 1–8), with ``fc1`` fully fine-tuned, or with only a new head fitted (a probe).

The word vectors stay frozen, so each review's average vector is computed once
(``MeanVectors``) and every run trains a few thousand weights on those: the runs use all 25,000
training reviews (23,000 to train, 2,000 to choose the checkpoint) and all 25,000 test reviews
in the `book` profile, in seconds each.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Iterator

import torch

from torch import nn

from ..data import Splits, ag_news_splits, imdb_splits
from ..lora import apply_lora
from ..profiles import Profile, get_profile
from ..runs import EncodedTask, Run, run_classifier, run_probe
from ..text import EncodedDataset
from ..training import TrainConfig
from ..vector_classifier import WordVectorClassifier
from ..word_vectors import WordVectors, word_vectors

RANKS = (1, 2, 4, 8)
MAX_WORDS = 512  # per review: longer reviews are cut (few are)
# IMDB sizes of these runs: the whole train split (less validation) and the whole test split.
IMDB_SIZES = {"smoke": None, "book": dict(imdb_train=23_000, imdb_val=2_000, imdb_test=0),
              "full": dict(imdb_train=23_000, imdb_val=2_000, imdb_test=0)}
TRAIN = dict(epochs=5, lr=2e-3, batch_size=64)


@dataclass
class MeanVectors:
    """One split as each review's mean word vector (``[reviews, dim]``) and its label: what the
    frozen first stage of the classifier gives, computed once."""

    vectors: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def from_split(cls, split, model: WordVectorClassifier, vectors: WordVectors) -> "MeanVectors":
        data = EncodedDataset.from_texts(split["text"], split["label"], vectors.vocab, MAX_WORDS)
        with torch.no_grad():
            means = [model.mean_vector(**inputs) for inputs, _ in data.batches(256, shuffle=False)]
        return cls(torch.cat(means), torch.tensor(data.labels))

    def __len__(self) -> int:
        return len(self.labels)

    def batches(self, batch_size: int, shuffle: bool, seed: int = 0,
                by_length: bool = False) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        """``({"mean_vectors"}, labels)`` batches, in a seeded random order when ``shuffle``."""
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed)) if shuffle \
            else torch.arange(len(self))
        for chunk in order.split(batch_size):
            yield {"mean_vectors": self.vectors[chunk]}, self.labels[chunk]


def _task(splits: Splits, vectors: WordVectors) -> EncodedTask:
    averager = WordVectorClassifier(vectors.vectors, len(splits.label_names))
    return EncodedTask(splits, *(MeanVectors.from_split(s, averager, vectors)
                                 for s in (splits.train, splits.val, splits.test)))


@dataclass
class VectorSetup:
    """The profile, the word vectors and both tasks, tokenised with the vectors' vocabulary."""

    profile: Profile
    vectors: WordVectors
    imdb: EncodedTask
    ag_news: EncodedTask

    def key(self) -> dict:
        """What the runs depend on, for the cache key."""
        digest = hashlib.sha256(self.vectors.vectors.numpy().tobytes()).hexdigest()[:16]
        return {"profile": self.profile.to_dict(), "vectors": digest, "max_words": MAX_WORDS,
                "imdb": self.imdb.splits.sizes(), "ag_news": self.ag_news.splits.sizes()}


def prepare(profile: Profile | None = None) -> VectorSetup:
    """The profile's word vectors, and IMDB (at this experiment's sizes) and AG News in their vocabulary."""
    p = profile or get_profile()
    vectors = word_vectors(p)
    imdb = imdb_splits(replace(p, **(IMDB_SIZES[p.name] or {})))
    ag = ag_news_splits(p)
    return VectorSetup(p, vectors, _task(imdb, vectors), _task(ag, vectors))


def _config(setup: VectorSetup) -> TrainConfig:
    return TrainConfig(**TRAIN, evals_per_epoch=setup.profile.evals_per_epoch)


def _run(name: str, setup: VectorSetup, build, task: EncodedTask, **key) -> Run:
    return run_classifier(f"word-vectors-{name}", {**setup.key(), **key}, build, task, _config(setup))


def baseline(setup: VectorSetup) -> Run:
    """The classifier trained on IMDB alone (``fc1`` and the head)."""
    return _run("imdb", setup, lambda: WordVectorClassifier(setup.vectors.vectors, setup.imdb.num_classes), setup.imdb)


def pretrain_on_ag_news(setup: VectorSetup) -> Run:
    """The source model: the classifier trained on AG News's four topics."""
    return _run("ag-news", setup, lambda: WordVectorClassifier(setup.vectors.vectors, setup.ag_news.num_classes),
                setup.ag_news)


def from_source(setup: VectorSetup, source: Run) -> WordVectorClassifier:
    """The AG News classifier with a new IMDB head (the study's new ``fc2``)."""
    model = WordVectorClassifier(setup.vectors.vectors, setup.ag_news.num_classes)
    model.load_state_dict(source.model.state_dict())
    model.replace_head(setup.imdb.num_classes)
    return model


def lora_fc1(setup: VectorSetup, source: Run, rank: int) -> Run:
    """LoRA on the pre-trained ``fc1`` (α = 2·rank) and a new head; everything else frozen."""
    def build() -> nn.Module:
        model = from_source(setup, source)
        apply_lora(model, ["fc1"], rank=rank, alpha=2 * rank)
        return model
    return _run(f"lora-r{rank}", setup, build, setup.imdb, source=source.record["config"], rank=rank)


def fc1_fine_tune(setup: VectorSetup, source: Run) -> Run:
    """Full fine-tuning of the pre-trained ``fc1`` (12,800 weights and its bias) and a new head."""
    return _run("fc1-finetune", setup, lambda: from_source(setup, source), setup.imdb, source=source.record["config"])


def head_only(setup: VectorSetup, source: Run) -> Run:
    """A probe: the pre-trained ``fc1`` frozen, only a new head fitted (to convergence)."""
    def build() -> nn.Module:
        model = from_source(setup, source)
        model.fc1.requires_grad_(False)
        return model
    return run_probe("word-vectors-head-only", {**setup.key(), "source": source.record["config"]}, build, setup.imdb)


def runs(setup: VectorSetup) -> dict[str, Run]:
    """Every run of the study's experiment, by the name the page shows."""
    source = pretrain_on_ag_news(setup)
    out = {"trained on IMDB alone": baseline(setup), "AG News source task": source,
           "AG News → new head only (probe)": head_only(setup, source)}
    out.update({f"AG News → LoRA on fc1, rank {r}": lora_fc1(setup, source, r) for r in RANKS})
    out["AG News → fc1 fully fine-tuned"] = fc1_fine_tune(setup, source)
    return out
