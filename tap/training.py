"""One training loop for every classifier in the book: AdamW with linear warm-up and
decay, gradient clipping, validation during training, best-checkpoint keeping, and a
run record that states what the run cost."""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .measure import device, hardware, timer, track_peak_memory
from .efficient import count_parameters

Batch = tuple[dict[str, torch.Tensor], torch.Tensor]  # (model inputs, labels)


class BatchSource(Protocol):
    """Anything that yields ``(inputs, labels)`` batches: ``tap.text.EncodedDataset`` or
    the Hugging Face tokenised datasets of later chapters."""

    def __len__(self) -> int: ...
    def batches(self, batch_size: int, shuffle: bool, seed: int = 0, by_length: bool = False) -> Iterator[Batch]: ...


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; part of every run's cache key."""

    epochs: int = 2
    lr: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    evals_per_epoch: int = 4
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def logits_of(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits from a ``tap`` model (a tensor) or a Hugging Face model (``.logits``)."""
    out = model(**inputs)
    return out.logits if hasattr(out, "logits") else out


def _to(inputs: dict[str, torch.Tensor], dev: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(dev) for k, v in inputs.items()}


@torch.inference_mode()
def predict(model: nn.Module, data: BatchSource, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predicted labels, true labels)`` over a whole split, in its order."""
    model.eval()
    dev = next(model.parameters()).device
    preds, golds = [], []
    for inputs, labels in data.batches(batch_size, shuffle=False):
        preds.append(logits_of(model, _to(inputs, dev)).argmax(-1).cpu())
        golds.append(labels)
    return torch.cat(preds), torch.cat(golds)


@torch.inference_mode()
def evaluate(model: nn.Module, data: BatchSource, batch_size: int = 64) -> dict[str, float]:
    """Mean cross-entropy loss and accuracy over a split."""
    model.eval()
    dev = next(model.parameters()).device
    loss_sum, correct, n = 0.0, 0, 0
    for inputs, labels in data.batches(batch_size, shuffle=False, by_length=True):
        logits = logits_of(model, _to(inputs, dev))
        labels = labels.to(dev)
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(-1) == labels).sum().item()
        n += len(labels)
    return {"loss": loss_sum / n, "accuracy": correct / n}


def warmup_linear_decay(step: int, total: int, warmup: int) -> float:
    """Learning-rate multiplier: rises linearly to 1 over ``warmup`` steps, then falls to 0.

    This is ``transformers.get_linear_schedule_with_warmup`` one step ahead during warm-up: that
    schedule gives the very first update a learning rate of 0 (a step that changes nothing but
    the optimiser's moments), this one gives it 1/``warmup`` of the rate (tested against it)."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def train(
    model: nn.Module, train_data: BatchSource, val_data: BatchSource, cfg: TrainConfig,
    desc: str = "training",
) -> tuple[dict, nn.Module]:
    """Train the parameters of ``model`` that require gradients; keep the checkpoint with
    the best validation accuracy. Returns ``(record, model with the best weights)``."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("The model has no trainable parameters: unfreeze something (at least the head).")
    torch.manual_seed(cfg.seed)
    dev = device()
    model.to(dev)
    steps_per_epoch = math.ceil(len(train_data) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    eval_every = max(1, steps_per_epoch // max(1, cfg.evals_per_epoch))
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_linear_decay(s, total, int(cfg.warmup_ratio * total)))
    history, best, best_state, step, seen, window = [], -1.0, None, 0, 0, []
    with track_peak_memory() as mem, timer() as clock, tqdm(total=total, desc=desc, leave=False) as bar:
        for epoch in range(cfg.epochs):
            for inputs, labels in train_data.batches(cfg.batch_size, shuffle=True, seed=cfg.seed + epoch):
                model.train()
                loss = F.cross_entropy(logits_of(model, _to(inputs, dev)), labels.to(dev))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                opt.step()
                sched.step()
                step, seen = step + 1, seen + len(labels)
                window.append(loss.item())
                bar.update(1)
                if step % eval_every == 0 or step == total:
                    val = evaluate(model, val_data)
                    history.append({"step": step, "epoch": step / steps_per_epoch, "examples": seen,
                                    "train_loss": sum(window) / len(window), "val_loss": val["loss"],
                                    "val_accuracy": val["accuracy"]})
                    window = []
                    bar.set_postfix(val_acc=f"{val['accuracy']:.3f}")
                    if val["accuracy"] > best:
                        best, best_state = val["accuracy"], copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    record = {
        "history": history, "best_val_accuracy": best,
        "best_step": max(history, key=lambda h: h["val_accuracy"])["step"],
        "train_config": cfg.to_dict(), "train_examples": len(train_data), "steps": total,
        "wall_time_s": clock["seconds"], "examples_per_s": seen / clock["seconds"],
        **mem, **count_parameters(model), "hardware": hardware(), "seed": cfg.seed,
    }
    return record, model


def test_record(model: nn.Module, test_data: BatchSource) -> dict:
    """Test accuracy with the test-set size and the time the evaluation took."""
    with timer() as clock:
        result = evaluate(model, test_data)
    return {"test_accuracy": result["accuracy"], "test_loss": result["loss"],
            "test_size": len(test_data), "test_time_s": clock["seconds"]}
