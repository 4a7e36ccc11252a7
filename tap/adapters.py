"""Chapter 04: bottleneck adapters written out (Houlsby et al., 2019), inserted by module name
into ``tap``'s encoder or a Hugging Face BERT, and switched per task on one frozen base.

An adapter is a small residual MLP, ``x + W_up · f(W_down · x)``, placed after a sub-layer's
output projection. Its up-projection starts at zero, so a freshly inserted adapter is exactly
the identity and the model computes what it computed before; training then moves only the
adapters and the classification head.
"""
from __future__ import annotations

import copy
import sys
from typing import Iterable

import torch
from torch import nn

from . import efficient
from .cache import source_digest
from .efficient import HEAD_NAMES, freeze_base, match_modules, replace_module
from .encoder import TransformerClassifier
from .profiles import Profile
from .training import TrainConfig

# Where adapters go, by module name (regular expressions over the whole name), for
# tap's encoder | Hugging Face BERT. Careful with BERT: a plain suffix "output.dense" would
# also match "attention.output.dense", so the feed-forward site is anchored on "layer.N.".
SITES = {
    "attention": (r"layers\.\d+\.attention\.output", r".*layer\.\d+\.attention\.output\.dense"),
    "feed_forward": (r"layers\.\d+\.feed_forward\.down", r".*layer\.\d+\.output\.dense"),
}
# Houlsby et al. (2019): after attention and after the feed-forward block in every layer.
# Pfeiffer et al. (2020): after the feed-forward block only, half as many adapters.
PLACEMENTS = {"houlsby": ("attention", "feed_forward"), "pfeiffer": ("feed_forward",)}


def bottleneck_size(hidden: int, bottleneck: int | None = None, reduction_factor: int = 16) -> int:
    """The adapter's inner width: ``bottleneck`` if given, else ``hidden // reduction_factor``
    (AdapterHub's convention; Houlsby et al. write it as m)."""
    m = bottleneck if bottleneck is not None else hidden // reduction_factor
    if m < 1:
        raise ValueError(f"Bottleneck size must be at least 1 (got {m} from hidden={hidden}, "
                         f"bottleneck={bottleneck}, reduction_factor={reduction_factor}).")
    return m


class Adapter(nn.Module):
    """``x + up(act(down(x)))``: down-projection to ``m`` dimensions, non-linearity,
    up-projection back, residual connection. ``2·d·m + m + d`` parameters."""

    def __init__(self, hidden: int, bottleneck: int | None = None, reduction_factor: int = 16) -> None:
        super().__init__()
        m = bottleneck_size(hidden, bottleneck, reduction_factor)
        self.down = nn.Linear(hidden, m)  # [.., d] -> [.., m]; PyTorch's default (Kaiming-uniform) init
        self.activation = nn.ReLU()
        self.up = nn.Linear(m, hidden)  # [.., m] -> [.., d]
        # Zero up-projection: the adapter adds exactly 0 at first, so inserting it changes nothing.
        # (Houlsby et al. 2019 start near the identity; exactly zero, like LoRA's B matrix.)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.activation(self.down(x)))  # shortcut connection around the bottleneck


class LinearWithAdapter(nn.Module):
    """A sub-layer's output projection followed by an adapter: ``adapter(linear(x))``. The
    adapter acts on the sub-layer output before the layer's own residual and LayerNorm."""

    def __init__(self, linear: nn.Linear, adapter: Adapter) -> None:
        super().__init__()
        self.linear = linear
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.linear(x))


def placement_pattern(placement: str) -> str:
    """One regular expression for every site of ``placement``, for both model families."""
    if placement not in PLACEMENTS:
        raise ValueError(f"Unknown adapter placement {placement!r}; choose one of: {', '.join(PLACEMENTS)}.")
    return "|".join(f"(?:{p})" for site in PLACEMENTS[placement] for p in SITES[site])


