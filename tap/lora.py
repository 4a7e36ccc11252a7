"""Chapter 05: LoRA written out (Hu et al., 2021), applied by name to any model's linear
layers (and embedding tables), merged and unmerged, and checked against Hugging Face PEFT, the reference
implementation (``peft/tuners/lora/layer.py``), which it follows choice for choice:

- ``A`` (``[rank, in]``) is initialised like ``nn.Linear`` (Kaiming-uniform, ``a=√5``) and
  ``B`` (``[out, rank]``) with zeros, so the wrapped layer starts exactly unchanged (for an
  embedding table the other way round: ``A`` zero, ``B`` standard normal);
- the update is scaled by ``alpha / rank`` (or ``alpha / √rank``, rank-stabilised LoRA);
- dropout, when asked for, acts on the adapter's input only;
- merging folds ``scaling · B A`` into the frozen weight and refuses non-finite results.
"""
from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .efficient import HEAD_NAMES, _collapse, freeze_base, match_modules, replace_module
from .report import PEFT_TARGET_SHARE


def _check_rank_alpha(rank: int, alpha: float) -> None:
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"LoRA rank must be a positive integer, got {rank!r}. Typical values: 1, 2, 4, 8, 16.")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"LoRA alpha must be a positive finite number, got {alpha!r}. "
                         f"A common choice is alpha = 2 * rank (update scaling 2).")


class LoRALayer(nn.Module):
    """The low-rank update ``x ↦ scaling · B A x`` with ``A: [rank, in]``, ``B: [out, rank]``:
    ``rank · (in + out)`` trainable weights instead of ``in · out``. One factor starts at zero
    so the update starts as a no-op: ``B`` for linear layers (``A`` Kaiming-uniform, like an
    ``nn.Linear`` weight), ``A`` for embedding tables (``B`` standard normal), as in PEFT."""

    def __init__(self, in_features: int, out_features: int, rank: int, alpha: float, dropout: float = 0.0,
                 rslora: bool = False, generator: torch.Generator | None = None, zero: str = "B") -> None:
        super().__init__()
        _check_rank_alpha(rank, alpha)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {dropout!r}.")
        self.rank, self.alpha, self.rslora = rank, alpha, rslora
        self.A = nn.Parameter(torch.zeros(rank, in_features))
        self.B = nn.Parameter(torch.zeros(out_features, rank))
        with torch.no_grad():
            if zero == "B":
                nn.init.kaiming_uniform_(self.A, a=math.sqrt(5), generator=generator)
            else:
                self.B.normal_(generator=generator)
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
        return (f"in={self.A.shape[1]}, out={self.B.shape[0]}, rank={self.rank}, alpha={self.alpha}, "
                f"scaling={self.scaling:.4g}{', rslora' if self.rslora else ''}")


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
            raise ValueError("Merging this LoRA layer would give non-finite weights (NaN or inf); "
                             "the base weight is left unchanged. Check the adapter's training (learning rate).")
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

    def __init__(self, linear: nn.Linear, rank: int, alpha: float, dropout: float = 0.0,
                 rslora: bool = False, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"LinearWithLoRA wraps nn.Linear, got {type(linear).__name__}.")
        self.linear = linear.requires_grad_(False)
        self.lora = LoRALayer(linear.in_features, linear.out_features, rank, alpha, dropout, rslora, generator)
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
    (``A``) and all words share ``B``. (No dropout: the input is a token id, not a vector.)"""

    def __init__(self, embedding: nn.Embedding, rank: int, alpha: float, rslora: bool = False,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.embedding = embedding.requires_grad_(False)
        self.lora = LoRALayer(embedding.num_embeddings, embedding.embedding_dim, rank, alpha, 0.0, rslora,
                              generator, zero="A")
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
        linear, tables = ([", ".join(sorted({_collapse(n) for n, m in model.named_modules() if isinstance(m, k)}))
                           or "none"] for k in (nn.Linear, nn.Embedding))
        raise ValueError(f"LoRA target {targets!r} matched no module. Linear layers in this model: {linear[0]}. "
                         f"Embedding tables: {tables[0]}. Pass full names, name suffixes (like PEFT's "
                         f"target_modules) or one regular expression.")
    return [n for n, _ in model.named_modules() if n in found]


def apply_lora(model: nn.Module, targets: str | Iterable[str], rank: int = 8, alpha: float = 16,
               dropout: float = 0.0, rslora: bool = False, freeze: bool = True,
               keep: Iterable[str] = HEAD_NAMES, seed: int = 0) -> list[str]:
    """Wrap the linear layers (and embedding tables) named by ``targets`` (names, name
    suffixes or one regular expression, as PEFT's ``target_modules``) with LoRA, in place.
    With ``freeze`` every other parameter is frozen except the head (``keep``), like PEFT's
    ``modules_to_save``. Returns the wrapped names; fails loudly when nothing matches."""
    _check_rank_alpha(rank, alpha)
    existing = lora_layers(model)
    twice = ValueError(f"LoRA is already on {', '.join(sorted(existing))}: {targets!r} names layers that are wrapped "
                       f"already. Apply LoRA to a fresh copy of the base model, or target other layers.")
    try:
        names = _match(model, targets if isinstance(targets, str) else list(targets))
    except ValueError:
        if existing:  # the targets' layers now sit inside LoRA wrappers, under other names
            raise twice from None
        raise
    if any(n == e or n.startswith(e + ".") for n in names for e in existing):
        raise twice
    for name in names:  # every check before anything changes: a failed call leaves the model as it was
        width = min(model.get_submodule(name).weight.shape)
        if rank > width:
            raise ValueError(f"LoRA rank {rank} is larger than {name}'s smaller dimension ({width}): the update "
                             f"B·A could not have that rank. Use rank <= {width}, or leave {name} out of the targets.")
    if freeze:
        freeze_base(model, keep)
    generator = torch.Generator().manual_seed(seed)  # reproducible factors without touching the global RNG
    for name in names:
        layer = model.get_submodule(name)
        if isinstance(layer, nn.Embedding):
            wrapped = EmbeddingWithLoRA(layer, rank, alpha, rslora, generator)
        else:
            wrapped = LinearWithLoRA(layer, rank, alpha, dropout, rslora, generator)
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


# --- Checked against the reference implementation -------------------------------------------------


def peft_lora(model: nn.Module, targets: list[str], rank: int, alpha: float, dropout: float = 0.0,
              rslora: bool = False, head: Iterable[str] = ()) -> nn.Module:
    """The one-line PEFT equivalent of ``apply_lora`` (the head kept trainable via ``modules_to_save``)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets),
                        use_rslora=rslora, modules_to_save=list(head) or None)
    return get_peft_model(model, config)


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


