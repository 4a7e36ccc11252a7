"""Chapter 07, the playbook: every adaptation method in the book side by side on one
pre-trained model (``bert-base-uncased`` in the ``full`` profile, its stand-in all-MiniLM-L6-v2
in the CPU-scale profiles), with the same IMDB
reviews, the same test reviews and the same training budget. Each run reports test accuracy
with its 95% confidence interval, trainable parameters, the bytes a task must store, training
time, throughput and peak memory. The classical anchor, TF-IDF + logistic regression, sits
next to them.

The introduction page shows this chapter's headline numbers through ``headline(profile)``,
which runs the comparison through the same cached functions as the chapter: instant when the
chapter's runs are in the run cache, and the same numbers, trained now, when they are not.
"""
from __future__ import annotations

import copy
import ctypes
import gc
import hashlib
import importlib.util
import inspect
import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Callable

import numpy as np
import pandas as pd
import psutil
import torch
from torch import nn

from . import baselines, data, efficient, hf_data, text, training
from .cache import cached_run, source_digest
from .data import Splits, imdb_splits, load
from .efficient import freeze_base
from .hf_data import TokenizedDataset
from .measure import timer
from .efficient import count_parameters
from .profiles import Profile, get_profile
from .report import PEFT_TARGET_POINTS, PEFT_TARGET_SHARE, compare
from .training import TrainConfig, predict, train

BASE_MODEL = "bert-base-uncased"
SMOKE_BERT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
              "max_position_embeddings": 64}
RUN_VERSION = 1  # bump when the record a run stores changes meaning
Z95 = 1.959963984540054  # standard-normal quantile for a two-sided 95% interval


# --------------------------------------------------------------------------- sizes

@dataclass(frozen=True)
class PlaybookSize:
    """How much data and compute every method gets in one profile (part of each cache key)."""

    train: int  # labelled training reviews, the same for every neural method
    val: int  # held-out training reviews for choosing the checkpoint
    test: int  # fixed balanced test subset; 0 means all 25,000
    max_len: int  # subword tokens per review, [CLS] and [SEP] included
    batch_size: int
    epochs: int
    curve: tuple[int, ...]  # training sizes of the data-efficiency curve (neural methods)
    tfidf_curve: tuple[int, ...]  # ... and of the TF-IDF anchor (plus ``tfidf_all``)
    tfidf_all: int  # the anchor on "all" the training reviews; 0 means the whole train split
    lr: dict = field(default_factory=dict)  # per-method learning-rate overrides


SIZES: dict[str, PlaybookSize] = {
    "smoke": PlaybookSize(train=32, val=16, test=32, max_len=48, batch_size=16, epochs=1,
                          curve=(16, 32), tfidf_curve=(32, 64), tfidf_all=400),
    # Sized from measured speeds on 2 cores at 128 tokens: MiniLM fine-tunes at ~9 reviews/s, the
    # frozen-base methods at ~12/s (the backward pass still crosses every layer), and predicts
    # ~31 reviews/s. Seven methods on 500 reviews (batches of 8: 63 steps), each scored on 500
    # test reviews, plus the data-efficiency runs, fit the chapter's 12-minute budget.
    "book": PlaybookSize(train=500, val=200, test=500, max_len=128, batch_size=8, epochs=1,
                         curve=(125, 250, 500), tfidf_curve=(125, 250, 500, 1_000, 5_000),
                         tfidf_all=0),
    # bert-base on a GPU: the usual rates for a 110M-parameter model (not tuned here).
    "full": PlaybookSize(train=20_000, val=2_000, test=0, max_len=256, batch_size=32, epochs=2,
                         curve=(1_000, 5_000, 20_000), tfidf_curve=(1_000, 5_000, 20_000), tfidf_all=0,
                         lr={"full": 3e-5, "probe": 1e-3, "bitfit": 1e-3, "adapters": 5e-4, "lora": 5e-4,
                             "lora-peft": 5e-4, "ia3-peft": 5e-3}),
}


# --------------------------------------------------------------------------- the model

class MeanPoolClassifier(nn.Module):
    """A pre-trained encoder, the masked mean of its final token states, dropout and a linear
    ``classifier``: the head every method in this chapter trains.

    Why not ``AutoModelForSequenceClassification``? Its head reads the [CLS] token through a
    ``pooler`` layer that BERT learned in pre-training, but the CPU-scale stand-in
    (all-MiniLM-L6-v2) was trained to be read by mean pooling, and its pooler never was: a frozen
    model behind that head starts from an untrained summary of the review. Mean pooling suits
    both models, and gives every method the same head."""

    def __init__(self, encoder: nn.Module, num_labels: int = 2) -> None:
        super().__init__()
        self.bert = encoder
        self.config = encoder.config
        self.dropout = nn.Dropout(encoder.config.hidden_dropout_prob)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [batch, tokens, h]
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)  # [batch, tokens, 1]
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)  # [batch, h]
        return self.classifier(self.dropout(pooled))  # [batch, num_labels]


