"""Chapter 01's experiments: a Transformer encoder trained from scratch on IMDB, versus
pre-trained on a source task (AG News) and then fully fine-tuned, versus linear probing
(the pre-trained encoder frozen, only a new head fitted: logistic regression on its features)."""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, replace
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import data, encoder, text, training
from .cache import cached_run, source_digest
from .data import Splits, ag_news_splits, imdb_splits
from .encoder import TransformerClassifier
from .measure import count_parameters, device, hardware, timer, track_peak_memory
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


def _frozen_but_head(model: nn.Module) -> nn.Module:
    """``model`` with every parameter frozen except the classification head's."""
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("head.")
    return model


def _from_pretrained(setup: TransferSetup, source: Run, freeze_encoder: bool) -> nn.Module:
    """A copy of the source model with a new 2-class head (optionally everything else frozen)."""
    model = TransformerClassifier(setup.profile.encoder, setup.ag_news.num_classes)
    model.load_state_dict(source.model.state_dict())
    model.replace_head(setup.imdb.num_classes)
    return _frozen_but_head(model) if freeze_encoder else model


def fine_tune(setup: TransferSetup, source: Run, lr: float = 5e-4) -> Run:
    """Strategy 2: the AG-News-pre-trained encoder, every parameter trained on IMDB."""
    key = {**setup.key(), "source": source.record["config"]}
    return run_classifier("imdb-full-finetune", key, lambda: _from_pretrained(setup, source, False),
                          setup.imdb, _config(setup, setup.profile.epochs, lr))


def top_layers_fine_tune(setup: TransferSetup, source: Run, top_layers: int = 1, lr: float = 5e-4) -> Run:
    """Strategy 4, partial unfreezing (the original study's fine-tuning of its top layer): the
    AG-News-pre-trained encoder with only its top ``top_layers`` encoder layers and a new head
    trained on IMDB, at full fine-tuning's rate and budget; the embedding table and the lower
    layers stay as AG News left them."""
    if not 1 <= top_layers <= setup.profile.encoder.num_layers:
        raise ValueError(f"top_layers must be between 1 and the encoder's {setup.profile.encoder.num_layers} layers, "
                         f"got {top_layers}.")

    def build() -> nn.Module:
        model = _from_pretrained(setup, source, freeze_encoder=True)
        for layer in model.layers[-top_layers:]:
            layer.requires_grad_(True)
        return model

    key = {**setup.key(), "source": source.record["config"], "top_layers": top_layers}
    return run_classifier("imdb-top-layers-finetune", key, build, setup.imdb, _config(setup, setup.profile.epochs, lr))


# The probe's L2 penalty on the head's weights, added to the mean cross-entropy as PROBE_L2/2·‖W‖²:
# light, about scikit-learn's default (C = 1) at a few thousand examples.
PROBE_L2 = 1e-4
PROBE_MAX_ITER = 1_000  # L-BFGS iterations at most; the fit stops earlier once it has converged


@torch.no_grad()  # not inference_mode: the features then feed an autograd fit
def frozen_features(model: TransformerClassifier, data: EncodedDataset, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features, labels)``: the frozen encoder's review vectors (the masked mean that feeds the
    head), computed once, in eval mode (no dropout), in the split's order."""
    model.eval()
    dev = next(model.parameters()).device
    features, labels = [], []
    for inputs, y in data.batches(batch_size, shuffle=False):
        features.append(model.encode(**{k: v.to(dev) for k, v in inputs.items()}).cpu())
        labels.append(y)
    return torch.cat(features), torch.cat(labels)


def fit_linear_head(head: nn.Linear, features: torch.Tensor, labels: torch.Tensor, l2: float = PROBE_L2,
                    max_iter: int = PROBE_MAX_ITER) -> int:
    """Fit ``head`` by logistic regression on fixed ``features``, to convergence: full-batch
    L-BFGS (in float64) on the mean cross-entropy plus ``l2``/2·‖W‖² (the bias is not penalised).
    The problem is convex, so the result does not depend on the starting point or on a learning
    rate. Returns the number of L-BFGS iterations it took."""
    x, y = features.double(), labels
    weight = head.weight.detach().double().clone().requires_grad_(True)
    bias = head.bias.detach().double().clone().requires_grad_(True)
    opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
                            tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, y) + 0.5 * l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(objective)
    with torch.no_grad():
        head.weight.copy_(weight.to(head.weight.dtype))
        head.bias.copy_(bias.to(head.bias.dtype))
    return opt.state[weight]["n_iter"]


