"""The playbook's runs: every adaptation method of ``tap.methods.registry`` trained on one pre-trained model
(``bert-base-uncased`` in the ``full`` profile, its stand-in all-MiniLM-L6-v2 in the CPU-scale
profiles) with the same training examples, the same test examples and the same training budget,
and the classical anchor, TF-IDF + logistic regression, on the same examples — for chapter 07's
IMDB reviews and for a reader's own task alike (``tap.playbook.command``). Each run records its
test accuracy, every test example's 0/1 outcome (for confidence intervals), its trainable
parameters, the bytes a task must store, training time, throughput and the memory a run used.

Every run is cached (``tap.core.cache.cached_run``); this module holds only what a run computes, so
that editing the chapter's tables, words or figures (``tap.chapters.ch07_playbook``) invalidates
no run.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..core import devices
from ..core.cache import cached_run, source_digest
from ..core.measure import timer
from ..core.profiles import Profile, get_profile
from ..core.report import shown_difference
from ..data import datasets, hf_data, text
from ..data.datasets import Splits
from ..data.hf_data import TokenizedDataset
from ..data.task_data import TaskData, subset
from ..methods import adapters, lora, registry
from ..methods.parameter_counts import count_parameters
from ..methods.registry import METHOD, Method, build, trainable_by_module, trainable_state_bytes
from ..models import pooled, pretrained
from ..models.pooled import MeanPooledClassifier
from ..training import baselines, loop
from ..training.loop import TrainConfig, predict, train
from .budget import RATE_FACTORS

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

BASE_MODEL = "bert-base-uncased"
SMOKE_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}
LONGER = 2  # how many times the usual epochs a run below the probe trains again
CACHE_PREFIX = "playbook"  # the run cache's name for the comparison's runs
RUN_VERSION = 1  # bump when the record a run stores changes meaning
TFIDF_SAME = "TF-IDF + logistic regression"
TFIDF_ALL = "TF-IDF + logistic regression, all reviews"


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
    lr: dict = field(default_factory=dict)  # per-method overrides of the usual rate, the centre of each search
    pilot: int = 0  # rates searched on this many training reviews, unscored (0: on the full runs themselves)
    # of every neural run; None: what this machine computes natively (``devices.fitting_precision``).
    # When that is bf16, one run of full fine-tuning repeats in float32.
    mixed_precision: str | None = None


# The usual rates for a 110M-parameter bert-base (the ``full`` profile); ``tap.methods.registry``' own are
# the CPU stand-in's. Each is the centre of its method's search.
BERT_BASE_RATES = {
    "full": 3e-5,
    "probe": 1e-3,
    "bitfit": 1e-3,
    "adapters": 5e-4,
    "lora": 5e-4,
    "lora-peft": 5e-4,
    "ia3-peft": 5e-3,
}

SIZES: dict[str, PlaybookSize] = {
    "smoke": PlaybookSize(
        train=32,
        val=16,
        test=32,
        max_len=48,
        batch_size=16,
        epochs=1,
        curve=(16, 32),
        tfidf_curve=(32, 64),
        tfidf_all=400,
        pilot=16,
    ),
    # Sized from speeds measured on 2 cores at 128 tokens in bf16 (a CPU with AVX-512 BF16): full
    # fine-tuning takes ~0.7 s a step of 8 reviews and scores ~125 test reviews/s (float32: ~1.0 s
    # and ~45/s). Seven methods on 500 reviews (63 steps), each scored on 2,000 test reviews (a
    # paired interval of about ±2 points), the data-efficiency runs and the float32 repeat took
    # ~10 minutes, inside the chapter's 12-minute budget. A CPU without bf16 instructions runs them
    # all in float32, at the float32 speeds (and without the repeat).
    "book": PlaybookSize(
        train=500,
        val=200,
        test=2_000,
        max_len=128,
        batch_size=8,
        epochs=1,
        curve=(125, 250, 500),
        tfidf_curve=(125, 250, 500, 1_000, 5_000),
        tfidf_all=0,
        pilot=250,
    ),
    # bert-base on a GPU: the usual rates for a 110M-parameter model, each searched on 2,000 reviews.
    "full": PlaybookSize(
        train=20_000,
        val=2_000,
        test=0,
        max_len=256,
        batch_size=32,
        epochs=2,
        curve=(1_000, 5_000, 20_000),
        tfidf_curve=(1_000, 5_000, 20_000),
        tfidf_all=0,
        pilot=2_000,
        lr=BERT_BASE_RATES,
    ),
}


def _code() -> str:
    """The code a neural run executes: editing it invalidates the cached runs."""
    return source_digest(
        datasets,
        hf_data,
        text,
        loop,
        *registry.PEFT_MACHINERY,
        pooled,
        adapters,
        lora,
        registry,
        sys.modules[__name__],
    )


class Playbook:
    """Every adaptation method on one labelled task (chapter 07: IMDB; ``python -m tap playbook``:
    the reader's), each run at the same sizes, cached under its configuration and the data's digest.
    The tokenizer loads lazily, so that runs found in the run cache cost no model loading."""

    def __init__(
        self,
        task: TaskData,
        size: PlaybookSize,
        profile: Profile | None = None,
        hub_id: str = BASE_MODEL,
        seed: int = 0,
        keep_state: tuple[str, ...] = (),
    ) -> None:
        self.task, self.size, self.num_classes = task, size, task.num_classes
        self.profile = profile or get_profile()
        self.hub_id = hub_id
        self.seed = seed
        self.keep_state = set(keep_state)  # method keys whose trained tensors the run cache keeps

    def with_seed(self, seed: int) -> Playbook:
        """The same runs with another ``seed``: another draw of every split's examples, of the
        head's initial weights and of the batch order."""
        return Playbook(self.task, self.size, self.profile, self.hub_id, seed, tuple(self.keep_state))

    def model_path(self) -> str:
        """The folder the pre-trained weights load from: a local folder as given, a Hub id as the
        profile resolves it (the Hub model, or the profile's stand-in)."""
        return self.hub_id if Path(self.hub_id).is_dir() else pretrained.resolve(self.hub_id)

    # ---- model and data
    def model_key(self) -> dict:
        """Which weights the runs start from (the Hub model, or the stand-in the profile uses)."""
        if self.profile.name == "smoke":
            return {
                "hub_id": self.hub_id,
                "loaded": "a tiny randomly initialised BERT (smoke profile)",
                "shape": SMOKE_BERT,
            }
        self.model_path()  # records the stand-in, if the profile uses one
        return {"hub_id": self.hub_id, "loaded": pretrained.STAND_INS.get(self.hub_id, self.hub_id)}

    def load_model(self) -> MeanPooledClassifier:
        """A fresh pre-trained encoder under a new, seeded mean-pooling head. The smoke
        profile (tests) uses a tiny random BERT with the same tokenizer."""
        from transformers import AutoModel, BertConfig, BertModel

        if self.profile.name == "smoke":
            torch.manual_seed(self.seed)
            encoder = BertModel(
                BertConfig(vocab_size=self.tokenizer.vocab_size, **SMOKE_BERT), add_pooling_layer=False
            )
        else:
            encoder = AutoModel.from_pretrained(self.model_path(), add_pooling_layer=False)
        torch.manual_seed(self.seed)
        return MeanPooledClassifier(encoder, self.num_classes)

    def splits(self, n_train: int | None = None) -> Splits:
        """The task's splits cut to the sizes: ``n_train`` (default ``size.train``) training
        examples, nested across sizes; validation and test never change with ``n_train``."""
        s = self.task.splits
        return Splits(
            subset(s.train, n_train or self.size.train, self.seed),
            subset(s.val, self.size.val, self.seed),
            subset(s.test, self.size.test, self.seed),
            s.label_names,
            s.note,
        )

    @cached_property
    def main(self) -> Splits:
        """The comparison's splits: ``size.train`` training reviews."""
        return self.splits()

    @cached_property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The pre-trained model's own tokenizer (also the smoke profile's)."""
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.model_path())

    def tokenized(self, ds: Dataset) -> TokenizedDataset:
        """A split tokenised with the model's tokenizer, cut at ``size.max_len`` tokens."""
        return TokenizedDataset.from_tokenizer(self.tokenizer, ds["text"], ds["label"], self.size.max_len)

    @cached_property
    def val(self) -> TokenizedDataset:
        """The validation reviews every run chooses its checkpoint on, tokenised."""
        return self.tokenized(self.main.val)

    @cached_property
    def test(self) -> TokenizedDataset:
        """The test reviews every run is scored on once, tokenised."""
        return self.tokenized(self.main.test)

    def train_config(
        self, method: Method, mixed_precision: str | None = None, lr: float | None = None, epochs: int | None = None
    ) -> TrainConfig:
        """The one training budget (``epochs`` only for a run that tests whether a method was
        undertrained), at ``lr``, else ``method``'s learning rate (the profile may override it),
        in ``mixed_precision``, else the profile's, else the one this machine computes natively
        (resolved here, so the precision a run used is in its cache key)."""
        return TrainConfig(
            epochs=epochs or self.size.epochs,
            lr=lr or self.size.lr.get(method.key, method.lr),
            batch_size=self.size.batch_size,
            evals_per_epoch=1,
            seed=self.seed,
            mixed_precision=mixed_precision or self.size.mixed_precision or devices.fitting_precision(),
        )

    def dataset_key(self) -> dict:
        """Which data the runs read, for their cache keys."""
        return {"dataset": self.task.name, "digest": self.task.digest}

    def data_key(self, n_train: int) -> dict:
        """The data a run reads, for its cache key."""
        s = self.size
        return {
            **self.dataset_key(),
            "train": n_train,
            "val": s.val,
            "test": s.test,
            "max_len": s.max_len,
            "seed": self.seed,
            "profile": self.profile.name,
        }

    # ---- one neural run
    def config(self, method: Method, n_train: int, cfg: TrainConfig, scored: bool = True) -> dict:
        """The cache key of one run: data, model, method, optimisation and the code it runs."""
        key = {
            "version": RUN_VERSION,
            "data": {**self.data_key(n_train), **({} if scored else {"test": 0})},
            "model": self.model_key(),
            "method": {"key": method.key, "settings": method.settings},
            "train": cfg.to_dict(),
            "code": _code(),
        }
        if method.library == "peft":
            key["peft"] = version("peft")
        return key

    def _train_and_test(
        self, method: Method, n_train: int, cfg: TrainConfig, scored: bool = True
    ) -> tuple[dict, dict | None]:
        """Load the pre-trained model, adapt it with ``method``, train on ``n_train`` reviews,
        score every test review (unless not ``scored``: a pilot run), and record what the run
        cost and what it stores (and, for the methods in ``keep_state``, return the trained
        tensors for the run cache)."""
        model = self.load_model()
        config = model.config
        base_params = count_parameters(model)["total_params"]
        hosts = {n for n, _ in model.named_modules() if n}
        model = build(method, model)
        train_data = self.tokenized(self.splits(n_train).train)
        record, model = train(model, train_data, self.val, cfg, desc=method.label)
        record.update(
            {
                "method": method.label,
                "method_key": method.key,
                "library": method.library,
                "model": self.hub_id,
                "model_loaded": self.model_key()["loaded"],
                "model_shape": {
                    "hidden": config.hidden_size,
                    "layers": config.num_hidden_layers,
                    "ffn": config.intermediate_size,
                },
                "lr": cfg.lr,
                "mixed_precision": cfg.mixed_precision,
                "base_params": base_params,
                "trainable_by_module": trainable_by_module(model, hosts),
                "trainable_bytes": trainable_state_bytes(model),
            }
        )
        if scored:
            with timer() as clock:
                predicted, gold = predict(model, self.test, mixed_precision=cfg.mixed_precision)
            correct = (predicted == gold).int().tolist()
            record.update(
                {
                    "test_accuracy": sum(correct) / len(correct),
                    "test_size": len(correct),
                    "test_correct": correct,
                    "test_predicted": predicted.tolist(),
                    "test_time_s": clock["seconds"],
                }
            )
        state = None
        if method.key in self.keep_state:
            state = {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}
        del model
        return record, state

    def _cached(
        self,
        method: Method | str,
        n_train: int | None,
        mixed_precision: str | None,
        lr: float | None,
        scored: bool = True,
        epochs: int | None = None,
    ) -> tuple[dict, dict | None]:
        method = METHOD[method] if isinstance(method, str) else method
        n = n_train or self.size.train
        cfg = self.train_config(method, mixed_precision, lr, epochs)
        return cached_run(
            f"{CACHE_PREFIX}-{method.key}",
            self.config(method, n, cfg, scored),
            lambda: self._train_and_test(method, n, cfg, scored),
        )

    def run(
        self,
        method: Method | str,
        n_train: int | None = None,
        mixed_precision: str | None = None,
        lr: float | None = None,
        scored: bool = True,
        epochs: int | None = None,
    ) -> dict:
        """The record of ``method`` trained on ``n_train`` examples (default: the comparison's), in
        ``mixed_precision`` (default: ``train_config``'s), at ``lr`` (default: the method's usual
        rate), for ``epochs`` (default: the size's), scored on the test examples unless not
        ``scored``: from the run cache, or trained now."""
        return self._cached(method, n_train, mixed_precision, lr, scored, epochs)[0]

    def longer_runs(self, records: dict[str, dict], labels: list[str], factor: int = LONGER) -> dict[str, dict]:
        """The methods ``labels`` of ``records`` trained again at their chosen rates for ``factor``
        times the epochs: the runs that show whether a method that ended below the linear probe
        (``below_probe``) was only undertrained."""
        return {
            label: self.run(r["method_key"], lr=r["lr"], epochs=factor * self.size.epochs)
            for label, r in records.items()
            if label in labels
        }

    def rates(self, method: Method | str) -> list[float]:
        """The rates searched for ``method``: its usual rate (the profile may override it), a
        third of it and three times it."""
        method = METHOD[method] if isinstance(method, str) else method
        usual = self.size.lr.get(method.key, method.lr)
        return [usual * f for f in RATE_FACTORS]

    def search(self, method: Method | str, n_train: int | None = None) -> tuple[dict, list[dict]]:
        """``method`` at the rate with the best validation accuracy, and the runs that chose it.
        With ``size.pilot``, the rates are tried on the first ``pilot`` training reviews without
        scoring the test set, and only the chosen rate trains on ``n_train``; without, each
        rate trains on ``n_train`` and the chosen run is the result. A tie goes to the rate
        nearest the usual one."""
        method = METHOD[method] if isinstance(method, str) else method
        n = n_train or self.size.train
        pilot = self.size.pilot if 0 < self.size.pilot < n else 0
        runs = [self.run(method, pilot or n, lr=lr, scored=not pilot) for lr in self.rates(method)]
        usual = self.rates(method)[1]
        best = max(runs, key=lambda r: (r["best_val_accuracy"], -abs(math.log(r["lr"] / usual))))
        return (self.run(method, n, lr=best["lr"]) if pilot else best), runs

    def chosen_rate(self, method: Method | str) -> float:
        """The rate ``search`` chose for ``method`` (from the run cache once it has run)."""
        return self.search(method)[0]["lr"]

    def trained(self, method: Method | str, n_train: int | None = None, lr: float | None = None) -> torch.nn.Module:
        """The model ``run`` trained, rebuilt from the tensors the run cache kept (``keep_state``)."""
        method = METHOD[method] if isinstance(method, str) else method
        record, state = self._cached(method, n_train, None, lr)
        if state is None:
            raise ValueError(f"The run cache keeps no weights for {method.label}; add {method.key!r} to keep_state.")
        model = build(method, self.load_model())
        missing = set(state) - {n for n, _ in model.named_parameters()}
        if missing:
            raise ValueError(f"The stored weights of {method.label} do not fit the model: {sorted(missing)[:3]}")
        model.load_state_dict(state, strict=False)
        return model.eval()

    def all_train(self) -> Dataset:
        """Every training example of the task (validation's left out): the anchor's largest run."""
        return self.task.splits.train

    # ---- the classical anchor
    def tfidf(self, n_train: int) -> dict:
        """TF-IDF word 1–2-grams + logistic regression on ``n_train`` reviews (0: the whole
        train split, all 25,000), scored on the same test reviews as every neural method."""

        def compute() -> tuple[dict, None]:
            train_split = self.splits(n_train).train if n_train else self.all_train()
            test = self.main.test
            record = baselines.tfidf_logreg(
                list(train_split["text"]), list(train_split["label"]), list(test["text"]), np.asarray(test["label"])
            )
            k = round(record["test_accuracy"] * record["test_size"])
            return {
                **record,
                "method": TFIDF_SAME,
                "method_key": "tfidf",
                "library": "scikit-learn",
                "test_correct_count": k,
            }, None

        key = {
            "version": RUN_VERSION,
            "data": self.data_key(n_train),
            "method": {"key": "tfidf"},
            "code": source_digest(datasets, baselines, text),
        }
        record, _ = cached_run(f"{CACHE_PREFIX}-tfidf", key, compute)
        return record

    # ---- what chapter 07 adds to the comparison
    def precision_check(self) -> dict[str, dict]:
        """Full fine-tuning in the runs' precision and in float32, on the same reviews: what 16-bit
        forward passes cost in accuracy, and what they save in time. When the runs are in float32
        there is nothing to compare, and only ``"float32"`` (the comparison's own run) is returned."""
        chosen = self.train_config(METHOD["full"]).mixed_precision
        lr = self.chosen_rate("full")
        single = {"float32": self.run("full", mixed_precision="no", lr=lr)}
        return single if chosen == "no" else {chosen: self.run("full", lr=lr), **single}

    def seed_repeats(self, keys: tuple[str, ...], seeds: tuple[int, ...]) -> dict[int, dict[str, dict]]:
        """The runs of the methods ``keys`` again with other ``seeds``, each at the rate this
        seed's search chose (not searched again): another draw of the training, validation and
        test reviews, of the head's initial weights and of the batch order. ``self.seed``'s
        entry is the comparison's own runs."""
        repeats = {}
        for seed in seeds:
            book = self if seed == self.seed else self.with_seed(seed)
            repeats[seed] = {k: book.run(k, lr=self.chosen_rate(k)) for k in keys}
        return repeats

    def data_efficiency(self, curve: tuple[int, ...], tfidf_sizes: tuple[int, ...]) -> dict[str, list[dict]]:
        """Accuracy against training-set size for full fine-tuning and LoRA (at the rates their
        searches chose) on ``curve``'s sizes, and the anchor on ``tfidf_sizes`` (0: all)."""
        curves = {METHOD[k].label: [self.run(k, n, lr=self.chosen_rate(k)) for n in curve] for k in ("full", "lora")}
        curves[TFIDF_SAME] = [self.tfidf(n) for n in tfidf_sizes]
        return curves


def below_probe(records: dict[str, dict]) -> list[str]:
    """The parameter-efficient methods in ``records`` that ended below the linear probe on the same
    base, as the pages show accuracies (to 0.1 point). Each trains the probe's head and more, so
    ending below it needs a reason on the page and a run that shows it (``longer_words``)."""
    probe = records.get(METHOD["probe"].label)
    if probe is None:
        return []
    return [
        label
        for label, r in records.items()
        if "base_params" in r
        and r["method_key"] not in ("full", "probe")
        and shown_difference(100 * r["test_accuracy"], 100 * probe["test_accuracy"]) < 0
    ]
