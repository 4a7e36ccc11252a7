"""Helpers shared by every parameter-efficient method (chapters 04, 05, 07): find modules by
name, swap them, freeze the base model, and count what is left to train."""

from __future__ import annotations

import re
from collections.abc import Iterable

from torch import nn


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable and total parameters (shared tensors counted once)."""
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return {"trainable_params": trainable, "total_params": total}


HEAD_NAMES = ("head", "classifier")  # tap's encoder, Hugging Face sequence classifiers


def _collapse(name: str) -> str:
    """'layers.3.attention.query' -> 'layers.*.attention.query' (for readable error messages)."""
    return re.sub(r"\.\d+\.", ".*.", name)


def match_modules(model: nn.Module, targets: str | Iterable[str], kind: type = nn.Linear) -> list[str]:
    """Names of the ``kind`` modules selected by ``targets``: a list of names or name
    suffixes (as in PEFT's ``target_modules``) or one regular expression matched against the
    whole name. Fails loudly, listing the candidates, when nothing matches."""
    named = [(n, m) for n, m in model.named_modules() if isinstance(m, kind)]
    if isinstance(targets, str):
        chosen = [n for n, _ in named if re.fullmatch(targets, n)]
    else:
        suffixes = list(targets)
        chosen = [n for n, _ in named if any(n == t or n.endswith("." + t) for t in suffixes)]
    if not chosen:
        candidates = sorted({_collapse(n) for n, _ in named})
        raise ValueError(
            f"Target {targets!r} matched no {kind.__name__} module. {kind.__name__} modules in this "
            f"model: {', '.join(candidates)}. Pass full names, name suffixes or a regular expression."
        )
    return chosen


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` where the submodule called ``name`` was."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def freeze_base(model: nn.Module, keep: Iterable[str] = HEAD_NAMES) -> nn.Module:
    """Freeze every parameter except the classification head (any name part in ``keep``),
    so that only modules added afterwards (adapters, LoRA) and the head will train."""
    keep = tuple(keep)
    for name, p in model.named_parameters():
        p.requires_grad = any(part in keep for part in name.split("."))
    return model


def parameter_row(method: str, model: nn.Module) -> dict:
    """Trainable and total parameters as one results-table row."""
    c = count_parameters(model)
    return {
        "method": method,
        "trainable params": c["trainable_params"],
        "total params": c["total_params"],
        "trainable (%)": 100 * c["trainable_params"] / c["total_params"],
    }