def run_probe(name: str, key: dict, build: Callable[[], nn.Module], task: EncodedTask, l2: float = PROBE_L2) -> Run:
    """Fit the head of ``build()`` (everything else frozen) on ``task`` and test it, or reuse the
    cached run. The encoder reads each training and validation review once; the head is then
    fitted to convergence on those fixed features (``fit_linear_head``). The record has the
    shape of ``training.train``'s, with a one-point history: the fitted head's losses and
    validation accuracy."""
    torch.manual_seed(0)
    model = build()

    def compute() -> tuple[dict, dict]:
        model.to(device())
        with track_peak_memory() as mem, timer() as clock:
            x_train, y_train = frozen_features(model, task.train)
            x_val, y_val = frozen_features(model, task.val)
            iterations = fit_linear_head(model.head, x_train, y_train, l2)
            with torch.no_grad():
                weight, bias = model.head.weight.cpu(), model.head.bias.cpu()
                train_loss = F.cross_entropy(F.linear(x_train, weight, bias), y_train).item()
                val_logits = F.linear(x_val, weight, bias)
                val_loss = F.cross_entropy(val_logits, y_val).item()
                val_accuracy = (val_logits.argmax(-1) == y_val).float().mean().item()
        history = [{"step": iterations, "epoch": 1.0, "examples": len(task.train), "train_loss": train_loss,
                    "val_loss": val_loss, "val_accuracy": val_accuracy}]
        record = {
            "history": history, "best_val_accuracy": val_accuracy, "best_step": iterations,
            "train_config": {"solver": "L-BFGS (logistic regression on frozen features)", "l2": l2,
                             "max_iter": PROBE_MAX_ITER, "epochs": 1, "batch_size": 64, "seed": 0},
            "train_examples": len(task.train), "steps": iterations, "wall_time_s": clock["seconds"],
            "examples_per_s": (len(task.train) + len(task.val)) / clock["seconds"],
            **mem, **count_parameters(model), "hardware": hardware(), "seed": 0,
        }
        return {**record, **test_record(model, task.test)}, model.state_dict()

    code = source_digest(data, text, encoder, training, sys.modules[__name__])
    record, state = cached_run(name, {**key, "probe": {"l2": l2, "max_iter": PROBE_MAX_ITER}, "code": code}, compute)
    model.load_state_dict(state)
    return Run(record, model)


def linear_probe(setup: TransferSetup, source: Run, l2: float = PROBE_L2) -> Run:
    """Strategy 3: the pre-trained encoder frozen; only a new head is fitted, to convergence
    (logistic regression on the encoder's features, ``run_probe``)."""
    key = {**setup.key(), "source": source.record["config"]}
    return run_probe("imdb-linear-probe", key, lambda: _from_pretrained(setup, source, True), setup.imdb, l2)


def random_encoder_probe(setup: TransferSetup, l2: float = PROBE_L2) -> Run:
    """The same probe on a randomly initialised, frozen encoder: what the architecture and a
    bag of random word vectors give without any training, the yardstick for what pre-training
    put into the features."""
    def build() -> nn.Module:
        return _frozen_but_head(TransformerClassifier(setup.profile.encoder, setup.imdb.num_classes))
    return run_probe("imdb-random-encoder-probe", setup.key(), build, setup.imdb, l2)


def chapter_experiment(profile: Profile) -> "Outcome":
    """Everything chapter 01 trains, for ``python -m tap run ch01``."""
    from .baselines import tfidf_logreg
    from .experiments import Outcome
    from .plots import training_curves

    setup = prepare(profile)
    source = pretrain_on_ag_news(setup)
    runs = {"from scratch": from_scratch(setup), "pre-trained + full fine-tuning": fine_tune(setup, source),
            "pre-trained + top layer fine-tuned": top_layers_fine_tune(setup, source),
            "linear probe": linear_probe(setup, source)}
    records = {name: run.record for name, run in runs.items()}
    records["linear probe of a random encoder"] = random_encoder_probe(setup).record
    imdb = setup.imdb.splits
    records["TF-IDF + logistic regression"] = tfidf_logreg(imdb.train["text"], imdb.train["label"],
                                                           imdb.test["text"], imdb.test["label"])
    records["AG News source task"] = source.record
    curves = training_curves({name: run.record for name, run in runs.items()})
    return Outcome(records, {"training_curves": curves})
