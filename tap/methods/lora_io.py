"""Chapter 05: saving and loading a LoRA, in ``tap``'s own format and in Hugging Face PEFT's.

The point of LoRA at deployment is that a task is *its adapter*: ``A``, ``B``, ``alpha`` and
the rank (plus the head, when it was trained beside LoRA), a few kilobytes next to a base
model that is stored once. The original study saves and reloads only that; this module does
the same and goes one step further, writing and reading PEFT's adapter folder
(``adapter_config.json`` + ``adapter_model.safetensors``), so an adapter trained with ``tap``
loads with ``peft.PeftModel.from_pretrained`` and one trained with PEFT loads into ``tap``.

- ``save_lora`` / ``load_lora``: ``lora_config.json`` + ``lora.safetensors``, keyed by
  ``tap``'s own parameter names (``<module>.lora.A``, ``<module>.lora.B``, ``<head>.<param>``).
- ``save_as_peft`` / ``load_from_peft``: PEFT's key names (``base_model.model.<module>.lora_A.weight``,
  ``...lora_B.weight``, ``...lora_embedding_A`` / ``_B`` for embedding tables, ``<head>.<param>``
  for ``modules_to_save``). No conversion of the numbers is needed: ``tap`` follows PEFT's
  conventions (``A: [rank, in]``, ``B: [out, rank]``, scaling ``alpha / rank`` or ``alpha / √rank``).
- ``storage``: bytes on disk of an adapter against the full model's tensors: what a task costs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from . import freezing
from .lora import EmbeddingWithLoRA, LinearWithLoRA, _Mergeable, apply_lora, lora_layers

TAP_CONFIG, TAP_WEIGHTS = "lora_config.json", "lora.safetensors"
PEFT_CONFIG, PEFT_WEIGHTS = "adapter_config.json", "adapter_model.safetensors"
FORMAT, VERSION = "tap-lora", 1
HEAD_NAMES = (*freezing.HEAD_NAMES, "score")  # and PEFT's SEQ_CLS head name
PEFT_PREFIX = "base_model.model."

# PEFT LoRA options that change what the saved numbers mean: an adapter using any of them is refused
# rather than loaded into a model that would compute something else. (Initialisation-only options,
# such as init_lora_weights or loftq_config, do not matter once the weights exist.)
_PEFT_UNSUPPORTED = (
    "use_dora",
    "lora_bias",
    "fan_in_fan_out",
    "rank_pattern",
    "alpha_pattern",
    "layers_to_transform",
    "layer_replication",
    "trainable_token_indices",
    "target_parameters",
    "use_qalora",
    "alora_invocation_tokens",
    "use_bdlora",
    "arrow_config",
    "megatron_config",
)


# --- What an adapter is --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Adapter:
    """One model's LoRA settings and tensors, independent of the file format."""

    rank: int
    alpha: float
    rslora: bool
    dropout: float
    linear: list[str]  # names of the wrapped nn.Linear layers
    embedding: list[str]  # names of the wrapped nn.Embedding tables
    heads: list[str]  # names of the modules saved whole (PEFT's modules_to_save)
    factors: dict[str, tuple[torch.Tensor, torch.Tensor]]  # module name -> (A, B)
    head_state: dict[str, torch.Tensor]  # "<head>.<param>" -> tensor


def _find_heads(model: nn.Module, layers: dict[str, _Mergeable], heads: Iterable[str] | None) -> list[str]:
    """The modules to save whole beside the factors. ``None``: the trainable heads (modules
    named ``head``, ``classifier`` or ``score`` with a trainable parameter, as ``apply_lora``
    leaves them); and every other trainable parameter outside LoRA is an error, because a
    file without it would not reproduce the model."""
    modules = dict(model.named_modules())
    if heads is not None:
        chosen = list(heads)
        missing = [h for h in chosen if h not in modules]
        if missing:
            raise ValueError(
                f"Head module(s) {missing} not found in the model. Pass full module names, "
                f"e.g. {[n for n in modules if n.rsplit('.', 1)[-1] in HEAD_NAMES] or ['classifier']}."
            )
    else:
        chosen = [
            n
            for n, m in modules.items()
            if n and n.rsplit(".", 1)[-1] in HEAD_NAMES and any(p.requires_grad for p in m.parameters())
        ]
        chosen = [n for n in chosen if not any(n.startswith(o + ".") for o in chosen)]  # outermost only
        lora_params = {id(p) for layer in layers.values() for p in layer.lora.parameters()}
        stray = [
            n
            for n, p in model.named_parameters()
            if p.requires_grad and id(p) not in lora_params and not any(n.startswith(h + ".") for h in chosen)
        ]
        if stray:
            shown = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
            raise ValueError(
                f"Trainable parameters outside LoRA and the head: {shown}. An adapter file holds "
                "only the LoRA factors and the head, so these would be lost. Freeze them, or name "
                "the modules to save whole with heads=[...] (heads=() saves LoRA alone)."
            )
    for h in chosen:
        if any(n == h or n.startswith(h + ".") or h.startswith(n + ".") for n in layers):
            raise ValueError(
                f"Module {h!r} is both a head to save whole and (inside) a LoRA layer; "
                "saving a LoRA-wrapped head is not supported."
            )
    return chosen


