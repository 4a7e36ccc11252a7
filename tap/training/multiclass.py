"""Chapter 06, part 1: multi-class fine-tuning of a pre-trained BERT with the book's own training
loop (``tap.training.loop.train``, no ``Trainer``), so every step a trainer hides is on the
page. This module holds what several classes add: the tasks and their balanced splits, BERT's
weight-decay recipe, and the metrics (accuracy, macro-F1, confusion matrix) written out and
compared with the majority-class baseline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from datasets import Dataset, load_dataset
from torch import nn

from ..core.devices import accelerating, scored_in_shares
from ..core.hub import revision
from ..core.measure import timer
from ..core.profiles import Profile
from ..data import datasets
from ..data.datasets import Splits, balanced_indices
from ..data.hf_data import TokenizedDataset

BERT_NO_DECAY = ("bias", "LayerNorm")  # BERT's recipe: AdamW leaves biases and LayerNorm gains alone
YELP_ID = "Yelp/yelp_review_full"  # 5 classes, 1-5 stars (Zhang, Zhao & LeCun, 2015)
YELP_NAMES = ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]


@dataclass(frozen=True)
class MultiClassSize:
    """How much of each task a profile uses, and how the model is trained on it."""

    model: str  # Hub id; offline, the stand-in from ``tap.models.pretrained.resolve``
    tasks: tuple[str, ...]
    train: int  # training rows (balanced); capped by what the split holds
    val: int
    test: int  # 0: the whole test split
    max_len: int  # tokens per text (AG News texts are ~50 word pieces, 97% fit in 96)
    epochs: int
    batch_size: int
    lr: float
    evals_per_epoch: int

    def to_dict(self) -> dict:
        return asdict(self)


SIZES: dict[str, MultiClassSize] = {
    "smoke": MultiClassSize(
        "bert-base-cased",
        ("ag_news",),
        train=32,
        val=16,
        test=32,
        max_len=32,
        epochs=1,
        batch_size=16,
        lr=1e-4,
        evals_per_epoch=1,
    ),
    "book": MultiClassSize(
        "bert-base-cased",
        ("ag_news",),
        train=1_200,
        val=240,
        test=800,
        max_len=96,
        epochs=1,
        batch_size=32,
        lr=1e-4,
        evals_per_epoch=4,
    ),
    # A GPU and the Hub: the original study's bert-base-cased on yelp_review_full (120,000 of its
    # 650,000 training reviews) and AG News (its whole 120,000-row train split).
    "full": MultiClassSize(
        "bert-base-cased",
        ("ag_news", "yelp_review_full"),
        train=114_000,
        val=6_000,
        test=0,
        max_len=256,
        epochs=2,
        batch_size=32,
        lr=3e-5,
        evals_per_epoch=4,
    ),
}


def size_of(profile: Profile) -> MultiClassSize:
    """The sizes of this part at ``profile``'s scale."""
    return SIZES[profile.name]


def _subset(ds: Dataset, n: int, seed: int) -> Dataset:
    """``n`` balanced rows of ``ds`` (all of it when ``n`` is 0 or at least its size)."""
    if not n or n >= len(ds):
        return ds
    return ds.select(balanced_indices(np.asarray(ds["label"]), n, seed=seed))


def task_splits(task: str, profile: Profile, seed: int = 0) -> Splits:
    """Train / validation / test rows of ``task`` at the profile's size, balanced by class."""
    size = size_of(profile)
    if task == "ag_news":
        s = datasets.ag_news_splits(profile, seed)
    elif task == "yelp_review_full":  # Hub only: no offline copy exists
        full = load_dataset(YELP_ID, revision=revision(YELP_ID))
        labels = np.asarray(full["train"]["label"])
        val_idx = balanced_indices(labels, size.val, seed=seed + 1)
        train_idx = balanced_indices(
            labels, size.train, seed=seed, exclude=datasets.same_text_rows(full["train"], val_idx)
        )
        s = Splits(
            full["train"].select(train_idx),
            full["train"].select(val_idx),
            full["test"],
            YELP_NAMES,
            note="Yelp reviews: training and validation rows from the train split; the official test split.",
        )
    else:
        raise ValueError(f"Unknown task {task!r}; this chapter uses: ag_news, yelp_review_full.")
    train, val, test = (
        _subset(s.train, size.train, seed),
        _subset(s.val, size.val, seed + 1),
        _subset(s.test, size.test, seed + 2),
    )
    note = s.note + f" This chapter uses {len(train):,} / {len(val):,} / {len(test):,} of them, balanced by class."
    return Splits(train, val, test, s.label_names, note)


def encode(tokenizer, ds: Dataset, max_len: int) -> TokenizedDataset:
    """Word-piece ids (with [CLS] ... [SEP], truncated to ``max_len``) and labels, batched with
    the book's dynamic padding."""
    return TokenizedDataset.from_tokenizer(tokenizer, ds["text"], ds["label"], max_len)


# --- metrics, written out ------------------------------------------------------------------


def accuracy(pred: torch.Tensor, gold: torch.Tensor) -> float:
    """Share of predictions equal to the label."""
    return (pred == gold).float().mean().item()


