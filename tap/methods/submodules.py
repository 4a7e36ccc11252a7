"""Find a model's submodules by name and swap them: how adapters and LoRA reach the layers they
wrap (chapters 04, 05, 07), with names as PEFT's ``target_modules`` takes them."""

from __future__ import annotations

import re
from collections.abc import Iterable

from torch import nn


def collapse_indices(name: str) -> str:
    """'layers.3.attention.query' -> 'layers.*.attention.query': one line per kind of layer in an
    error message, not one per copy."""
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
        candidates = sorted({collapse_indices(n) for n, _ in named})
        raise ValueError(
            f"Target {targets!r} matched no {kind.__name__} module. {kind.__name__} modules in this "
            f"model: {', '.join(candidates)}. Pass full names, name suffixes or a regular expression."
        )
    return chosen


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` where the submodule called ``name`` was."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