def _logits(model: nn.Module, inputs: dict) -> torch.Tensor:
    out = model(**inputs)
    return out.logits if hasattr(out, "logits") else out


@torch.no_grad()
def compare_with_peft(model: nn.Module, inputs: dict, targets: list[str], rank: int = 8, alpha: float = 16,
                      rslora: bool = False, head: Iterable[str] = ("classifier",), seed: int = 0) -> dict:
    """Give one copy of ``model`` PEFT's LoRA and another ``apply_lora``; set PEFT's
    zero-initialised factor to random values (at initialisation the update is zero and the two
    would agree trivially), copy A and B across, and compare outputs before merging, after
    merging and after unmerging, and the trainable-parameter counts. ``model`` is untouched."""
    from .efficient import count_parameters

    torch.manual_seed(seed)
    theirs = peft_lora(copy.deepcopy(model), targets, rank, alpha, rslora=rslora, head=head).eval()
    for name, p in theirs.named_parameters():
        if "lora_B" in name or "lora_embedding_A" in name:  # the factors that start at zero
            nn.init.normal_(p, std=0.05)
    ours = copy.deepcopy(model).eval()
    apply_lora(ours, targets, rank, alpha, rslora=rslora, keep=head)
    layers = copy_from_peft(ours, theirs)
    diffs = {}
    before = _logits(ours, inputs)
    diffs["before merging"] = (before - _logits(theirs, inputs)).abs().max().item()
    merge(ours)
    theirs.merge_adapter()
    diffs["after merging"] = (_logits(ours, inputs) - _logits(theirs, inputs)).abs().max().item()
    unmerge(ours)
    theirs.unmerge_adapter()
    after = _logits(ours, inputs)
    diffs["after unmerging"] = (after - _logits(theirs, inputs)).abs().max().item()
    return {"max_abs_diff": diffs, "layers": layers, "round_trip_diff": (after - before).abs().max().item(),
            "lora_effect": (before - _logits(model.eval(), inputs)).abs().max().item(),
            "trainable_tap": count_parameters(ours)["trainable_params"],
            "trainable_peft": theirs.get_nb_trainable_parameters()[0]}