def _collect(model: nn.Module, heads: Iterable[str] | None) -> _Adapter:
    """Read the adapter off a model built with ``apply_lora``; one rank, alpha, dropout and
    scaling rule for every layer (what ``apply_lora`` makes), else a clear error."""
    layers = lora_layers(model)
    if not layers:
        raise ValueError(
            "This model has no LoRA layers to save; call tap.methods.lora.apply_lora(model, targets, ...) first."
        )
    settings = {
        (l.lora.rank, l.lora.alpha, l.lora.rslora, float(getattr(l.lora.dropout, "p", 0.0))) for l in layers.values()
    }
    if len(settings) > 1:
        raise ValueError(
            f"The LoRA layers differ in (rank, alpha, rslora, dropout): {sorted(settings)}. "
            "Saving supports one setting for all layers, as apply_lora makes them."
        )
    ((rank, alpha, rslora, dropout),) = settings
    chosen = _find_heads(model, layers, heads)
    state = model.state_dict()
    head_state = {k: v for k, v in state.items() if any(k.startswith(h + ".") for h in chosen)}
    return _Adapter(
        rank=rank,
        alpha=alpha,
        rslora=rslora,
        dropout=dropout,
        linear=[n for n, l in layers.items() if isinstance(l, LinearWithLoRA)],
        embedding=[n for n, l in layers.items() if isinstance(l, EmbeddingWithLoRA)],
        heads=chosen,
        factors={n: (l.lora.A, l.lora.B) for n, l in layers.items()},
        head_state=head_state,
    )


