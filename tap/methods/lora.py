"""Chapter 05: LoRA written out (Hu et al., 2021), applied by name to any model's linear
layers (and embedding tables), merged and unmerged. It follows Hugging Face PEFT, the reference
implementation (``peft/tuners/lora/layer.py``), choice for choice (chapter 05's experiment,
``tap.chapters.ch05_lora``, checks it output for output against PEFT):

- ``A`` (``[rank, in]``) is initialised like ``nn.Linear`` (Kaiming-uniform, ``a=√5``) and
  ``B`` (``[out, rank]``) with zeros, so the wrapped layer starts exactly unchanged (for an
  embedding table the other way round: ``A`` zero, ``B`` standard normal);
- the update is scaled by ``alpha / rank`` (or ``alpha / √rank``, rank-stabilised LoRA);
- dropout, when asked for, acts on the adapter's input only;
- merging folds ``scaling · B A`` into the frozen weight and refuses non-finite results;
- ``copy_from_peft`` copies a PEFT model's factors into these layers (same shapes, same names).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .freezing import HEAD_NAMES, freeze_base
from .submodules import collapse_indices, match_modules, replace_module


def _check_settings(rank: int, alpha: float, dropout: float = 0.0) -> None:
    """LoRA's three numbers, checked where a layer is built and before ``apply_lora`` changes a model."""
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"LoRA rank must be a positive integer, got {rank!r}. Typical values: 1, 2, 4, 8, 16.")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(
            f"LoRA alpha must be a positive finite number, got {alpha!r}. "
            f"A common choice is alpha = 2 * rank (update scaling 2)."
        )
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(
            f"LoRA dropout must be a probability in [0, 1) (the share of the adapter's input zeroed in training), "
            f"got {dropout!r}. Typical values: 0.0 (none) to 0.1."
        )


class LoRALayer(nn.Module):
    """The low-rank update ``x ↦ scaling · B A x`` with ``A: [rank, in]``, ``B: [out, rank]``:
    ``rank · (in + out)`` trainable weights instead of ``in · out``. ``B`` starts at zero, so
    the update starts as a no-op; ``A`` starts like an ``nn.Linear`` weight (Kaiming-uniform)."""

    def __init__(
        self, in_features: int, out_features: int, rank: int, alpha: float, dropout: float = 0.0, rslora: bool = False
    ) -> None:
        super().__init__()
        self.rank, self.alpha, self.rslora = rank, alpha, rslora
        self.A = nn.Parameter(nn.init.kaiming_uniform_(torch.empty(rank, in_features), a=math.sqrt(5)))
        self.B = nn.Parameter(torch.zeros(out_features, rank))
        # alpha/rank keeps the update's size comparable across ranks at a fixed learning rate;
        # rsLoRA's alpha/√rank keeps it from shrinking at high rank (Kalajdzievski, 2023).
        self.scaling = alpha / math.sqrt(rank) if rslora else alpha / rank
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # [..., in] -> [..., rank] -> [..., out]: two thin matmuls, never the [out, in] product
        return F.linear(F.linear(self.dropout(x), self.A), self.B) * self.scaling

    def delta_weight(self) -> torch.Tensor:
        """The dense update ``scaling · B A``, shape ``[out, in]`` like ``nn.Linear.weight``."""
        return (self.B @ self.A) * self.scaling

    def extra_repr(self) -> str:
        return (
            f"in={self.A.shape[1]}, out={self.B.shape[0]}, rank={self.rank}, alpha={self.alpha}, "
            f"scaling={self.scaling:.4g}{', rslora' if self.rslora else ''}"
        )


class _Mergeable(nn.Module):
    """Merge and unmerge for a frozen base layer (``self.base``) plus ``self.lora``."""

    base: nn.Module
    lora: LoRALayer
    merged: bool = False

    def _delta(self) -> torch.Tensor:
        """The update in the shape of ``self.base.weight``."""
        return self.lora.delta_weight()

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into the weight (``W ← W + scaling · B A``): inference then costs
        exactly what the base layer costs. Refuses to write a non-finite weight."""
        if self.merged:
            return
        merged = self.base.weight + self._delta()
        if not torch.isfinite(merged).all():
            raise ValueError(
                "Merging this LoRA layer would give non-finite weights (NaN or inf); "
                "the base weight is left unchanged. Check the adapter's training (learning rate)."
            )
        self.base.weight.copy_(merged)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract the update again, restoring the base weight (up to rounding)."""
        if self.merged:
            self.base.weight.sub_(self._delta())
            self.merged = False