def add_adapters(model: nn.Module, placement: str = "houlsby", bottleneck: int | None = None,
                 reduction_factor: int = 16, targets: str | Iterable[str] | None = None,
                 freeze: bool = True, seed: int = 0) -> list[str]:
    """Insert an :class:`Adapter` after every Linear layer the ``placement`` names (or the
    ``targets`` given: names, suffixes or a regex, as in ``efficient.match_modules``). With
    ``freeze``, the base model is frozen first, so only adapters and head train.
    Returns the names of the wrapped layers."""
    if any(isinstance(m, Adapter) for m in model.modules()):
        raise ValueError("This model already has adapters; insert them into a fresh copy of the base model.")
    try:
        names = match_modules(model, targets if targets is not None else placement_pattern(placement))
    except ValueError as err:
        raise ValueError(f"Adapters ({placement!r} placement): {err} Name the output projections "
                         f"with add_adapters(..., targets=[...]).") from None
    for name in names:  # every check before anything changes: a failed call leaves the model as it was
        bottleneck_size(model.get_submodule(name).out_features, bottleneck, reduction_factor)
    if freeze:
        freeze_base(model)
    with torch.random.fork_rng(devices=[]):  # seeded adapters, without touching the global random state
        torch.manual_seed(seed)
        for name in names:
            linear = model.get_submodule(name)
            adapter = Adapter(linear.out_features, bottleneck, reduction_factor)
            adapter.to(device=linear.weight.device, dtype=linear.weight.dtype)
            replace_module(model, name, LinearWithAdapter(linear, adapter))
    return names


def is_task_parameter(name: str) -> bool:
    """Whether a parameter belongs to a task (an adapter or the classification head) rather
    than to the shared, frozen base."""
    parts = name.split(".")
    return "adapter" in parts or any(p in HEAD_NAMES for p in parts)


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A task's own weights (adapters + head), copied: all one must store per task."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if is_task_parameter(n)}


