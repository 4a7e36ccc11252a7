"""What a model trains and what it holds, in parameters: the cost every run records and every
method is judged by (how many weights a new task adds)."""

from __future__ import annotations

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


def parameter_row(method: str, model: nn.Module) -> dict:
    """Trainable and total parameters as one results-table row."""
    c = count_parameters(model)
    return {
        "method": method,
        "trainable params": c["trainable_params"],
        "total params": c["total_params"],
        "trainable (%)": 100 * c["trainable_params"] / c["total_params"],
    }