def _plain(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies: what safetensors writes."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


# --- Building an adapter into a fresh base -------------------------------------------------------


def _check_folder(folder: str | Path, config: str, weights: str, other: tuple[str, str]) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No adapter folder at {folder}.")
    missing = [f for f in (config, weights) if not (folder / f).is_file()]
    if missing:
        hint = ""
        if (folder / other[0]).is_file():
            hint = f" It holds {other[0]}: this is {other[1]}."
        raise FileNotFoundError(f"{folder} lacks {' and '.join(missing)}; it is not a saved adapter.{hint}")
    return folder


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err


def _build(base: nn.Module, adapter: _Adapter, source: str) -> nn.Module:
    """Wrap ``base``'s named layers with LoRA (``apply_lora``, the saved settings) and load the
    saved factors and heads, after checking everything that could make it silently wrong:
    the base must be fresh, have every named module with the saved shapes, and each factor
    must have the saved rank."""
    if lora_layers(base):
        raise ValueError("The base model already has LoRA layers; load an adapter into a fresh copy of the base.")
    modules = dict(base.named_modules())
    targets = adapter.linear + adapter.embedding
    absent = [n for n in targets if n not in modules]
    if absent:
        have = sorted({n.rsplit(".", 1)[-1] for n, m in modules.items() if isinstance(m, (nn.Linear, nn.Embedding))})
        raise ValueError(
            f"{source}: LoRA target(s) {absent[:4]}{' …' if len(absent) > 4 else ''} match no module "
            f"of the base model (a {type(base).__name__}). Is this the base it was trained on? "
            f"Linear layers and embedding tables in this base end in: {', '.join(have) or 'none'}."
        )
    absent = [n for n in adapter.heads if n not in modules]
    if absent:
        raise ValueError(
            f"{source}: the saved head(s) {absent} match no module of the base model "
            f"(a {type(base).__name__}). Is this the base it was trained on?"
        )
    for name in targets:
        kind = nn.Linear if name in adapter.linear else nn.Embedding
        module = modules[name]
        if not isinstance(module, kind):
            raise ValueError(f"{source}: {name!r} is a {type(module).__name__} in the base, not an {kind.__name__}.")
        a, b = adapter.factors[name]
        if a.shape[0] != adapter.rank or b.shape[1] != adapter.rank:
            raise ValueError(
                f"Rank mismatch in {source}: {name!r} has A {tuple(a.shape)} and B {tuple(b.shape)}, "
                f"but the config says rank {adapter.rank}."
            )
        size_in, size_out = (
            (module.in_features, module.out_features)
            if kind is nn.Linear
            else (module.num_embeddings, module.embedding_dim)
        )
        if a.shape[1] != size_in or b.shape[0] != size_out:
            raise ValueError(
                f"Shape mismatch in {source}: {name!r} is {size_in} -> {size_out} in the base, "
                f"but the adapter's A is {tuple(a.shape)} and B {tuple(b.shape)}: another base model?"
            )
    # apply_lora matches names as suffixes too: a saved full name must not also end a deeper module's name
    extra = [
        n
        for n, m in modules.items()
        if isinstance(m, (nn.Linear, nn.Embedding)) and n not in targets and any(n.endswith("." + t) for t in targets)
    ]
    if extra:
        raise ValueError(
            f"{source}: the saved target names would also wrap {extra[:3]} in this base; "
            "nested models with repeated module paths are not supported."
        )
    apply_lora(
        base,
        targets,
        adapter.rank,
        adapter.alpha,
        dropout=adapter.dropout,
        rslora=adapter.rslora,
        keep=tuple(h.rsplit(".", 1)[-1] for h in adapter.heads),
    )
    layers = lora_layers(base)
    with torch.no_grad():
        for name, (a, b) in adapter.factors.items():
            layers[name].lora.A.copy_(a)
            layers[name].lora.B.copy_(b)
    for head in adapter.heads:
        prefix = head + "."
        sub = {k[len(prefix) :]: v for k, v in adapter.head_state.items() if k.startswith(prefix)}
        try:
            modules[head].load_state_dict(sub, strict=True)
        except RuntimeError as err:
            raise ValueError(f"{source}: the saved head {head!r} does not fit the base's: {err}") from err
    return base


# --- tap's own format ----------------------------------------------------------------------------


def save_lora(model: nn.Module, folder: str | Path, heads: Iterable[str] | None = None) -> Path:
    """Save the adapter alone: every LoRA layer's ``A`` and ``B`` (and the trained head) in
    ``lora.safetensors``, and the settings needed to rebuild the layers (target names, rank,
    alpha, ...) in ``lora_config.json``. Safetensors rather than pickle: loading it runs no code.
    ``heads``: modules to save whole; by default the trainable ``head``/``classifier``.
    Returns the path of the weights file."""
    adapter = _collect(model, heads)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"{n}.lora.{m}": t for n, (a, b) in adapter.factors.items() for m, t in (("A", a), ("B", b))}
    path = folder / TAP_WEIGHTS
    save_file(_plain({**tensors, **adapter.head_state}), path, metadata={"format": "pt"})
    config = {
        "format": FORMAT,
        "version": VERSION,
        "rank": adapter.rank,
        "alpha": adapter.alpha,
        "rslora": adapter.rslora,
        "dropout": adapter.dropout,
        "target_modules": adapter.linear,
        "target_embeddings": adapter.embedding,
        "modules_to_save": adapter.heads,
    }
    (folder / TAP_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return path


def load_lora(base_model: nn.Module, folder: str | Path) -> nn.Module:
    """Rebuild a saved adapter on ``base_model`` (a fresh copy of the model it was trained
    from; changed in place, like PEFT's ``from_pretrained``) and return it. In eval mode its
    outputs equal the saved model's exactly: the same layers compute with the same numbers."""
    folder = _check_folder(folder, TAP_CONFIG, TAP_WEIGHTS, (PEFT_CONFIG, "a PEFT adapter: use load_from_peft"))
    config = _read_json(folder / TAP_CONFIG)
    if config.get("format") != FORMAT:
        raise ValueError(f"{folder / TAP_CONFIG} is not a tap LoRA config (format {config.get('format')!r}).")
    if config.get("version", 0) > VERSION:
        raise ValueError(f"{folder} was saved by a newer tap (format version {config['version']} > {VERSION}).")
    tensors = load_file(folder / TAP_WEIGHTS)
    linear, embedding, heads = config["target_modules"], config["target_embeddings"], config["modules_to_save"]
    factors = {}
    for name in linear + embedding:
        try:
            factors[name] = (tensors.pop(f"{name}.lora.A"), tensors.pop(f"{name}.lora.B"))
        except KeyError:
            raise ValueError(f"{folder / TAP_WEIGHTS} lacks the factors of {name!r} named in its config.") from None
    stray = [k for k in tensors if not any(k.startswith(h + ".") for h in heads)]
    if stray:
        raise ValueError(f"{folder / TAP_WEIGHTS} holds tensors its config does not explain: {stray[:5]}.")
    adapter = _Adapter(
        rank=config["rank"],
        alpha=config["alpha"],
        rslora=config["rslora"],
        dropout=config["dropout"],
        linear=linear,
        embedding=embedding,
        heads=heads,
        factors=factors,
        head_state=tensors,
    )
    return _build(base_model, adapter, str(folder))


# --- PEFT's format -------------------------------------------------------------------------------


def _auto_task_type(model: nn.Module) -> str | None:
    """PEFT's task type from a Hugging Face class name; ``None`` (a plain ``PeftModel`` that
    passes every argument through) for anything else, such as ``tap``'s own models."""
    name = type(model).__name__
    for suffix, task in (
        ("ForSequenceClassification", "SEQ_CLS"),
        ("ForTokenClassification", "TOKEN_CLS"),
        ("ForCausalLM", "CAUSAL_LM"),
        ("ForQuestionAnswering", "QUESTION_ANS"),
    ):
        if name.endswith(suffix):
            return task
    return None


def save_as_peft(
    model: nn.Module,
    folder: str | Path,
    base_model_name_or_path: str,
    task_type: str | None = "auto",
    heads: Iterable[str] | None = None,
) -> Path:
    """Write ``model``'s adapter as PEFT does (``save_pretrained``), so that
    ``peft.PeftModel.from_pretrained(base, folder)`` rebuilds the same model. The config is
    PEFT's own ``LoraConfig`` (every field PEFT expects, with its defaults); the target
    modules are the full names of the wrapped layers, so PEFT wraps exactly those. Returns
    the path of ``adapter_model.safetensors``."""
    from peft import LoraConfig

    adapter = _collect(model, heads)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, (a, b) in adapter.factors.items():
        if name in adapter.embedding:  # PEFT keeps an embedding's factors as bare parameters
            tensors[f"{PEFT_PREFIX}{name}.lora_embedding_A"], tensors[f"{PEFT_PREFIX}{name}.lora_embedding_B"] = a, b
        else:  # and a linear layer's as nn.Linear(in, r) and nn.Linear(r, out): weights [r, in] and [out, r]
            tensors[f"{PEFT_PREFIX}{name}.lora_A.weight"], tensors[f"{PEFT_PREFIX}{name}.lora_B.weight"] = a, b
    tensors.update({PEFT_PREFIX + k: v for k, v in adapter.head_state.items()})
    path = folder / PEFT_WEIGHTS
    save_file(_plain(tensors), path, metadata={"format": "pt"})
    config = LoraConfig(
        r=adapter.rank,
        lora_alpha=adapter.alpha,
        lora_dropout=adapter.dropout,
        target_modules=adapter.linear + adapter.embedding,
        use_rslora=adapter.rslora,
        bias="none",
        modules_to_save=adapter.heads or None,
        task_type=_auto_task_type(model) if task_type == "auto" else task_type,
        base_model_name_or_path=base_model_name_or_path,
    )
    config.save_pretrained(str(folder))
    return path


def load_from_peft(base_model: nn.Module, folder: str | Path) -> nn.Module:
    """Load a PEFT LoRA adapter folder (``save_pretrained``'s) into ``tap``'s LoRA on
    ``base_model`` (a fresh copy of the adapter's base; changed in place) and return it.
    Target names come from the weights' keys, rank and scaling from the config; PEFT options
    that ``tap``'s layers do not compute (DoRA, bias training, per-layer ranks, ...) are
    refused by name rather than loaded wrongly."""
    folder = _check_folder(folder, PEFT_CONFIG, PEFT_WEIGHTS, (TAP_CONFIG, "a tap adapter: use load_lora"))
    config = _read_json(folder / PEFT_CONFIG)
    if config.get("peft_type") != "LORA":
        raise ValueError(f"{folder} holds a {config.get('peft_type')!r} adapter; only LoRA can be loaded into tap.")
    unsupported = [k for k in _PEFT_UNSUPPORTED if config.get(k)]
    if config.get("bias", "none") != "none":
        unsupported.append(f"bias={config['bias']!r}")
    if unsupported:
        raise ValueError(f"{folder}: PEFT LoRA option(s) that tap's LoRA does not support: {', '.join(unsupported)}.")
    tensors = {k.removeprefix(PEFT_PREFIX): v for k, v in load_file(folder / PEFT_WEIGHTS).items()}
    factors: dict[str, list] = {}
    linear, embedding, rest = [], [], {}
    for key, value in tensors.items():
        for suffix, kind, slot in (
            (".lora_A.weight", linear, 0),
            (".lora_B.weight", linear, 1),
            (".lora_embedding_A", embedding, 0),
            (".lora_embedding_B", embedding, 1),
        ):
            if key.endswith(suffix):
                name = key[: -len(suffix)]
                if name not in factors:
                    factors[name] = [None, None]
                    kind.append(name)
                factors[name][slot] = value
                break
        else:
            rest[key] = value
    incomplete = [n for n, ab in factors.items() if ab[0] is None or ab[1] is None]
    if incomplete:
        raise ValueError(f"{folder / PEFT_WEIGHTS} has only one of A and B for {incomplete[:5]}.")
    if not factors:
        raise ValueError(f"{folder / PEFT_WEIGHTS} holds no LoRA factors.")
    heads_config = config.get("modules_to_save") or []
    if config.get("task_type") == "SEQ_CLS":  # PEFT adds its classifier names itself for this task
        heads_config = [*heads_config, "classifier", "score"]
    heads: list[str] = []
    for key in rest:
        parts = key.split(".")[:-1]  # the outermost module on the key's path that modules_to_save names
        module = next(
            (
                p
                for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1))
                if any(p == h or p.endswith("." + h) for h in heads_config)
            ),
            None,
        )
        if module is None:
            raise ValueError(
                f"{folder / PEFT_WEIGHTS}: tensor {key!r} is neither a LoRA factor nor part of a "
                "module in modules_to_save (saved embedding layers or other PEFT extras are not "
                "supported)."
            )
        if module not in heads:
            heads.append(module)
    base_modules = dict(base_model.named_modules())
    if not any(n in base_modules for n in factors):  # the usual reason: another model family altogether
        raise ValueError(
            f"The targets of {folder} ({config.get('target_modules')!r}) match no module of the base "
            f"model (a {type(base_model).__name__}); e.g. it expects {next(iter(factors))!r}."
        )
    ranks = {ab[0].shape[0] for ab in factors.values()}
    if ranks != {config.get("r")}:
        raise ValueError(
            f"Rank mismatch in {folder}: the config says r={config.get('r')!r}, "
            f"the saved factors have rank {sorted(ranks)}."
        )
    adapter = _Adapter(
        rank=config["r"],
        alpha=config["lora_alpha"],
        rslora=bool(config.get("use_rslora")),
        dropout=float(config.get("lora_dropout") or 0.0),
        linear=linear,
        embedding=embedding,
        heads=heads,
        factors={n: (a, b) for n, (a, b) in factors.items()},
        head_state=rest,
    )
    return _build(base_model, adapter, str(folder))