def load_adapter_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Switch ``model`` to another task: copy in its adapter and head weights. A head of another
    shape (another number of classes) is rebuilt; the frozen base is not touched."""
    expected = {n for n, _ in model.named_parameters() if is_task_parameter(n)}
    if expected != set(state):
        raise ValueError(f"Adapter state does not fit this model: missing {sorted(expected - set(state))}, "
                         f"unexpected {sorted(set(state) - expected)}. Was it saved from the same placement?")
    for name, tensor in state.items():
        module_name = name.rpartition(".")[0]
        module = model.get_submodule(module_name)
        if isinstance(module, nn.Linear) and module.weight.shape != state[module_name + ".weight"].shape:
            out_features, in_features = state[module_name + ".weight"].shape
            replace_module(model, module_name, nn.Linear(in_features, out_features).to(module.weight.device))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor)


def state_megabytes(state: dict[str, torch.Tensor]) -> float:
    """What a set of tensors costs to store, in MB (MiB)."""
    return sum(t.numel() * t.element_size() for t in state.values()) / 2**20


# ---------------------------------------------------------------------------------------------
# Chapter 04's experiments, on chapter 01's AG-News-pre-trained encoder (tap.transfer).

ADAPTER_LR = 1e-2  # chosen on IMDB validation accuracy among 1e-3, 3e-3, 1e-2, 3e-2 (Houlsby, m = d/16, 2 epochs)
# Epochs per adapter run, by profile (default: the profile's own). The book profile trains one
# epoch, half of chapter 01's runs, so that the chapter's runs fit its 5-minute budget on 2 cores.
ADAPTER_EPOCHS = {"book": 1}
EMBEDDING_LR = 3e-3  # when the embedding table trains too: a rate between from-scratch training's and ADAPTER_LR


def adapter_model(source, num_classes: int, placement: str = "houlsby", bottleneck: int | None = None,
                  train_embeddings: bool = False) -> nn.Module:
    """A copy of the ``source`` model, frozen, with a new ``num_classes`` head and fresh
    adapters; with ``train_embeddings``, the embedding table trains too (a diagnosis, not a
    parameter-efficient method)."""
    model = copy.deepcopy(source.model)
    model.replace_head(num_classes)
    add_adapters(model, placement, bottleneck)
    if train_embeddings:
        model.embedding.weight.requires_grad = True
    return model


def adapter_epochs(profile: Profile) -> int:
    """How many epochs each adapter run trains in ``profile`` (see ``ADAPTER_EPOCHS``)."""
    return ADAPTER_EPOCHS.get(profile.name, profile.epochs)


def train_adapters(setup, source, placement: str = "houlsby", bottleneck: int | None = None,
                   task: str = "imdb", lr: float = ADAPTER_LR, epochs: int | None = None,
                   train_embeddings: bool = False):
    """Train adapters + head on ``task`` ('imdb' or 'ag_news') over the frozen ``source`` model
    (a ``transfer.Run``: chapter 01's pre-trained encoder). Cached like every run."""
    from . import transfer

    data = {"imdb": setup.imdb, "ag_news": setup.ag_news}[task]
    p = setup.profile
    m = bottleneck_size(p.encoder.d_model, bottleneck)
    cfg = TrainConfig(epochs=epochs or adapter_epochs(p), lr=lr, batch_size=p.batch_size, evals_per_epoch=p.evals_per_epoch)
    method = {"placement": placement, "bottleneck": m, "train_embeddings": train_embeddings}
    key = {**setup.key(), "source": source.record["config"], "task": task, "adapters": method,
           "adapters_code": source_digest(efficient, sys.modules[__name__])}
    name = f"{task}-adapters-{placement}-m{m}" + ("-embeddings" if train_embeddings else "")
    return transfer.run_classifier(name, key, lambda: adapter_model(source, data.num_classes, placement, m,
                                                                    train_embeddings), data, cfg)


def sentiment_words_in_source(setup, top: int = 50, min_reviews: int = 30) -> "pd.DataFrame":
    """The ``top`` words that best separate positive from negative IMDB training reviews
    (smoothed log-odds of appearing in a positive vs a negative review, among words in at
    least ``min_reviews`` reviews), with how often each occurs in the AG News training text.
    A word the source task rarely shows keeps an embedding row close to its random start."""
    import math
    from collections import Counter

    import pandas as pd

    pos, neg = Counter(), Counter()
    for ids, label in zip(setup.imdb.train.ids, setup.imdb.train.labels):
        (pos if label == 1 else neg).update(set(ids))
    n_pos = sum(1 for label in setup.imdb.train.labels if label == 1)
    n_neg = len(setup.imdb.train.labels) - n_pos
    in_source = Counter(i for ids in setup.ag_news.train.ids for i in ids)
    odds = {w: math.log((pos[w] + 1) / (n_pos + 2)) - math.log((neg[w] + 1) / (n_neg + 2))
            for w in set(pos) | set(neg) if w > 1 and pos[w] + neg[w] >= min_reviews}  # ids 0/1: padding, <unk>
    best = sorted(odds, key=lambda w: (-abs(odds[w]), w))[:top]
    return pd.DataFrame({"word": [setup.vocab.itos[w] for w in best],
                         "leans": ["positive" if odds[w] > 0 else "negative" for w in best],
                         "log-odds on IMDB": [odds[w] for w in best],
                         "occurrences in AG News training text": [in_source[w] for w in best]})


def sweep_sizes(profile: Profile) -> list[int]:
    """Bottleneck sizes of the chapter's sweep: d/64, d/16, d/4 (d = the encoder's width)."""
    d = profile.encoder.d_model
    return sorted({max(1, d // r) for r in (64, 16, 4)})


def chapter_experiment(profile: Profile) -> "Outcome":
    """Everything chapter 04 trains, for ``python -m tap run ch04``."""
    from . import transfer
    from .experiments import Outcome
    from .plots import parameter_sweep, training_curves

    setup = transfer.prepare(profile)
    source = transfer.pretrain_on_ag_news(setup)
    default = bottleneck_size(setup.profile.encoder.d_model)
    sweep = {m: train_adapters(setup, source, "houlsby", m).record for m in sweep_sizes(setup.profile)}
    records = {"full fine-tuning": transfer.fine_tune(setup, source).record,
               "linear probe": transfer.linear_probe(setup, source).record,
               "adapters (Houlsby)": sweep[default],
               "adapters (Pfeiffer)": train_adapters(setup, source, "pfeiffer", default).record,
               **{f"adapters (Houlsby, m={m})": r for m, r in sweep.items() if m != default},
               "adapters + embedding table": train_adapters(setup, source, "houlsby", default, lr=EMBEDDING_LR,
                                                            train_embeddings=True).record,
               "AG News adapters": train_adapters(setup, source, "houlsby", default, task="ag_news").record}
    figures = {
        "training_curves": training_curves({k: records[k] for k in list(records)[:4]}),
        "bottleneck_sweep": parameter_sweep(
            {"adapters (Houlsby)": [(r["trainable_params"], 100 * r["test_accuracy"], f"m={m}") for m, r in sweep.items()]},
            references={k: (records[k]["trainable_params"], 100 * records[k]["test_accuracy"])
                        for k in ("full fine-tuning", "linear probe")}),
    }
    return Outcome(records, figures)
