"""Bottleneck adapters written out (Houlsby et al., 2019), inserted by module name into
``tap``'s encoder or a Hugging Face BERT, and switched per task on one frozen base. Chapter
04's experiment with them is ``tap/chapters/ch04_adapters.py``.

An adapter is a small residual MLP, ``x + W_up · f(W_down · x)``, placed after a sub-layer's
output projection. Its up-projection starts at zero, so a freshly inserted adapter is exactly
the identity and the model computes what it computed before; training then moves only the
adapters and the classification head.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from torch import nn

from .freezing import HEAD_NAMES, freeze_base
from .submodules import match_modules, replace_module

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


def sites(placement: str) -> tuple[str, ...]:
    """The sites (keys of ``SITES``) where ``placement`` puts an adapter in every layer."""
    if placement not in PLACEMENTS:
        raise ValueError(f"Unknown adapter placement {placement!r}; choose one of: {', '.join(PLACEMENTS)}.")
    return PLACEMENTS[placement]


def bottleneck_size(hidden: int, bottleneck: int | None = None, reduction_factor: int = 16) -> int:
    """The adapter's inner width: ``bottleneck`` if given, else ``hidden // reduction_factor``
    (AdapterHub's convention; Houlsby et al. write it as m)."""
    if bottleneck is not None and (isinstance(bottleneck, bool) or not isinstance(bottleneck, int)):
        raise ValueError(
            f"Adapter bottleneck must be a whole number (the adapter's inner width), got {bottleneck!r}. "
            f"Pass an integer of at least 1, or bottleneck=None for hidden // reduction_factor."
        )
    if isinstance(reduction_factor, bool) or not isinstance(reduction_factor, int) or reduction_factor < 1:
        raise ValueError(
            f"Adapter reduction_factor must be a positive integer (the bottleneck is hidden // reduction_factor), "
            f"got {reduction_factor!r}. AdapterHub's default is 16; or pass bottleneck=m directly."
        )
    m = bottleneck if bottleneck is not None else hidden // reduction_factor
    if m < 1:
        raise ValueError(
            f"Bottleneck size must be at least 1 (got {m} from hidden={hidden}, bottleneck={bottleneck}, "
            f"reduction_factor={reduction_factor}). Pass a larger bottleneck or a smaller reduction_factor."
        )
    return m


def adapter_parameters(placement: str, hidden: int, layers: int, bottleneck: int) -> int:
    """What ``placement``'s adapters add to a model of ``layers`` layers of width ``hidden``:
    ``a·L·(2dm + m + d)`` with ``a`` adapters per layer (2 for Houlsby, 1 for Pfeiffer), the
    formula a parameter count is checked against (the head comes on top)."""
    return len(sites(placement)) * layers * (2 * hidden * bottleneck + bottleneck + hidden)


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
    return "|".join(f"(?:{p})" for site in sites(placement) for p in SITES[site])


def _adapter_targets(
    model: nn.Module,
    placement: str,
    bottleneck: int | None,
    reduction_factor: int,
    targets: str | Iterable[str] | None,
    freeze: bool,
    seed: int,
) -> list[str]:
    """Every argument of ``add_adapters`` checked before anything changes, so that a failed call
    leaves the model as it was: the names of the layers to wrap."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"add_adapters needs a torch nn.Module to change, got {type(model).__name__}.")
    if any(isinstance(m, Adapter) for m in model.modules()):
        raise ValueError("This model already has adapters; insert them into a fresh copy of the base model.")
    pattern = placement_pattern(placement)  # an unknown placement fails here, targets given or not
    if not isinstance(freeze, bool):
        raise ValueError(f"Adapters' freeze must be True or False, got {freeze!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"Adapters' seed must be an integer, got {seed!r}.")
    if targets is None:
        targets = pattern
    elif not isinstance(targets, str):
        listed = list(targets) if isinstance(targets, Iterable) else None
        if listed is None or not all(isinstance(t, str) for t in listed):
            raise ValueError(
                f"Adapter targets must be module names, name suffixes (a list of strings), one regular expression "
                f"or None (the placement's sites), got {targets!r}."
            )
        targets = listed
    try:
        names = match_modules(model, targets)
    except re.error as err:
        raise ValueError(
            f"Adapter target {targets!r} is not a valid regular expression ({err}). Correct the pattern "
            f"(re.escape quotes a literal name) or pass a list of names or name suffixes."
        ) from None
    except ValueError as err:
        raise ValueError(
            f"Adapters ({placement!r} placement): {err} Name the output projections "
            f"with add_adapters(..., targets=[...])."
        ) from None
    if "" in names:  # the model's own name: replacing it in place cannot work
        raise ValueError(
            f"Adapter target {targets!r} matches the model itself (a bare {type(model).__name__}), which cannot be "
            f"replaced in place. Build LinearWithAdapter(model, Adapter(...)) instead, or wrap the model "
            f"(nn.Sequential(model)) and target '0'."
        )
    for name in names:
        bottleneck_size(model.get_submodule(name).out_features, bottleneck, reduction_factor)
    return names


def add_adapters(
    model: nn.Module,
    placement: str = "houlsby",
    bottleneck: int | None = None,
    reduction_factor: int = 16,
    targets: str | Iterable[str] | None = None,
    freeze: bool = True,
    seed: int = 0,
) -> list[str]:
    """Insert an :class:`Adapter` after every Linear layer the ``placement`` names (or the
    ``targets`` given: names, suffixes or a regex, as in ``submodules.match_modules``). With
    ``freeze``, the base model is frozen first, so only adapters and head train. Returns the
    names of the wrapped layers; fails loudly, leaving the model as it was, when an argument is wrong."""
    names = _adapter_targets(model, placement, bottleneck, reduction_factor, targets, freeze, seed)
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
        raise ValueError(
            f"Adapter state does not fit this model: missing {sorted(expected - set(state))}, "
            f"unexpected {sorted(set(state) - expected)}. Was it saved from the same placement?"
        )
    for name in state:
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