# --- What it costs to store ----------------------------------------------------------------------


def lora_bytes(folder: str | Path) -> int:
    """Bytes on disk of a saved adapter: its weights file and its config (tap's or PEFT's)."""
    folder = Path(folder)
    for names in ((TAP_CONFIG, TAP_WEIGHTS), (PEFT_CONFIG, PEFT_WEIGHTS)):
        if (folder / names[1]).is_file():
            return sum((folder / n).stat().st_size for n in names if (folder / n).is_file())
    raise FileNotFoundError(f"No saved adapter ({TAP_WEIGHTS} or {PEFT_WEIGHTS}) in {folder}.")


def model_bytes(model: nn.Module) -> int:
    """Bytes of the model's own tensors (parameters and persistent buffers, shared ones once,
    LoRA factors excluded): what storing a fully fine-tuned copy per task would cost."""
    lora_tensors = {id(p) for layer in lora_layers(model).values() for p in layer.lora.parameters()}
    seen, total = set(), 0
    for t in model.state_dict(keep_vars=True).values():
        if id(t) in lora_tensors or id(t) in seen:
            continue
        seen.add(id(t))
        total += t.numel() * t.element_size()
    return total


@dataclass(frozen=True)
class Storage:
    """An adapter's bytes on disk against the full model's: the cost of one more task."""

    lora_bytes: int
    model_bytes: int

    @property
    def share(self) -> float:
        """The adapter's size as a percentage of the full model's."""
        return 100 * self.lora_bytes / self.model_bytes


def storage(model: nn.Module, folder: str | Path) -> Storage:
    """``Storage`` of the adapter saved in ``folder`` against ``model``'s full state."""
    return Storage(lora_bytes(folder), model_bytes(model))