def step_time_vs_peft(model: nn.Module, inputs: dict, labels: torch.Tensor, targets: list[str], rank: int = 8,
                      alpha: float = 16, head: Iterable[str] = ("classifier",), repeats: int = 10,
                      warmup: int = 2) -> dict:
    """Median seconds of one training step (forward, backward, AdamW) of ``apply_lora`` and
    of PEFT on copies of the same model and the same batch, timed in turns in one process."""
    ours = copy.deepcopy(model)
    apply_lora(ours, targets, rank, alpha, keep=head)
    theirs = peft_lora(copy.deepcopy(model), targets, rank, alpha, head=head)

    def stepper(m: nn.Module) -> Callable[[], None]:
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
        m.train()

        def step() -> None:
            loss = F.cross_entropy(_logits(m, inputs), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    medians = interleaved_medians({"tap": stepper(ours), "peft": stepper(theirs)}, repeats, warmup)
    return {"tap_s": medians["tap"], "peft_s": medians["peft"], "ratio": medians["tap"] / medians["peft"],
            "repeats": repeats, "batch": list(labels.shape) + [inputs["input_ids"].shape[1]]}


# --- Timing ----------------------------------------------------------------------------------------


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int = 10, warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each function, timed in turns (A, B, C, then B, C, A, ...)
    so that load from elsewhere on the machine hits every contender alike."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeats):
        for name in names[i % len(names):] + names[: i % len(names)]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


# --- Chapter 05's experiments, on chapter 01's AG-News-pre-trained encoder (tap.transfer) --------

ATTENTION = ["attention.query", "attention.key", "attention.value", "attention.output"]
FEED_FORWARD = ["feed_forward.up", "feed_forward.down"]
TARGETS = {"attention": ATTENTION, "feed-forward": FEED_FORWARD, "attention + feed-forward": ATTENTION + FEED_FORWARD,
           "embedding": ["embedding"]}
RANKS = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class LoRASettings:
    """One LoRA run: which layers, rank, alpha (fixed while the rank varies, as Hu et al.
    do, so the update's scaling alpha/rank shrinks as the rank grows), learning rate, and
    the training budget: one epoch over a balanced share of the training reviews, so that a
    targets × ranks comparison fits the book's time budget on a CPU."""

    targets: str = "attention + feed-forward"
    rank: int = 8
    alpha: float = 16
    lr: float = 5e-3
    epochs: int = 1
    train_share: float = 0.5
    evals_per_epoch: int = 2

    def name(self) -> str:
        slug = {"attention": "attn", "feed-forward": "ffn", "attention + feed-forward": "attn-ffn",
                "embedding": "emb"}[self.targets]
        return f"imdb-lora-{slug}-r{self.rank}"


def balanced_subset(data, share: float):
    """The first ``share`` of each class's examples (same classes, same balance)."""
    from .text import EncodedDataset

    if share >= 1:
        return data
    rows = []
    for label in sorted(set(data.labels)):
        of_class = [i for i, y in enumerate(data.labels) if y == label]
        rows += of_class[: max(1, round(share * len(of_class)))]
    rows.sort()
    return EncodedDataset([data.ids[i] for i in rows], [data.labels[i] for i in rows])


def by_length(data):
    """The same examples in order of length, so that evaluation batches need almost no
    padding (a third of the tokens in IMDB's unsorted batches are padding). Accuracy does not
    depend on the order; the time it costs does."""
    from .text import EncodedDataset

    order = sorted(range(len(data)), key=lambda i: len(data.ids[i]))
    return EncodedDataset([data.ids[i] for i in order], [data.labels[i] for i in order])


def code_digest(*objects) -> str:
    """A digest of the source of the classes and functions a run depends on: editing them
    invalidates the cached runs, editing the rest of this module (plots, timing) does not."""
    import hashlib
    import inspect

    text = "".join(inspect.getsource(o) for o in objects)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


CORE = (_check_rank_alpha, LoRALayer, _Mergeable, LinearWithLoRA, EmbeddingWithLoRA, _match, apply_lora)


def lora_model(setup, source, settings: LoRASettings) -> nn.Module:
    """The pre-trained encoder with a new 2-class head and LoRA on ``settings.targets``."""
    from .transfer import _from_pretrained

    model = _from_pretrained(setup, source, freeze_encoder=False)
    apply_lora(model, TARGETS[settings.targets], settings.rank, settings.alpha)
    return model


def train_lora(setup, source, settings: LoRASettings = LoRASettings()):
    """Train LoRA + head on IMDB with everything else frozen, or reuse the cached run."""
    from . import efficient, transfer
    from .cache import source_digest
    from .training import TrainConfig

    cfg = TrainConfig(epochs=settings.epochs, lr=settings.lr, batch_size=setup.profile.batch_size,
                      evals_per_epoch=settings.evals_per_epoch)
    task = replace(setup.imdb, train=balanced_subset(setup.imdb.train, settings.train_share),
                   val=by_length(setup.imdb.val), test=by_length(setup.imdb.test))
    key = {**setup.key(), "source": source.record["config"], "lora": asdict(settings),
           "lora_code": source_digest(efficient) + code_digest(*CORE, balanced_subset, lora_model)}
    return transfer.run_classifier(settings.name(), key, lambda: lora_model(setup, source, settings), task, cfg)


def equivalence_table(results: dict[str, dict]) -> "pd.DataFrame":
    """One row per model compared with PEFT: the largest output difference at each stage (shown
    in scientific notation, "0" when the outputs are bit-for-bit equal: fixed decimals would
    round these differences of 1e-7 to zero) and the trainable-parameter counts of both."""
    import pandas as pd

    def scientific(v: float) -> str:
        return "0" if v == 0 else f"{v:.1e}"

    rows = [{"model": name, **{f"max |Δ| {k}": scientific(v) for k, v in r["max_abs_diff"].items()},
             "LoRA layers": r["layers"], "trainable params (tap)": r["trainable_tap"],
             "trainable params (PEFT)": r["trainable_peft"]}
            for name, r in results.items()]
    return pd.DataFrame(rows).set_index("model")


def training_curves(records: dict[str, dict], title: str = ""):
    """``tap.plots.training_curves`` against the number of training examples seen instead of
    epochs, from each record's ``history``. Runs trained on different amounts of data (LoRA's
    one epoch over half the reviews, chapter 01's two epochs over all of them) line up on this
    axis; on an axis of epochs, one LoRA epoch would sit beside one epoch over twice the data."""
    from .plots import training_curves as curves_by_epoch

    def seen(p: dict, rec: dict) -> int:
        return p["examples"] if "examples" in p else p["step"] * rec["train_config"]["batch_size"]

    by_examples = {label: {**rec, "history": [{**p, "epoch": seen(p, rec)} for p in rec["history"]]}
                   for label, rec in records.items()}
    fig = curves_by_epoch(by_examples, title)
    for ax in fig.axes:
        if ax.get_xlabel() == "epoch":
            ax.set_xlabel("training examples seen")
            ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}")
    return fig