# --------------------------------------------------------------------------- methods

@dataclass(frozen=True)
class Method:
    """One way of adapting the pre-trained model: what trains, who implements it, its rate."""

    key: str
    label: str
    lr: float
    library: str
    settings: dict = field(default_factory=dict)
    needs: str | None = None  # a ``tap`` module this method needs (chapters 04 and 05)

    def available(self) -> bool:
        return self.needs is None or importlib.util.find_spec(f"tap.{self.needs}") is not None


LORA = {"r": 8, "alpha": 16, "targets": ["query", "value"], "dropout": 0.0}
METHODS: list[Method] = [
    Method("full", "full fine-tuning", 1e-4, "PyTorch"),
    Method("probe", "linear probe", 5e-3, "tap.efficient"),
    Method("bitfit", "BitFit", 2e-3, "tap.playbook"),
    Method("adapters", "adapters (tap)", 2e-3, "tap.adapters", {"placement": "houlsby", "reduction": 16},
           needs="adapters"),
    Method("lora", "LoRA (tap)", 2e-3, "tap.lora", {**LORA, "init": "A copied from PEFT"}, needs="lora"),
    Method("lora-peft", "LoRA (peft)", 2e-3, "peft", LORA),
    Method("ia3-peft", "(IA)³ (peft)", 1e-2, "peft",
           {"targets": ["key", "value", "output.dense"], "feedforward": ["output.dense"]}),
]
METHOD = {m.key: m for m in METHODS}


def _full(model: nn.Module, s: dict) -> nn.Module:
    """Every weight trains."""
    return model


def _probe(model: nn.Module, s: dict) -> nn.Module:
    """Only the new classification head trains."""
    return freeze_base(model)


def _bitfit(model: nn.Module, s: dict) -> nn.Module:
    """BitFit (Ben Zaken et al., 2022): every bias term and the head train, nothing else."""
    freeze_base(model)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.requires_grad = True
    return model


def _adapters(model: nn.Module, s: dict) -> nn.Module:
    """Houlsby bottleneck adapters after attention and feed-forward (chapter 04's ``tap.adapters``);
    the base is frozen, the adapters and the head train."""
    from . import adapters

    adapters.add_adapters(model, placement=s["placement"], reduction_factor=s["reduction"], seed=0)
    return model


def _lora(model: nn.Module, s: dict) -> nn.Module:
    """LoRA from chapter 05's ``tap.lora`` on the attention query and value projections. Its A
    matrices are copied from a PEFT model built from the same seeded state, so this row and the
    PEFT row start from identical weights: any difference in the result is the implementation."""
    from . import lora

    reference = _lora_peft(copy.deepcopy(model), s)
    lora.apply_lora(model, s["targets"], rank=s["r"], alpha=s["alpha"], dropout=s["dropout"])
    lora.copy_from_peft(model, reference)
    return model


def _lora_peft(model: nn.Module, s: dict) -> nn.Module:
    """The reference implementation, Hugging Face PEFT, with the same rank, alpha and targets."""
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=s["r"], lora_alpha=s["alpha"], target_modules=s["targets"],
                                            lora_dropout=s["dropout"], modules_to_save=["classifier"]))


def _ia3_peft(model: nn.Module, s: dict) -> nn.Module:
    """(IA)³ (Liu et al., 2022): learned vectors that rescale keys, values and feed-forward inputs."""
    from peft import IA3Config, get_peft_model

    return get_peft_model(model, IA3Config(target_modules=s["targets"], feedforward_modules=s["feedforward"],
                                           modules_to_save=["classifier"]))


BUILDERS: dict[str, Callable[[nn.Module, dict], nn.Module]] = {
    "full": _full, "probe": _probe, "bitfit": _bitfit, "adapters": _adapters, "lora": _lora,
    "lora-peft": _lora_peft, "ia3-peft": _ia3_peft,
}


def build(method: Method | str, model: nn.Module) -> nn.Module:
    """Turn a freshly loaded classifier into ``method``'s trainable model (in place where possible)."""
    method = METHOD[method] if isinstance(method, str) else method
    return BUILDERS[method.key](model, method.settings)


# --------------------------------------------------------------------------- what a method trains and stores

_WRAPPERS = ("base_model.model.",)


def _plain(name: str) -> str:
    """A parameter name without PEFT's wrapper prefix."""
    for prefix in _WRAPPERS:
        name = name.removeprefix(prefix)
    return name


