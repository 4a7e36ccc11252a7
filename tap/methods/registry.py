"""The adaptation methods chapter 07 compares, and what turns a pre-trained classifier into
each one's trainable model: full fine-tuning, the linear probe, BitFit, chapter 04's adapters,
chapter 05's LoRA, and PEFT's LoRA and (IA)³. Every method starts from the same
``tap.models.pooled.MeanPooledClassifier`` (encoder, masked mean, dropout, linear ``head``).

Also here: what a method trains, module by module, and the bytes one task must store.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from torch import nn

from . import adapters, freezing, lora, parameter_counts, submodules
from .freezing import freeze_base

# The modules every parameter-efficient method of tap runs (finding and replacing sub-modules,
# freezing the base, counting what trains): part of the code digest of each cached run.
PEFT_MACHINERY = (submodules, freezing, parameter_counts)
HEAD = "head"  # the name of ``MeanPooledClassifier``'s head, which every method trains


@dataclass(frozen=True)
class Method:
    """One way of adapting the pre-trained model: what trains, who implements it, its rate."""

    key: str
    label: str
    lr: float
    library: str
    trains: str  # in words, for the method table
    settings: dict = field(default_factory=dict)


LORA = {"r": 8, "alpha": 16, "targets": ["query", "value"], "dropout": 0.0}
METHODS: list[Method] = [
    Method("full", "full fine-tuning", 1e-4, "PyTorch", "every weight"),
    Method("probe", "linear probe", 5e-3, "tap.methods.freezing", "a new classification head"),
    Method("bitfit", "BitFit", 2e-3, "tap.methods.registry", "every bias term + head"),
    Method(
        "adapters",
        "adapters (tap)",
        2e-3,
        "tap.methods.adapters",
        "2 bottleneck adapters per layer + head",
        {"placement": "houlsby", "reduction": 16},
    ),
    Method(
        "lora",
        "LoRA (tap)",
        2e-3,
        "tap.methods.lora",
        "low-rank A, B on query and value + head",
        {**LORA, "init": "A copied from PEFT"},
    ),
    Method("lora-peft", "LoRA (peft)", 2e-3, "peft", "low-rank A, B on query and value + head", LORA),
    Method(
        "ia3-peft",
        "(IA)³ (peft)",
        1e-2,
        "peft",
        "vectors rescaling keys, values, feed-forward inputs + head",
        {"targets": ["key", "value", "output.dense"], "feedforward": ["output.dense"]},
    ),
]
METHOD = {m.key: m for m in METHODS}


def build_full(model: nn.Module, s: dict) -> nn.Module:
    """Every weight trains."""
    return model


def build_probe(model: nn.Module, s: dict) -> nn.Module:
    """Only the new classification head trains."""
    return freeze_base(model)


def build_bitfit(model: nn.Module, s: dict) -> nn.Module:
    """BitFit (Ben Zaken et al., 2022): every bias term and the head train, nothing else."""
    freeze_base(model)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.requires_grad = True
    return model


def build_adapters(model: nn.Module, s: dict) -> nn.Module:
    """Houlsby bottleneck adapters after attention and feed-forward (chapter 04's ``tap.methods.adapters``);
    the base is frozen, the adapters and the head train."""
    adapters.add_adapters(model, placement=s["placement"], reduction_factor=s["reduction"], seed=0)
    return model


def build_lora(model: nn.Module, s: dict) -> nn.Module:
    """LoRA from chapter 05's ``tap.methods.lora`` on the attention query and value projections. Its A
    matrices are copied from a PEFT model built from the same seeded state, so this row and the
    PEFT row start from identical weights: any difference in the result is the implementation."""
    reference = build_lora_peft(copy.deepcopy(model), s)
    lora.apply_lora(model, s["targets"], rank=s["r"], alpha=s["alpha"], dropout=s["dropout"])
    lora.copy_from_peft(model, reference)
    return model


def peft_lora(
    model: nn.Module,
    targets: list[str],
    rank: int,
    alpha: float,
    dropout: float = 0.0,
    rslora: bool = False,
    head: Iterable[str] = (),
) -> nn.Module:
    """The reference implementation: Hugging Face PEFT's LoRA, the one-line equivalent of
    ``lora.apply_lora`` (the head kept trainable via ``modules_to_save``)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(targets),
        use_rslora=rslora,
        modules_to_save=list(head) or None,
    )
    return get_peft_model(model, config)


def build_lora_peft(model: nn.Module, s: dict) -> nn.Module:
    """PEFT's LoRA with the same rank, alpha and targets as ``tap``'s."""
    return peft_lora(model, s["targets"], s["r"], s["alpha"], s["dropout"], head=[HEAD])


def build_ia3_peft(model: nn.Module, s: dict) -> nn.Module:
    """(IA)³ (Liu et al., 2022): learned vectors that rescale keys, values and feed-forward inputs."""
    from peft import IA3Config, get_peft_model

    return get_peft_model(
        model, IA3Config(target_modules=s["targets"], feedforward_modules=s["feedforward"], modules_to_save=[HEAD])
    )


BUILDERS: dict[str, Callable[[nn.Module, dict], nn.Module]] = {
    "full": build_full,
    "probe": build_probe,
    "bitfit": build_bitfit,
    "adapters": build_adapters,
    "lora": build_lora,
    "lora-peft": build_lora_peft,
    "ia3-peft": build_ia3_peft,
}


def build(method: Method | str, model: nn.Module) -> nn.Module:
    """Turn a freshly loaded classifier into ``method``'s trainable model (in place where
    possible), so that every method starts from the same weights."""
    method = METHOD[method] if isinstance(method, str) else method
    return BUILDERS[method.key](model, method.settings)


PEFT_PREFIX = "base_model.model."  # what PEFT puts before the wrapped model's parameter names


def trainable_by_module(model: nn.Module, hosts: set[str]) -> dict[str, int]:
    """Trainable parameters per *host* module: the longest prefix of the parameter's name that
    names a module of the original model (``...attention.self.query`` for LoRA's A and B,
    ``head`` for PEFT's copy of the head). Two implementations of one method train the
    same parameters exactly when these dictionaries are equal."""
    found: dict[str, int] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        parts = name.removeprefix(PEFT_PREFIX).split(".")
        host = next(
            (".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1) if ".".join(parts[:i]) in hosts),
            ".".join(parts[:-1]),
        )
        found[host] = found.get(host, 0) + p.numel()
    return dict(sorted(found.items()))


def trainable_state_bytes(model: nn.Module) -> int:
    """Bytes of the trainable tensors saved as safetensors: what one task must store on top of
    the shared pre-trained model (for full fine-tuning, the whole model)."""
    from safetensors.torch import save

    state = {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    return len(save(state))