def overfitting(record: dict) -> dict:
    """What a run's validation curve says about overfitting: the lowest validation loss and the
    training examples seen when it was reached, the validation and training loss at the end."""
    h = record["history"]
    low = min(h, key=lambda p: p["val_loss"])
    return {"min_val_loss": low["val_loss"], "min_val_examples": low.get("examples", low["step"]),
            "final_val_loss": h[-1]["val_loss"], "final_train_loss": h[-1]["train_loss"],
            "rose": h[-1]["val_loss"] > low["val_loss"]}


def text_batch(tokenizer, splits, n: int, max_length: int) -> tuple[dict, torch.Tensor]:
    """``n`` training reviews, half of each class, tokenised to exactly ``max_length`` tokens."""
    rows = list(range(n // 2)) + list(range(len(splits.train) - (n - n // 2), len(splits.train)))
    chosen = splits.train.select(rows)
    inputs = tokenizer(list(chosen["text"]), padding="max_length", truncation=True, max_length=max_length,
                       return_tensors="pt")
    return dict(inputs), torch.tensor(chosen["label"])


@torch.inference_mode()
def merge_latency(setup, source, trained: dict[str, nn.Module], batch_size: int = 16, repeats: int = 15) -> dict:
    """Inference time of one batch of test reviews through the base model (the pre-trained
    encoder and head, no LoRA) and through each trained LoRA model before and after merging,
    all timed in turns; and the largest logit difference that merging made."""
    from .transfer import _from_pretrained

    base = _from_pretrained(setup, source, freeze_encoder=True).eval()
    inputs, _ = next(setup.imdb.test.batches(batch_size, shuffle=False))
    fns, diffs = {"base model": lambda: base(**inputs)}, {}
    for name, model in trained.items():
        unmerged, merged = copy.deepcopy(model).eval(), merge(copy.deepcopy(model)).eval()
        fns[f"{name}, not merged"] = lambda m=unmerged: m(**inputs)
        fns[f"{name}, merged"] = lambda m=merged: m(**inputs)
        diffs[name] = (unmerged(**inputs) - merged(**inputs)).abs().max().item()
    medians = interleaved_medians(fns, repeats=repeats, warmup=2)
    return {"median_ms": {k: 1000 * v for k, v in medians.items()}, "batch": list(inputs["input_ids"].shape),
            "repeats": repeats, "max_abs_diff": diffs}


# --- LoRA beyond Transformers: the convolutional classifier of tap.cnn --------------------------


def cnn_runs(setup, rank: int = 4, alpha: float = 8, epochs: int = 2, lr: float = 1e-2) -> dict:
    """A ``TextCNN`` pre-trained on AG News (like chapter 01's encoder), then on IMDB: fully
    fine-tuned, LoRA on its convolution filters (and on its embedding table too), or linearly
    probed; LoRA runs also train the head. Cached runs."""
    from . import cnn, efficient, transfer
    from .cache import source_digest
    from .training import TrainConfig

    p, vocab = setup.profile, len(setup.vocab)
    key = {**setup.key(), "cnn_code": source_digest(cnn, efficient) + code_digest(*CORE, cnn_runs)}

    def cfg(n_epochs: int, lr: float) -> TrainConfig:
        return TrainConfig(epochs=n_epochs, lr=lr, batch_size=p.batch_size, evals_per_epoch=p.evals_per_epoch)

    source = transfer.run_classifier("ag-news-cnn", key, lambda: cnn.TextCNN(vocab, setup.ag_news.num_classes),
                                     setup.ag_news, cfg(p.source_epochs, 2e-3))

    def adapted(method: str) -> nn.Module:
        model = cnn.TextCNN(vocab, setup.ag_news.num_classes)
        model.load_state_dict(source.model.state_dict())
        model.replace_head(setup.imdb.num_classes)
        if method.startswith("lora"):
            apply_lora(model, ["filters", "embedding"] if method == "lora-emb" else ["filters"], rank, alpha)
        elif method == "probe":
            freeze_base(model)
        return model

    key = {**key, "source": source.record["config"], "rank": rank, "alpha": alpha}
    runs = {"source": source}
    for label, method in (("full fine-tuning", "full"), (f"LoRA r={rank} on the filters", "lora"),
                          (f"LoRA r={rank} on the filters and the embedding", "lora-emb"), ("linear probe", "probe")):
        runs[label] = transfer.run_classifier(f"imdb-cnn-{method}", key, lambda m=method: adapted(m), setup.imdb,
                                              cfg(epochs, lr))
    return runs


def trainable_share(record: dict) -> float:
    """Trainable parameters as a percentage of all the model's parameters, adapters included:
    the "trainable (%)" of ``tap.report.results_table``."""
    return 100 * record["trainable_params"] / record["total_params"]


def within_budget(runs: dict, share: float = PEFT_TARGET_SHARE) -> dict:
    """The runs that train at most ``share`` percent of their model's parameters, adapters
    included (``trainable_share``, the results table's "trainable (%)")."""
    return {k: run for k, run in runs.items() if trainable_share(run.record) <= share}


def chapter_experiment(profile) -> "Outcome":
    """Everything chapter 05 trains, for ``python -m tap run ch05``: LoRA on four sets of
    targets at rank 8, the rank sweep on the best of them (by validation accuracy), the CNN."""
    from . import transfer
    from .experiments import Outcome
    from .plots import parameter_sweep

    setup = transfer.prepare(profile)
    source = transfer.pretrain_on_ag_news(setup)
    records = {"full fine-tuning": transfer.fine_tune(setup, source).record,
               "linear probe": transfer.linear_probe(setup, source).record}
    base = LoRASettings()
    by_target = {t: train_lora(setup, source, replace(base, targets=t)) for t in TARGETS}
    best = max(by_target, key=lambda t: by_target[t].record["best_val_accuracy"])
    sweep = {r: by_target[best] if r == base.rank else train_lora(setup, source, replace(base, targets=best, rank=r))
             for r in RANKS}
    records.update({f"LoRA r={base.rank}: {t}": run.record for t, run in by_target.items()})
    records.update({f"LoRA r={r}: {best}": run.record for r, run in sweep.items() if r != base.rank})
    records.update({f"CNN: {k}": run.record for k, run in cnn_runs(setup).items()})
    figures = {
        "rank_sweep": parameter_sweep(
            {f"LoRA ({best})": [(run.record["trainable_params"], 100 * run.record["test_accuracy"], f"r={r}")
                                for r, run in sweep.items()]},
            references={k: (records[k]["trainable_params"], 100 * records[k]["test_accuracy"])
                        for k in ("full fine-tuning", "linear probe")}),
        "training_curves": training_curves({k: records[k] for k in ("full fine-tuning", "linear probe")}
                                           | {f"LoRA r={base.rank}: {t}": run.record for t, run in by_target.items()}),
    }
    return Outcome(records, figures)