def trainable_by_module(model: nn.Module, hosts: set[str]) -> dict[str, int]:
    """Trainable parameters per *host* module: the longest prefix of the parameter's name that
    names a module of the original model (``...attention.self.query`` for LoRA's A and B,
    ``classifier`` for PEFT's copy of the head). Two implementations of one method train the
    same parameters exactly when these dictionaries are equal."""
    found: dict[str, int] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        parts = _plain(name).split(".")
        host = next((".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1) if ".".join(parts[:i]) in hosts),
                    ".".join(parts[:-1]))
        found[host] = found.get(host, 0) + p.numel()
    return dict(sorted(found.items()))


def trainable_state_bytes(model: nn.Module) -> int:
    """Bytes of the trainable tensors saved as safetensors: what one task must store on top of
    the shared pre-trained model (for full fine-tuning, the whole model)."""
    from safetensors.torch import save

    state = {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    return len(save(state))


def _release_memory() -> None:
    """Free what earlier runs left, so each run's peak memory is its own (glibc keeps freed
    memory in the process unless asked to return it)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


# --------------------------------------------------------------------------- statistics

def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (Wilson, 1927): better than p ± z·SE near 0 or 1
    and for small n; with 1,000 test reviews the two agree to a tenth of a point."""
    if n <= 0:
        raise ValueError("A confidence interval needs at least one test example.")
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def paired_difference(a: list[int], b: list[int], z: float = Z95) -> tuple[float, float, float]:
    """Accuracy of ``a`` minus accuracy of ``b`` on the *same* test examples (0/1 per example),
    with a normal-approximation 95% interval from the per-example differences. Pairing removes
    the shared difficulty of the test reviews, so it is tighter than comparing two intervals."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(d) < 2:
        raise ValueError("A paired interval needs at least two test examples.")
    se = d.std(ddof=1) / math.sqrt(len(d))
    return float(d.mean()), float(d.mean() - z * se), float(d.mean() + z * se)


# --------------------------------------------------------------------------- runs

class NotCached(LookupError):
    """A run that ``compute=False`` asked for is not in the run cache."""


def _missing() -> tuple[dict, None]:
    raise NotCached


def _module_source(name: str) -> str:
    spec = importlib.util.find_spec(f"tap.{name}")
    return open(spec.origin).read() if spec and spec.origin else ""


class Playbook:
    """The chapter's experiments for one profile. Data and tokenizer load lazily, so that
    looking runs up in the cache (``compute=False``) costs no data loading at all."""

    def __init__(self, profile: Profile | None = None, hub_id: str = BASE_MODEL, seed: int = 0) -> None:
        self.profile = profile or get_profile()
        self.size = SIZES[self.profile.name]
        self.hub_id = hub_id
        self.seed = seed
        self._splits: dict[int, Splits] = {}

    # ---- model and data
    def model_key(self) -> dict:
        """Which weights the runs start from (the Hub model, or the stand-in the profile uses)."""
        from . import models

        if self.profile.name == "smoke":
            return {"hub_id": self.hub_id, "loaded": "a tiny randomly initialised BERT (smoke profile)",
                    "shape": SMOKE_BERT}
        models.resolve(self.hub_id)  # records the stand-in, if the profile uses one
        return {"hub_id": self.hub_id, "loaded": models.STAND_INS.get(self.hub_id, self.hub_id)}

    def load_model(self) -> tuple[nn.Module, object]:
        """A fresh pre-trained encoder under a new, seeded 2-class mean-pooling head, and its
        tokenizer. The smoke profile (tests) uses a tiny random BERT with the same tokenizer."""
        from transformers import AutoModel, BertConfig, BertModel

        from .models import resolve

        if self.profile.name == "smoke":
            torch.manual_seed(self.seed)
            encoder = BertModel(BertConfig(vocab_size=self.tokenizer.vocab_size, **SMOKE_BERT), add_pooling_layer=False)
        else:
            encoder = AutoModel.from_pretrained(resolve(self.hub_id), add_pooling_layer=False)
        torch.manual_seed(self.seed)
        return MeanPoolClassifier(encoder, 2), self.tokenizer

    def _profile_for(self, n_train: int) -> Profile:
        return replace(self.profile, imdb_train=n_train, imdb_val=self.size.val, imdb_test=self.size.test)

    def splits(self, n_train: int | None = None) -> Splits:
        """Balanced IMDB subsets. Training subsets of different sizes are nested (the same
        seeded shuffle, cut at ``n_train``), and validation and test never change."""
        n = n_train or self.size.train
        if n not in self._splits:
            self._splits[n] = imdb_splits(self._profile_for(n), seed=self.seed)
        return self._splits[n]

    @cached_property
    def main(self) -> Splits:
        return self.splits()

    @cached_property
    def tokenizer(self):
        from transformers import AutoTokenizer

        from .models import resolve

        return AutoTokenizer.from_pretrained(resolve(self.hub_id))

    def tokenized(self, ds) -> TokenizedDataset:
        return TokenizedDataset.from_tokenizer(self.tokenizer, ds["text"], ds["label"], self.size.max_len)

    @cached_property
    def val(self) -> TokenizedDataset:
        return self.tokenized(self.main.val)

    @cached_property
    def test(self) -> TokenizedDataset:
        return self.tokenized(self.main.test)

    def train_config(self, method: Method) -> TrainConfig:
        return TrainConfig(epochs=self.size.epochs, lr=self.size.lr.get(method.key, method.lr),
                           batch_size=self.size.batch_size, evals_per_epoch=1, seed=self.seed)

    def data_key(self, n_train: int) -> dict:
        s = self.size
        return {"dataset": "imdb", "train": n_train, "val": s.val, "test": s.test, "max_len": s.max_len,
                "seed": self.seed, "profile": self.profile.name}

    # ---- one neural run
    def config(self, method: Method, n_train: int) -> dict:
        """The cache key of one run: data, model, method, optimisation and the code it runs."""
        # The code a run executes: the shared modules, and the parts of this one that build, train
        # and score the model (editing the tables or plots below does not invalidate any run).
        own = [MeanPoolClassifier, BUILDERS[method.key], Playbook.load_model, Playbook.tokenized,
               Playbook.train_config, Playbook._train_and_test, trainable_by_module, trainable_state_bytes]
        code = source_digest(data, hf_data, text, training, efficient) + hashlib.sha256(
            ("".join(inspect.getsource(obj) for obj in own)
             + (_module_source(method.needs) if method.needs else "")).encode()).hexdigest()[:16]
        key = {"version": RUN_VERSION, "data": self.data_key(n_train), "model": self.model_key(),
               "method": {"key": method.key, "settings": method.settings},
               "train": self.train_config(method).to_dict(), "code": code}
        if method.library == "peft":
            from importlib.metadata import version

            key["peft"] = version("peft")
        return key

    def _train_and_test(self, method: Method, n_train: int) -> tuple[dict, None]:
        """Load the pre-trained model, adapt it with ``method``, train on ``n_train`` reviews,
        score every test review, and record what the run cost and what it stores."""
        model, _ = self.load_model()
        config = model.config
        base_params = count_parameters(model)["total_params"]
        hosts = {n for n, _ in model.named_modules() if n}
        model = build(method, model)
        train_data = self.tokenized(self.splits(n_train).train)
        _release_memory()
        baseline_mb = psutil.Process().memory_info().rss / 2**20
        record, model = train(model, train_data, self.val, self.train_config(method), desc=method.label)
        with timer() as clock:
            predicted, gold = predict(model, self.test)
        correct = (predicted == gold).int().tolist()
        record.update({
            "method": method.label, "method_key": method.key, "library": method.library,
            "model": self.hub_id, "model_loaded": self.model_key()["loaded"],
            "model_shape": {"hidden": config.hidden_size, "layers": config.num_hidden_layers,
                            "ffn": config.intermediate_size},
            "lr": self.train_config(method).lr, "base_params": base_params,
            "trainable_by_module": trainable_by_module(model, hosts),
            "trainable_bytes": trainable_state_bytes(model), "baseline_memory_mb": baseline_mb,
            "test_accuracy": sum(correct) / len(correct), "test_size": len(correct),
            "test_correct": correct, "test_time_s": clock["seconds"],
        })
        del model
        _release_memory()
        return record, None

    def run(self, method: Method | str, n_train: int | None = None, compute: bool = True) -> dict | None:
        """The record of ``method`` trained on ``n_train`` reviews: from the run cache, or trained
        now (``compute=True``); ``None`` when it is not cached and ``compute=False``."""
        method = METHOD[method] if isinstance(method, str) else method
        n = n_train or self.size.train
        try:
            record, _ = cached_run(f"ch07-{method.key}", self.config(method, n),
                                   (lambda: self._train_and_test(method, n)) if compute else _missing)
        except NotCached:
            return None
        return record

    # ---- the classical anchor
    def tfidf(self, n_train: int, compute: bool = True) -> dict | None:
        """TF-IDF word 1–2-grams + logistic regression on ``n_train`` reviews (0: the whole
        train split, all 25,000), scored on the same test reviews as every neural method."""
        def compute_run() -> tuple[dict, None]:
            if n_train:
                train_split = self.splits(n_train).train
            else:
                train_split = load("imdb")["train"]
            test = self.main.test
            record = baselines.tfidf_logreg(list(train_split["text"]), list(train_split["label"]),
                                            list(test["text"]), np.asarray(test["label"]))
            k = round(record["test_accuracy"] * record["test_size"])
            return {**record, "method": "TF-IDF + logistic regression", "method_key": "tfidf",
                    "library": "scikit-learn", "test_correct_count": k}, None

        key = {"version": RUN_VERSION, "data": self.data_key(n_train), "method": {"key": "tfidf"},
               "code": source_digest(data, baselines, text)}
        try:
            record, _ = cached_run("ch07-tfidf", key, compute_run if compute else _missing)
        except NotCached:
            return None
        return record

    # ---- the chapter's experiments
    def methods(self) -> list[Method]:
        """The methods this installation can run (chapters 04/05's modules may be absent)."""
        return [m for m in METHODS if m.available()]

    def method_table(self) -> pd.DataFrame:
        """What each method trains, who implements it, and its learning rate in this profile."""
        trains = {"full": "every weight", "probe": "a new classification head",
                  "bitfit": "every bias term + head", "adapters": "2 bottleneck adapters per layer + head",
                  "lora": "low-rank A, B on query and value + head", "lora-peft": "low-rank A, B on query and value + head",
                  "ia3-peft": "vectors rescaling keys, values, feed-forward inputs + head"}
        rows = [{"method": m.label, "what trains": trains[m.key], "implemented by": m.library,
                 "learning rate": np.format_float_positional(self.train_config(m).lr, trim="-"),
                 "settings": "; ".join(f"{k} {_setting(v)}" for k, v in m.settings.items()) or "—"}
                for m in self.methods()]
        return pd.DataFrame(rows).set_index("method")

    def comparison(self, compute: bool = True) -> dict[str, dict]:
        """Every method on the same data, plus the anchor on the same reviews and on all of them.
        Keys are table labels; runs missing from the cache are left out when ``compute=False``."""
        found = {m.label: self.run(m, compute=compute) for m in self.methods()}
        found[TFIDF_SAME] = self.tfidf(self.size.train, compute=compute)
        found[TFIDF_ALL] = self.tfidf(self.size.tfidf_all, compute=compute)
        return {k: v for k, v in found.items() if v is not None}

    def data_efficiency(self, compute: bool = True) -> dict[str, list[dict]]:
        """Accuracy against training-set size for full fine-tuning, LoRA and the anchor; the
        largest neural size is the comparison's own run (reused from the cache)."""
        lora = "lora" if METHOD["lora"].available() else "lora-peft"
        curves = {METHOD[k].label: [self.run(k, n, compute=compute) for n in self.size.curve] for k in ("full", lora)}
        curves["TF-IDF + logistic regression"] = (
            [self.tfidf(n, compute=compute) for n in self.size.tfidf_curve] + [self.tfidf(self.size.tfidf_all, compute=compute)])
        return {k: [r for r in v if r is not None] for k, v in curves.items()}


TFIDF_SAME = "TF-IDF + logistic regression"
TFIDF_ALL = "TF-IDF + logistic regression, all reviews"


def _setting(value) -> str:
    """A method setting as the method table shows it: lists as "query, value"."""
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


# --------------------------------------------------------------------------- tables and key numbers

def correct_count(record: dict) -> int:
    """How many test reviews a run classified correctly."""
    if "test_correct" in record:
        return int(sum(record["test_correct"]))
    return int(record.get("test_correct_count", round(record["test_accuracy"] * record["test_size"])))


def accuracy_interval(record: dict) -> tuple[float, float]:
    """The run's 95% Wilson interval, in percent."""
    lo, hi = wilson_interval(correct_count(record), record["test_size"])
    return 100 * lo, 100 * hi


def comparison_table(records: dict[str, dict]) -> pd.DataFrame:
    """``tap.report.results_table`` (accuracy, trainable parameters absolute and as a share of
    the adapted model, time, throughput, peak memory) plus what this chapter compares on: each
    accuracy's 95% interval, the training reviews, the bytes each task stores, and the memory
    training needed above what the process already held. Unrounded: show it through
    ``comparison_tables`` and ``tap.report.format_table``."""
    from .report import results_table

    table = results_table(records)
    table["trainable (%)"] = [100 * r["trainable_params"] / r["total_params"] if "base_params" in r else None
                              for r in records.values()]
    table.insert(1, "95% interval (%)", ["{:.1f}–{:.1f}".format(*accuracy_interval(r)) for r in records.values()])
    table.insert(3, "train reviews", [r["train_examples"] for r in records.values()])
    table["stored per task (KB)"] = [r["trainable_bytes"] / 1024 if "trainable_bytes" in r else None
                                     for r in records.values()]
    table["training memory (MB)"] = [r["peak_memory_mb"] - r["baseline_memory_mb"]
                                     if "baseline_memory_mb" in r else None for r in records.values()]
    return table


# The comparison table in two narrow halves, so that neither needs a horizontal scroll: what each
# method scores and stores, and what its training cost. (Every run has the same test reviews.)
SCORE_COLUMNS = ["test accuracy (%)", "95% interval (%)", "trainable params", "trainable (%)", "stored per task (KB)"]
COST_COLUMNS = ["train reviews", "train time (s)", "examples/s", "peak memory (MB)", "training memory (MB)"]


def comparison_tables(records: dict[str, dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``comparison_table`` split into ``(scores, costs)``, unrounded."""
    table = comparison_table(records)
    return table[SCORE_COLUMNS], table[COST_COLUMNS]


def target_phrase() -> str:
    """The book's target for a parameter-efficient method, in words (``tap.report``'s constants)."""
    unit = "point" if PEFT_TARGET_POINTS == 1 else "points"
    return (f"within {PEFT_TARGET_POINTS:g} percentage {unit} of full fine-tuning's accuracy while training "
            f"at most {PEFT_TARGET_SHARE:g}% of the parameters")


def key_numbers(records: dict[str, dict], budget_pct: float = PEFT_TARGET_SHARE) -> dict:
    """The chapter's (and the introduction's) headline numbers, all derived from the records:
    the best parameter-efficient method within ``budget_pct``% trainable parameters, its
    accuracy minus full fine-tuning's (``diff``, in points; negative when it is behind) with a
    paired 95% interval, and the classical anchor."""
    full = records[METHOD["full"].label]
    base = full["base_params"]
    neural = {k: r for k, r in records.items() if "base_params" in r}
    efficient = {k: r for k, r in neural.items() if k != METHOD["full"].label
                 and 100 * r["trainable_params"] / r["total_params"] <= budget_pct}
    best_label = max(efficient, key=lambda k: efficient[k]["test_accuracy"])
    best = efficient[best_label]
    diff, diff_lo, diff_hi = paired_difference(best["test_correct"], full["test_correct"])
    best_neural = max(neural, key=lambda k: neural[k]["test_accuracy"])
    same, every = records.get(TFIDF_SAME), records.get(TFIDF_ALL)
    lo, hi = accuracy_interval(full)
    return {
        "train_n": full["train_examples"], "test_n": full["test_size"], "ci_half": (hi - lo) / 2,
        "base_params": base, "full_acc": 100 * full["test_accuracy"], "full_time": full["wall_time_s"],
        "full_bytes": full["trainable_bytes"],
        "best_label": best_label, "best_acc": 100 * best["test_accuracy"],
        "best_params": best["trainable_params"], "best_pct": 100 * best["trainable_params"] / best["total_params"],
        "best_bytes": best["trainable_bytes"], "best_time": best["wall_time_s"],
        "storage_ratio": full["trainable_bytes"] / best["trainable_bytes"],
        "diff": 100 * diff, "diff_lo": 100 * diff_lo, "diff_hi": 100 * diff_hi,
        "target_met": -100 * diff <= PEFT_TARGET_POINTS, "budget_pct": budget_pct,
        "best_neural_label": best_neural, "best_neural_acc": 100 * neural[best_neural]["test_accuracy"],
        "tfidf_acc": 100 * same["test_accuracy"] if same else float("nan"),
        "tfidf_time": same["wall_time_s"] if same else float("nan"),
        "tfidf_all_acc": 100 * every["test_accuracy"] if every else float("nan"),
        "tfidf_all_n": every["train_examples"] if every else 0,
        "tfidf_all_time": every["wall_time_s"] if every else float("nan"),
    }


def _kilobytes(n_bytes: int) -> str:
    """``"290 KB"``, or ``"0.4 KB"`` for a linear probe's few hundred bytes."""
    kb = n_bytes / 1024
    return f"{kb:,.0f} KB" if kb >= 10 else f"{kb:.1f} KB"


def _ranked(records: dict[str, dict], key: Callable[[dict], float], reverse: bool = True) -> list[str]:
    return sorted(records, key=lambda k: key(records[k]), reverse=reverse)


def decision_table(records: dict[str, dict]) -> pd.DataFrame:
    """"Which method when": each recommendation is *chosen by the code* from the measured
    records (the most accurate, the smallest within the noise, the fastest...), and the
    evidence column quotes the numbers it was chosen on."""
    k = key_numbers(records)
    neural = {n: r for n, r in records.items() if "base_params" in r}
    acc = {n: 100 * r["test_accuracy"] for n, r in records.items()}
    full_label = METHOD["full"].label
    rows = []
    # 1. Small labelled set, CPU: is the anchor good enough?
    anchor_wins = k["tfidf_acc"] >= k["best_neural_acc"] - k["ci_half"]
    rows.append((f"{k['train_n']:,} labelled reviews, a CPU, an answer in seconds",
                 TFIDF_SAME if anchor_wins else f"{k['best_neural_label']} (start from {TFIDF_SAME} as the baseline)",
                 f"anchor {k['tfidf_acc']:.1f}% in {k['tfidf_time']:.1f} s vs {k['best_neural_label']} "
                 f"{k['best_neural_acc']:.1f}% in {neural[k['best_neural_label']]['wall_time_s']:.0f} s "
                 f"(±{k['ci_half']:.1f} points of noise)"))
    # 2. One task, the best accuracy the pre-trained model gives.
    rows.append(("one task, best accuracy from the pre-trained model, storage no concern",
                 k["best_neural_label"],
                 f"{k['best_neural_acc']:.1f}% (full fine-tuning {k['full_acc']:.1f}%)"))
    # 3. Many tasks on one base model: the best method within the parameter budget.
    rows.append((f"many tasks sharing one base model (≤ {k['budget_pct']:g}% trainable)",
                 k["best_label"],
                 f"{k['best_acc']:.1f}%, {compare(k['diff'])} full fine-tuning ({k['full_acc']:.1f}%); paired "
                 f"95% interval of the difference {k['diff_lo']:+.1f} to {k['diff_hi']:+.1f} points; stores "
                 f"{_kilobytes(k['best_bytes'])} per task instead of {k['full_bytes'] / 2**20:,.0f} MB"))
    # 4. The smallest footprint whose accuracy is within the noise of the best efficient method.
    close = {n: r for n, r in neural.items() if n != full_label and acc[n] >= k["best_acc"] - k["ci_half"]}
    smallest = _ranked(close, lambda r: r["trainable_params"], reverse=False)[0]
    rows.append(("the smallest per-task footprint without losing accuracy",
                 smallest,
                 f"{neural[smallest]['trainable_params']:,} trainable parameters, {acc[smallest]:.1f}% "
                 f"(within ±{k['ci_half']:.1f} of {k['best_label']})"))
    # 5. Fastest neural training.
    fastest = _ranked(neural, lambda r: r["examples_per_s"])[0]
    rows.append(("fastest training of a neural model",
                 fastest,
                 f"{neural[fastest]['examples_per_s']:.1f} reviews/s vs {neural[full_label]['examples_per_s']:.1f} "
                 f"for full fine-tuning; {acc[fastest]:.1f}%"))
    # 6. All the data.
    rows.append((f"all {k['tfidf_all_n']:,} labelled reviews, or a GPU",
                 "a larger pre-trained Transformer, fine-tuned on everything",
                 f"anchor on all reviews {k['tfidf_all_acc']:.1f}% in {k['tfidf_all_time']:.0f} s here; "
                 "published full-data results below"))
    return pd.DataFrame(rows, columns=["situation", "choose", "because (measured here)"]).set_index("situation")


# --------------------------------------------------------------------------- the introduction

@dataclass
class Headline:
    """What the introduction shows: the chapter's comparison records and their key numbers."""

    records: dict[str, dict]
    numbers: dict


def headline(profile: Profile | None = None) -> Headline:
    """Chapter 07's comparison and key numbers, through the same cached runs as the chapter:
    read from the run cache when the chapter has run, trained now when it has not. Either way
    the numbers are those of the current code and data (they are part of each run's cache key)."""
    records = Playbook(profile).comparison()
    return Headline(records, key_numbers(records))


def anchor_phrase(k: dict) -> str:
    """Where the neural methods stand against TF-IDF + logistic regression on the same reviews,
    in words: "every neural method here is at least 2.4 points below it" when they all are."""
    words = compare(k["best_neural_acc"] - k["tfidf_acc"], ahead="above", behind="below")
    if words.endswith("below"):
        return f"every neural method here is at least {words} it"
    return f"the best neural method here, {k['best_neural_label']}, is {words} it"


def phrases(k: dict) -> dict[str, str]:
    """The sentence fragments the chapter and the introduction glue as text, from the key
    numbers: how the best parameter-efficient method compares with full fine-tuning, whether
    it meets the book's target, and how the neural methods compare with the anchor."""
    return {"diff_words": compare(k["diff"]), "target_word": "meets" if k["target_met"] else "misses",
            "target": target_phrase(), "anchor_words": anchor_phrase(k)}


def bitfit_phrase(records: dict[str, dict]) -> str:
    """BitFit against the linear probe, in words chosen by the measured order. BitFit trains
    everything the probe trains and every bias besides, so ending below it needs a reason."""
    bitfit, probe = records[METHOD["bitfit"].label], records[METHOD["probe"].label]
    diff, lo, hi = (100 * v for v in paired_difference(bitfit["test_correct"], probe["test_correct"]))
    words = compare(diff, ahead="above", behind="below")
    noise = (f"The paired 95% interval of the difference, {lo:+.1f} to {hi:+.1f} points, "
             + ("includes zero: another sample of test reviews could reverse the order."
                if lo <= 0 <= hi else "excludes zero, though each method was trained with a single seed."))
    if words == "level with":
        return "BitFit and the linear probe end level: here the biases add nothing the head alone could not."
    if words.endswith("below"):
        rates = ("at the same learning rate" if bitfit["lr"] == probe["lr"] else
                 f"at a learning rate of {bitfit['lr']:g} against the probe's {probe['lr']:g}")
        return (f"BitFit ends {words} the linear probe, although it trains the same head and every bias "
                f"besides. Both had the same {bitfit['steps']:,} optimisation steps, and BitFit took them {rates}: "
                "with so short a budget, shifting the biases moves the features the head is still learning to "
                "read, while the probe spends every step fitting its head to features that stay fixed. "
                + noise)
    return (f"BitFit ends {words} the linear probe: training the biases inside the network, not only "
            "the head, adapts the features themselves to sentiment. " + noise)


def headline_figure_inputs(found: Headline) -> tuple[dict, dict]:
    """``(series, references)`` of the headline figure."""
    return frontier_series(found.records)


# --------------------------------------------------------------------------- plots and the CLI

def accuracy_points(records: dict[str, dict]) -> dict[str, tuple[float, float]]:
    """``label -> (trainable parameters, test accuracy %)`` for the neural runs."""
    return {k: (r["trainable_params"], 100 * r["test_accuracy"]) for k, r in records.items() if "base_params" in r}


def from_scratch_runs(profile: Profile) -> dict[str, dict]:
    """The book's own small encoder on IMDB, as chapters 01, 04 and 05 trained it: from scratch
    (chapter 01), and pre-trained on AG News, then fully fine-tuned, fine-tuned in its top layer
    only or linearly probed (chapter 01), with chapter 04's Houlsby adapters and with chapter 05's rank-8 LoRA (the targets its
    validation accuracy chose). The same calls as those chapters make, so their cached runs are
    reused. Those runs used their own training and test subsets (see each chapter)."""
    from . import transfer

    setup = transfer.prepare(profile)
    source = transfer.pretrain_on_ag_news(setup)
    runs = {"from scratch": transfer.from_scratch(setup), "AG News + full fine-tuning": transfer.fine_tune(setup, source),
            "AG News + top layer fine-tuned": transfer.top_layers_fine_tune(setup, source),
            "AG News + linear probe": transfer.linear_probe(setup, source)}
    if METHOD["adapters"].available():
        from . import adapters

        runs["AG News + adapters (ch. 04)"] = adapters.train_adapters(setup, source, "houlsby", None)
    if METHOD["lora"].available():
        from . import lora

        by_target = {t: lora.train_lora(setup, source, lora.LoRASettings(targets=t)) for t in lora.TARGETS}
        best = max(by_target, key=lambda t: by_target[t].record["best_val_accuracy"])
        runs["AG News + LoRA (ch. 05)"] = by_target[best]
    return {k: r.record for k, r in runs.items()}


def figure_inputs(records: dict[str, dict]) -> dict:
    """The data of the chapter's two headline figures: accuracy with its interval per method,
    and trainable parameters per neural method."""
    return {"accuracy": {k: (100 * r["test_accuracy"], *accuracy_interval(r)) for k, r in records.items()},
            "params": {k: r["trainable_params"] for k, r in records.items() if "base_params" in r}}


def frontier_series(records: dict[str, dict], scratch: dict[str, dict] | None = None,
                    name: str = "pre-trained model, this chapter") -> tuple[dict, dict]:
    """``(series, references)`` for ``plots.parameter_sweep``: the pre-trained model's methods
    (the two LoRA rows, which train the same parameters, as one point), the book's own encoder
    (``scratch``: trained from scratch, or pre-trained on AG News, as two series), and the TF-IDF
    anchor as reference stars."""
    neural = {k: r for k, r in records.items() if "base_params" in r}
    if METHOD["lora"].label in neural and METHOD["lora-peft"].label in neural:
        neural["LoRA (tap and peft)"] = neural.pop(METHOD["lora"].label)
        neural.pop(METHOD["lora-peft"].label)
    series = {name: [(r["trainable_params"], 100 * r["test_accuracy"], k) for k, r in neural.items()]}
    for series_name, pretrained in (("the book's encoder, from scratch (ch. 01)", False),
                                     ("the book's encoder pre-trained on AG News (ch. 01, 04, 05)", True)):
        points = [(r["trainable_params"], 100 * r["test_accuracy"], k.removeprefix("AG News + "))
                  for k, r in (scratch or {}).items() if k.startswith("AG News") == pretrained]
        if points:
            series[series_name] = points
    refs = {f"TF-IDF + logistic regression, {r['train_examples']:,} reviews": (r["trainable_params"], 100 * r["test_accuracy"])
            for r in records.values() if r.get("method_key") == "tfidf"}
    return series, refs


def curve_points(curves: dict[str, list[dict]]) -> dict[str, list[tuple[float, float]]]:
    """``method -> [(training reviews, test accuracy %)]`` for ``plots.learning_curves``."""
    return {k: [(r["train_examples"], 100 * r["test_accuracy"]) for r in runs] for k, runs in curves.items()}


def chapter_experiment(profile: Profile) -> "Outcome":
    """Everything chapter 07 runs, for ``python -m tap run ch07``."""
    from . import plots
    from .experiments import Outcome

    book = Playbook(profile)
    records = book.comparison()
    curves = book.data_efficiency()
    out = dict(records)
    for label, runs in curves.items():
        for r in runs:
            out.setdefault(f"{label}, {r['train_examples']:,} reviews", r)
    data = figure_inputs(records)
    series, refs = frontier_series(records)
    figures = {
        "accuracy": plots.interval_bars(data["accuracy"], ylabel="test accuracy (%)",
                                        title="IMDB test accuracy by method (95% intervals)"),
        "trainable_parameters": plots.comparison_bars(data["params"], ylabel="trainable parameters (log scale)",
                                                      fmt="{:,.0f}", log=True),
        "accuracy_vs_parameters": plots.parameter_sweep(series, references=refs, joined=False),
        "data_efficiency": plots.learning_curves(curve_points(curves), xlabel="training reviews (log scale)",
                                                 ylabel="test accuracy (%)"),
    }
    return Outcome(out, figures)
