"""Freeze a base model but its classification head: the start of the linear probe, BitFit,
adapters and LoRA (chapters 01, 04, 05, 07), which then train only what they add."""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

HEAD_NAMES = ("head", "classifier")  # tap's encoder, Hugging Face sequence classifiers


def freeze_base(model: nn.Module, keep: Iterable[str] = HEAD_NAMES) -> nn.Module:
    """Freeze every parameter except the classification head (any name part in ``keep``),
    so that only modules added afterwards (adapters, LoRA) and the head will train."""
    keep = tuple(keep)
    for name, p in model.named_parameters():
        p.requires_grad = any(part in keep for part in name.split("."))
    return model