class LinearWithLoRA(_Mergeable):
    """A frozen ``nn.Linear`` plus a trainable ``LoRALayer``: ``W x + b + scaling · B A x``."""

    def __init__(
        self,
        linear: nn.Linear,
        rank: int,
        alpha: float,
        dropout: float = 0.0,
        rslora: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"LinearWithLoRA wraps nn.Linear, got {type(linear).__name__}.")
        _check_settings(rank, alpha, dropout)
        self.linear = linear.requires_grad_(False)
        self.lora = LoRALayer(linear.in_features, linear.out_features, rank, alpha, dropout, rslora)
        self.lora.to(linear.weight.device, linear.weight.dtype)

    @property
    def base(self) -> nn.Linear:
        return self.linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        return out if self.merged else out + self.lora(x)


class EmbeddingWithLoRA(_Mergeable):
    """A frozen ``nn.Embedding`` plus a low-rank update of its table: token ``i`` gets
    ``E[i] + scaling · B A[:, i]``, so each word gains ``rank`` new trainable numbers
    (``A``) and all words share ``B``. (No dropout: the input is a token id, not a vector.)
    Here ``A`` starts at zero and ``B`` standard normal, as in PEFT."""

    def __init__(self, embedding: nn.Embedding, rank: int, alpha: float, rslora: bool = False) -> None:
        super().__init__()
        _check_settings(rank, alpha)
        self.embedding = embedding.requires_grad_(False)
        with torch.random.fork_rng(devices=[]):  # A's Kaiming draw is replaced below: it takes nothing from the RNG
            self.lora = LoRALayer(embedding.num_embeddings, embedding.embedding_dim, rank, alpha, 0.0, rslora)
        with torch.no_grad():
            self.lora.A.zero_()
            self.lora.B.normal_()
        self.lora.to(embedding.weight.device, embedding.weight.dtype)

    @property
    def base(self) -> nn.Embedding:
        return self.embedding

    def _delta(self) -> torch.Tensor:
        return self.lora.delta_weight().T  # [vocab, dim], like the table

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out = self.embedding(ids)
        if self.merged:
            return out
        # one-hot(ids) @ Aᵀ is a lookup of A's columns: [batch, tokens, rank] -> [batch, tokens, dim]
        picked = F.embedding(ids, self.lora.A.T, padding_idx=self.embedding.padding_idx)
        return out + F.linear(picked, self.lora.B) * self.lora.scaling


def _candidates(model: nn.Module) -> str:
    """The layers LoRA can wrap in ``model``, by kind, for error messages."""
    linear, tables = (
        ", ".join(sorted({collapse_indices(n) for n, m in model.named_modules() if isinstance(m, k)})) or "none"
        for k in (nn.Linear, nn.Embedding)
    )
    return f"Linear layers in this model: {linear}. Embedding tables: {tables}."


def _match(model: nn.Module, targets: str | list[str]) -> list[str]:
    """Linear layers and embedding tables named by ``targets``, in model order; when nothing
    matches, the error lists the candidates of both kinds."""
    found = set()
    for kind in (nn.Linear, nn.Embedding):
        try:
            found.update(match_modules(model, targets, kind))
        except ValueError:
            pass
    if not found:
        raise ValueError(
            f"LoRA target {targets!r} matched no module. {_candidates(model)} Pass full names, name suffixes "
            f"(like PEFT's target_modules) or one regular expression."
        )
    return [n for n, _ in model.named_modules() if n in found]


