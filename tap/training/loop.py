"""One training loop for every classifier in the book: AdamW with linear warm-up and
decay, gradient clipping, validation during training, best-checkpoint keeping, and a
run record that states what the run cost. ``accelerate`` runs it (``tap.core.devices``): on the
GPU when there is one, in mixed precision when the config asks, and split across processes
under ``accelerate launch`` — with the same batches, steps and learning rates in every case."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn
from tqdm.auto import tqdm

from ..core.devices import accelerating, scored_in_shares
from ..core.measure import hardware, timer, track_peak_memory
from ..methods.parameter_counts import count_parameters

Batch = tuple[dict[str, torch.Tensor], torch.Tensor]  # (model inputs, labels)


class BatchSource(Protocol):
    """Anything that yields ``(inputs, labels)`` batches: ``tap.data.text.EncodedDataset`` or
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
    mixed_precision: str = "no"  # "bf16" or "fp16": forward passes in 16 bits, weights kept in 32
    micro_batch: int = 0  # > 0: rows per forward pass, gradients accumulated up to ``batch_size``
    no_decay: tuple[str, ...] = ()  # parameters whose name holds one of these are not decayed

    def to_dict(self) -> dict:
        return asdict(self)


def logits_of(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits from a ``tap`` model (a tensor) or a Hugging Face model (``.logits``)."""
    out = model(**inputs)
    return out.logits if hasattr(out, "logits") else out


def _to(inputs: dict[str, torch.Tensor], dev: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(dev) for k, v in inputs.items()}


@torch.inference_mode()
def _outcomes(model: nn.Module, data: BatchSource, batch_size: int, acc: Accelerator, by_length: bool) -> torch.Tensor:
    """One row per example: ``[position, predicted label, true label, loss]``, scored in shares
    across processes (``tap.core.devices.scored_in_shares``)."""
    model.eval()
    dev = next(model.parameters()).device

    def score(inputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        with acc.autocast():
            logits = logits_of(model, _to(inputs, dev)).float()
        losses = F.cross_entropy(logits, labels.to(dev), reduction="none").cpu()
        return torch.stack([logits.argmax(-1).cpu().double(), labels.double(), losses.double()], 1)

    return scored_in_shares(data.batches(batch_size, shuffle=False, by_length=by_length), acc, score, width=3)


def predict(
    model: nn.Module, data: BatchSource, batch_size: int = 64, mixed_precision: str = "no"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predicted labels, true labels)`` over a whole split, in its order."""
    with accelerating(mixed_precision) as acc:
        rows = _outcomes(model, data, batch_size, acc, by_length=False)
    return rows[:, 1].long(), rows[:, 2].long()


def evaluate(
    model: nn.Module, data: BatchSource, batch_size: int = 64, acc: Accelerator | None = None
) -> dict[str, float]:
    """Mean cross-entropy loss and accuracy over a split (batches sorted by length: the order
    does not matter here, and less padding means less time)."""
    if acc is None:
        with accelerating() as acc:
            return evaluate(model, data, batch_size, acc)
    rows = _outcomes(model, data, batch_size, acc, by_length=True)
    return {"loss": rows[:, 3].mean().item(), "accuracy": (rows[:, 1] == rows[:, 2]).double().mean().item()}


def warmup_linear_decay(step: int, total: int, warmup: int) -> float:
    """Learning-rate multiplier: rises linearly to 1 over ``warmup`` steps, then falls to 0.

    This is ``transformers.get_linear_schedule_with_warmup`` one step ahead during warm-up: that
    schedule gives the very first update a learning rate of 0 (a step that changes nothing but
    the optimiser's moments), this one gives it 1/``warmup`` of the rate (tested against it)."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """AdamW's parameter groups: every trainable weight decays towards zero at
    ``cfg.weight_decay``, except those named by ``cfg.no_decay`` (BERT's recipe leaves biases
    and LayerNorm gains alone: their scale is meaningful)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("The model has no trainable parameters: unfreeze something (at least the head).")
    kept = [p for n, p in named if any(part in n for part in cfg.no_decay)]
    decayed = [p for n, p in named if not any(part in n for part in cfg.no_decay)]
    return [{"params": decayed, "weight_decay": cfg.weight_decay}] + (
        [{"params": kept, "weight_decay": 0.0}] if kept else []
    )


def process_parts(n_rows: int, cfg: TrainConfig, acc: Accelerator) -> list[tuple[torch.Tensor, int]]:
    """This process's rows of a batch of ``n_rows``, as micro-batches of at most
    ``cfg.micro_batch`` rows, each with the factor that makes its summed loss, divided by
    ``n_rows``, its share of the gradient: processes get equal slices and DDP averages their
    gradients, so the update is the one a single process would make. Every process runs the
    same number of passes (DDP exchanges data in each); a pass with no row of its own runs
    one row at factor 0."""
    rows = torch.arange(n_rows).tensor_split(acc.num_processes)[acc.process_index]
    largest = -(-n_rows // acc.num_processes)
    count = -(-largest // cfg.micro_batch) if cfg.micro_batch else 1
    return [
        (part, acc.num_processes) if len(part) else (torch.zeros(1, dtype=torch.long), 0)
        for part in rows.tensor_split(count)
    ]


def train(
    model: nn.Module,
    train_data: BatchSource,
    val_data: BatchSource,
    cfg: TrainConfig,
    desc: str = "training",
    validate: Callable[[nn.Module, Accelerator], dict] | None = None,
) -> tuple[dict, nn.Module]:
    """Train the parameters of ``model`` that require gradients; keep the checkpoint with the
    best validation accuracy. Returns ``(record, model with the best weights)``. ``validate``
    scores the model on the validation set (default: ``evaluate``; any ``loss``, ``accuracy``
    and further metrics it returns go into the history).

    ``accelerate`` runs the loop: on the GPU when there is one, in ``cfg.mixed_precision``, in
    micro-batches of ``cfg.micro_batch`` rows, and with each batch split across the processes of
    ``torchrun`` or ``accelerate launch``, with the same batches, steps and learning rates."""
    validate = validate or (lambda m, acc: evaluate(m, val_data, acc=acc))
    params = [p for p in model.parameters() if p.requires_grad]  # clipped together, in the model's order
    torch.manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr)
    steps_per_epoch = math.ceil(len(train_data) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then linear decay to 0
        optimizer, lambda s: warmup_linear_decay(s, total, int(cfg.warmup_ratio * total))
    )
    eval_every = max(1, steps_per_epoch // max(1, cfg.evals_per_epoch))
    plain = model  # validated as it is: each process scores a share of the batches (scored_in_shares)

    history: list[dict] = []  # one entry per validation
    best_accuracy, best_state = -1.0, None  # the best validation accuracy so far, and its weights
    step = seen = 0  # optimiser steps taken, training examples seen
    losses: list[float] = []  # training losses since the last validation
    # acc: this process's device, precision and place among the processes
    with (
        accelerating(cfg.mixed_precision) as acc,
        track_peak_memory() as memory,
        timer() as clock,
        tqdm(total=total, desc=desc, leave=False, disable=not acc.is_main_process) as bar,
    ):
        model, optimizer = acc.prepare(model, optimizer)  # onto acc.device; in DDP under several processes
        for epoch in range(cfg.epochs):
            for inputs, labels in train_data.batches(cfg.batch_size, shuffle=True, seed=cfg.seed + epoch):
                model.train()  # dropout on
                parts, batch_loss = process_parts(len(labels), cfg, acc), 0.0  # this process's rows, in parts
                for i, (rows, factor) in enumerate(parts):
                    last = i == len(parts) - 1  # the processes add up their gradients once, after the last part
                    with nullcontext() if last else acc.no_sync(model), acc.autocast():  # bf16/fp16 if asked
                        part = {k: v[rows].to(acc.device) for k, v in inputs.items()}  # e.g. input_ids, attention_mask
                        logits = logits_of(model, part).float()  # [rows, classes]
                        summed = F.cross_entropy(logits, labels[rows].to(acc.device), reduction="sum")
                        loss = summed * factor / len(labels)  # this part's share of the batch's mean loss
                    acc.backward(loss)  # gradients of every trained weight (loss scaled first in fp16)
                    batch_loss += loss.item() / acc.num_processes
                acc.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()  # AdamW update
                scheduler.step()  # next learning rate
                optimizer.zero_grad(set_to_none=True)
                step, seen = step + 1, seen + len(labels)
                losses.append(acc.reduce(torch.tensor(batch_loss, device=acc.device), "sum").item())  # all rows
                bar.update(1)
                if step % eval_every == 0 or step == total:
                    val = validate(plain, acc)
                    history.append(
                        {
                            "step": step,
                            "epoch": step / steps_per_epoch,
                            "examples": seen,
                            "train_loss": sum(losses) / len(losses),
                            **{f"val_{name}": value for name, value in val.items()},
                        }
                    )
                    losses = []
                    bar.set_postfix(val_acc=f"{val['accuracy']:.3f}")
                    if val["accuracy"] > best_accuracy:  # keep a copy of the best weights so far
                        best_accuracy, best_state = val["accuracy"], copy.deepcopy(plain.state_dict())
        model = acc.unwrap_model(model, keep_fp32_wrapper=False)  # the model itself, without wrappers
        processes = acc.num_processes
    model.load_state_dict(best_state)
    record = {
        "history": history,
        "best_val_accuracy": best_accuracy,
        "best_step": max(history, key=lambda h: h["val_accuracy"])["step"],
        "train_config": cfg.to_dict(),
        "train_examples": len(train_data),
        "steps": total,
        "wall_time_s": clock["seconds"],
        "examples_per_s": seen / clock["seconds"],
        **memory,
        **count_parameters(model),
        "hardware": hardware(),
        "processes": processes,
        "seed": cfg.seed,
    }
    return record, model


def test_record(model: nn.Module, test_data: BatchSource) -> dict:
    """Test accuracy with the test-set size and the time the evaluation took."""
    with timer() as clock:
        result = evaluate(model, test_data)
    return {
        "test_accuracy": result["accuracy"],
        "test_loss": result["loss"],
        "test_size": len(test_data),
        "test_time_s": clock["seconds"],
    }