def confusion(pred: torch.Tensor, gold: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``C[i, j]`` = how many examples of true class ``i`` were predicted as class ``j``."""
    return torch.bincount(gold * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def macro_f1(pred: torch.Tensor, gold: torch.Tensor, num_classes: int) -> float:
    """Mean over classes of F1 = 2PR/(P+R): every class counts equally, however rare.
    A class never predicted and never present is skipped; one never predicted scores 0."""
    c = confusion(pred, gold, num_classes).double()
    tp, predicted, actual = c.diag(), c.sum(0), c.sum(1)
    present = (predicted + actual) > 0
    f1 = 2 * tp / (predicted + actual).clamp(min=1)  # = 2PR/(P+R), written without dividing by zero
    return f1[present].mean().item()


def majority_baseline(train_labels: list[int], test_labels: list[int], num_classes: int) -> dict:
    """Always predict the most frequent training class (the first of those tied for most): the
    floor any model must clear."""
    counts = np.bincount(train_labels, minlength=num_classes)
    majority = int(counts.argmax())
    gold = torch.tensor(test_labels)
    pred = torch.full_like(gold, majority)
    return {
        "test_accuracy": accuracy(pred, gold),
        "test_macro_f1": macro_f1(pred, gold, num_classes),
        "test_size": len(gold),
        "majority_class": majority,
        "majority_tied": int((counts == counts.max()).sum()) > 1,
        "wall_time_s": 0.0,
        "trainable_params": 0,
        "total_params": 0,
    }


@torch.inference_mode()
def split_probabilities(
    model: nn.Module, split: TokenizedDataset, batch_size: int = 64, acc: Accelerator | None = None
) -> torch.Tensor:
    """Class probabilities, ``[examples, classes]``, in the split's order.

    Under several processes each one scores a share of the batches
    (``tap.core.devices.scored_in_shares``). ``model`` is the model itself, not its multi-process
    wrapper: the processes may score unequal numbers of batches, and only the gathering meets
    the others."""
    if acc is None:
        with accelerating() as acc:
            return split_probabilities(model, split, batch_size, acc)
    model.eval()  # dropout off
    dev = next(model.parameters()).device

    def probabilities(inputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        with acc.autocast():
            logits = model(**{k: v.to(dev) for k, v in inputs.items()}).logits.float()  # [batch, classes]
        return logits.softmax(-1).cpu()

    rows = scored_in_shares(split.batches(batch_size, shuffle=False), acc, probabilities, model.config.num_labels)
    return rows[:, 1:].float()


def evaluate_split(
    model: nn.Module, split: TokenizedDataset, num_classes: int, acc: Accelerator | None = None
) -> dict:
    """Mean cross-entropy, accuracy and macro-F1 over a split (scored in shares under several
    processes, see ``split_probabilities``)."""
    probs = split_probabilities(model, split, acc=acc)
    gold = torch.tensor(split.labels)
    pred = probs.argmax(-1)
    loss = F.nll_loss(probs.clamp(min=1e-12).log(), gold).item()
    return {"loss": loss, "accuracy": accuracy(pred, gold), "macro_f1": macro_f1(pred, gold, num_classes)}


def validation(split: TokenizedDataset, num_classes: int) -> Callable[[nn.Module, Accelerator], dict]:
    """What the training loop scores on ``split`` at each validation when there are several
    classes: loss, accuracy and macro-F1 (``evaluate_split``)."""
    return lambda model, acc: evaluate_split(model, split, num_classes, acc)


def score_test_split(model: nn.Module, test_data: TokenizedDataset, num_classes: int) -> dict:
    """Test accuracy, macro-F1, confusion matrix and every test example's probabilities."""
    with timer() as clock:
        probs = split_probabilities(model, test_data)
    gold, pred = torch.tensor(test_data.labels), probs.argmax(-1)
    return {
        "test_accuracy": accuracy(pred, gold),
        "test_macro_f1": macro_f1(pred, gold, num_classes),
        "confusion": confusion(pred, gold, num_classes).tolist(),
        "test_size": len(gold),
        "test_time_s": clock["seconds"],
        "test_probs": probs.round(decimals=4).tolist(),
    }


def misclassified(
    test_probs: list[list[float]], test: Dataset, label_names: list[str], k: int = 4, width: int = 160
) -> pd.DataFrame:
    """The ``k`` test examples the model got wrong most confidently, with both probabilities: often
    a matter of labelling rather than of the model."""
    probs = torch.tensor(test_probs)
    gold = torch.tensor(test["label"])
    pred = probs.argmax(-1)
    wrong = torch.nonzero(pred != gold).flatten()
    wrong = wrong[probs[wrong, pred[wrong]].argsort(descending=True)][:k]
    rows = [
        {
            "text": (t := test[int(i)]["text"])[:width] + ("…" if len(t) > width else ""),
            "true": label_names[gold[i]],
            "predicted": label_names[pred[i]],
            "p(predicted)": round(probs[i, pred[i]].item(), 3),
            "p(true)": round(probs[i, gold[i]].item(), 3),
        }
        for i in wrong.tolist()
    ]
    return pd.DataFrame(rows, columns=["text", "true", "predicted", "p(predicted)", "p(true)"])