def _strings(value: object) -> list[str] | None:
    """``value`` as a list when it is an iterable of strings (but not one string), else None."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        return None
    value = list(value)
    return value if all(isinstance(v, str) for v in value) else None


def _lora_targets(
    model: nn.Module,
    targets: str | Iterable[str],
    rank: int,
    alpha: float,
    dropout: float,
    rslora: bool,
    freeze: bool,
    keep: Iterable[str],
    seed: int,
) -> tuple[list[str], list[str]]:
    """Every argument of ``apply_lora`` checked before anything changes, so that a failed call
    leaves the model as it was: the names of the layers to wrap, and ``keep`` as a list."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"apply_lora needs a torch nn.Module to change, got {type(model).__name__}.")
    _check_settings(rank, alpha, dropout)
    for name, flag in (("rslora", rslora), ("freeze", freeze)):
        if not isinstance(flag, bool):
            raise ValueError(f"LoRA's {name} must be True or False, got {flag!r}.")
    if (kept := _strings(keep)) is None:
        raise ValueError(
            f"LoRA's keep must be a list of name parts to leave trainable, got {keep!r}. "
            f"For a classification head: keep=('head', 'classifier')."
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"LoRA's seed must be an integer, got {seed!r}.")
    if isinstance(targets, str):
        try:
            re.compile(targets)
        except re.error as err:
            raise ValueError(
                f"LoRA target {targets!r} is not a valid regular expression ({err}). Correct the pattern "
                f"(re.escape quotes a literal name) or pass a list of names or name suffixes. {_candidates(model)}"
            ) from None
    elif (listed := _strings(targets)) is None:
        raise ValueError(
            f"LoRA targets must be module names, name suffixes (a list of strings) or one regular expression, "
            f"got {targets!r}. For example: apply_lora(model, ['query', 'value']). {_candidates(model)}"
        )
    else:
        targets = listed
    existing = lora_layers(model)
    twice = ValueError(
        f"LoRA is already on {', '.join(sorted(existing))}: {targets!r} names layers that are wrapped "
        f"already. Apply LoRA to a fresh copy of the base model, or target other layers."
    )
    try:
        names = _match(model, targets)
    except ValueError:
        if existing:  # the targets' layers now sit inside LoRA wrappers, under other names
            raise twice from None
        raise
    if "" in names:  # the model's own name: replacing it in place cannot work
        wrapper = "EmbeddingWithLoRA" if isinstance(model, nn.Embedding) else "LinearWithLoRA"
        raise ValueError(
            f"LoRA target {targets!r} matches the model itself (a bare {type(model).__name__}), which cannot be "
            f"replaced in place. Build {wrapper}(model, rank, alpha) instead, or wrap the model "
            f"(nn.Sequential(model)) and target '0'."
        )
    if any(n == e or n.startswith(e + ".") for n in names for e in existing):
        raise twice
    for name in names:
        width = min(model.get_submodule(name).weight.shape)
        if rank > width:
            raise ValueError(
                f"LoRA rank {rank} is larger than {name}'s smaller dimension ({width}): the update "
                f"B·A could not have that rank. Use rank <= {width}, or leave {name} out of the targets."
            )
    return names, kept


def apply_lora(
    model: nn.Module,
    targets: str | Iterable[str],
    rank: int = 8,
    alpha: float = 16,
    dropout: float = 0.0,
    rslora: bool = False,
    freeze: bool = True,
    keep: Iterable[str] = HEAD_NAMES,
    seed: int = 0,
) -> list[str]:
    """Wrap the linear layers (and embedding tables) named by ``targets`` (names, name
    suffixes or one regular expression, as PEFT's ``target_modules``) with LoRA, in place.
    With ``freeze`` every other parameter is frozen except the head (``keep``), like PEFT's
    ``modules_to_save``. Returns the wrapped names; fails loudly, leaving the model as it was,
    when an argument is wrong or nothing matches."""
    names, keep = _lora_targets(model, targets, rank, alpha, dropout, rslora, freeze, keep, seed)
    if freeze:
        freeze_base(model, keep)
    with torch.random.fork_rng(devices=[]):  # reproducible factors; the global RNG is left as it was
        torch.manual_seed(seed)
        for name in names:
            layer = model.get_submodule(name)
            if isinstance(layer, nn.Embedding):
                wrapped = EmbeddingWithLoRA(layer, rank, alpha, rslora)
            else:
                wrapped = LinearWithLoRA(layer, rank, alpha, dropout, rslora)
            replace_module(model, name, wrapped)
    return names


def lora_layers(model: nn.Module) -> dict[str, _Mergeable]:
    """Every LoRA-wrapped layer in ``model`` by name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, _Mergeable)}


def merge(model: nn.Module) -> nn.Module:
    """Merge every LoRA layer of ``model`` into its base weight."""
    layers = lora_layers(model)
    if not layers:
        raise ValueError("This model has no LoRA layers to merge; call apply_lora(model, targets, ...) first.")
    for layer in layers.values():
        layer.merge()
    return model


def unmerge(model: nn.Module) -> nn.Module:
    """Undo ``merge``: the adapters are separate (and trainable) again."""
    for layer in lora_layers(model).values():
        layer.unmerge()
    return model


# --- Interchange with the reference implementation, Hugging Face PEFT ----------------------------


def copy_from_peft(model: nn.Module, peft_model: nn.Module, adapter: str = "default") -> int:
    """Copy PEFT's ``lora_A``/``lora_B`` weights into ``model``'s LoRA layers (same names
    under PEFT's ``base_model.model.`` prefix). Returns how many layers were copied."""
    theirs = dict(peft_model.base_model.model.named_modules())
    ours = lora_layers(model)
    for name, layer in ours.items():
        ref = theirs.get(name)
        if ref is None or not hasattr(ref, "lora_A"):
            raise ValueError(f"PEFT model has no LoRA layer {name!r}: were both built with the same targets?")
        embedding = isinstance(layer, EmbeddingWithLoRA)
        with torch.no_grad():  # PEFT stores an embedding's factors as bare parameters, a linear's as layers
            layer.lora.A.copy_(ref.lora_embedding_A[adapter] if embedding else ref.lora_A[adapter].weight)
            layer.lora.B.copy_(ref.lora_embedding_B[adapter] if embedding else ref.lora_B[adapter].weight)
    return len(ours)
