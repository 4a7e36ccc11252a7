"""Chapter 02: inference with Hugging Face models.

The manual path (tokenizer → input ids and attention mask → model → logits → softmax →
label; a language model's decoding loop written out), the same through ``pipeline()``, and
what inference costs on a CPU: batch size, padding, truncation, ``torch.inference_mode`` and
dynamic int8 quantisation, each timed with ``tap.measure.compare`` (warm-up, interleaved repeats, median).

Models are Hub-first (``tap.models.resolve``): DistilBERT fine-tuned on SST-2, GPT-2, BERT and
all-MiniLM-L6-v2 from the Hub. Offline, the stand-ins are all-MiniLM-L6-v2 from its PyPI
package, a sentiment classifier trained here (a logistic-regression head on frozen, mean-pooled
MiniLM features) and chapter 03's own language models.
"""
from __future__ import annotations

import contextlib
import copy
import html
import io
import math
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertModel,
                          BertPreTrainedModel, pipeline)
from transformers.modeling_outputs import SequenceClassifierOutput

from . import data, models, text
from .cache import cached_folder, source_digest
from .data import Splits, imdb_splits
from .hub import hub_available
from .measure import compare, hardware, timer, track_peak_memory
from .efficient import count_parameters
from .profiles import Profile
from .text import clean

SENTIMENT_HUB_ID = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"  # Sanh et al., 2019
CAUSAL_LM_HUB_ID = "openai-community/gpt2"  # Radford et al., 2019
MASKED_LM_HUB_ID = "google-bert/bert-base-uncased"  # Devlin et al., 2019
# Tasks whose models exist only on the Hub (transformers 5 removed their pipelines too:
# they run through AutoModelForSeq2SeqLM + generate()).
HUB_ONLY = {"translation (English → German)": "google-t5/t5-small",
            "summarisation": "sshleifer/distilbart-cnn-12-6"}
# Extras: the original models behind this chapter's stand-ins, and the original study's language
# detector. They run in every profile when the Hub is reachable, and are labelled as extras.
HUB_EXTRAS = {"sentiment (the original DistilBERT SST-2)": (SENTIMENT_HUB_ID, "text-classification"),
              "text generation (the original GPT-2)": (CAUSAL_LM_HUB_ID, "text-generation"),
              "language detection (XLM-R)": ("papluca/xlm-roberta-base-language-detection", "text-classification")}
LANGUAGE_SAMPLES = ["This film was a pleasure from start to finish.", "Ce film est d'un ennui mortel.",
                    "Dieser Film war viel zu lang.", "Questa pellicola è un capolavoro."]
LABELS = {0: "NEGATIVE", 1: "POSITIVE"}  # the SST-2 model's names, so both classifiers read alike


@dataclass(frozen=True)
class InferenceSizes:
    """How much chapter 02 measures in each profile."""

    train: int  # IMDB reviews the offline sentiment head is trained on
    test: int  # fixed balanced IMDB test reviews for every accuracy comparison
    max_len: int  # tokens per review for the classifier
    lengths: tuple[int, ...]  # truncation lengths compared
    batch_sizes: tuple[int, ...]  # batch sizes timed
    bench_examples: int  # reviews per timed pass
    pad_len: int  # truncation length of the padding comparison
    repeats: int  # timed repeats per measurement (the median is reported)
    new_tokens: int  # tokens generated per prompt in the decoding demos


SIZES: dict[str, InferenceSizes] = {
    "smoke": InferenceSizes(train=40, test=24, max_len=32, lengths=(16, 32), batch_sizes=(1, 4),
                            bench_examples=4, pad_len=32, repeats=1, new_tokens=8),
    "book": InferenceSizes(train=1_000, test=400, max_len=128, lengths=(32, 64, 128, 256),
                           batch_sizes=(1, 2, 4, 8, 16, 32), bench_examples=32, pad_len=512, repeats=3,
                           new_tokens=40),
    "full": InferenceSizes(train=5_000, test=2_000, max_len=256, lengths=(64, 128, 256, 512),
                           batch_sizes=(1, 2, 4, 8, 16, 32, 64), bench_examples=128, pad_len=512, repeats=5,
                           new_tokens=60),
}


def sizes(profile: Profile) -> InferenceSizes:
    """Chapter 02's sizes for ``profile`` (its name picks them)."""
    return SIZES.get(profile.name, SIZES["book"])


def imdb_subsets(profile: Profile) -> Splits:
    """The reviews chapter 02 uses: a balanced training subset for the offline head and a
    fixed balanced test subset, HTML line breaks removed (as every model here reads them)."""
    s = sizes(profile)
    splits = imdb_splits(replace(profile, imdb_train=s.train, imdb_val=0, imdb_test=s.test))

    def cleaned(ds):
        return ds.map(lambda row: {"text": clean(row["text"])})

    splits.train, splits.test = cleaned(splits.train), cleaned(splits.test)
    splits.note = (f"IMDB: {len(splits.train):,} training reviews (for the offline head) and "
                   f"{len(splits.test):,} test reviews, both balanced.")
    return splits


# --- the offline sentiment classifier -------------------------------------------------------

def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors over real tokens only: ``[batch, tokens, d] -> [batch, d]``.
    This is how all-MiniLM-L6-v2 was trained to make sentence embeddings."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # [batch, tokens, 1]
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class MeanPooledBertConfig(BertConfig):
    """A BERT configuration whose classifier reads the mean of the token vectors."""

    model_type = "tap-mean-pooled-bert"


class MeanPooledBertForSequenceClassification(BertPreTrainedModel):
    """BERT body → mean pooling → linear head → logits. ``BertForSequenceClassification``
    classifies from the [CLS] token through its pooler instead; a sentence-embedding model such
    as all-MiniLM-L6-v2 was trained for mean pooling, so its head must read the mean."""

    config_class = MeanPooledBertConfig

    def __init__(self, config: MeanPooledBertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state  # [batch, tokens, d]
        logits = self.classifier(mean_pool(hidden, attention_mask))  # [batch, labels]
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


# Registered like any Hugging Face architecture, so AutoModelForSequenceClassification and
# pipeline("text-classification") load a saved folder by name.
AutoConfig.register(MeanPooledBertConfig.model_type, MeanPooledBertConfig, exist_ok=True)
AutoModelForSequenceClassification.register(MeanPooledBertConfig, MeanPooledBertForSequenceClassification,
                                            exist_ok=True)


@torch.inference_mode()
def mean_pooled_features(encoder: nn.Module, tokenizer, texts: list[str], max_len: int,
                         batch_size: int = 32) -> torch.Tensor:
    """Sentence embeddings ``[len(texts), d]`` from a frozen encoder (``BertModel``)."""
    encoder.eval()
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                          max_length=max_len, return_tensors="pt")
        out.append(mean_pool(encoder(**batch).last_hidden_state, batch["attention_mask"]))
    return torch.cat(out)


def fit_logistic_head(features: torch.Tensor, labels: Iterable[int], seed: int = 0) -> tuple[nn.Linear, float]:
    """Logistic regression on frozen features, its strength chosen by 5-fold cross-validation
    on the training features only; returned as a 2-logit ``nn.Linear`` with logits
    ``(-z/2, +z/2)``, whose softmax equals the regression's probability ``sigmoid(z)``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    x, y = features.double().numpy(), np.asarray(list(labels))
    search = GridSearchCV(LogisticRegression(max_iter=5_000), {"C": [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]},
                          cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    search.fit(x, y)
    w, b = search.best_estimator_.coef_[0], search.best_estimator_.intercept_[0]
    head = nn.Linear(x.shape[1], 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor(np.stack([-w / 2, w / 2]), dtype=torch.float32))
        head.bias.copy_(torch.tensor([-b / 2, b / 2], dtype=torch.float32))
    return head, float(search.best_params_["C"])


def build_mean_pooled_classifier(base: str | Path, head: nn.Linear) -> MeanPooledBertForSequenceClassification:
    """A ``MeanPooledBertForSequenceClassification`` from a BERT folder and a trained head."""
    base_config = BertConfig.from_pretrained(base).to_dict()
    for key in ("model_type", "architectures", "transformers_version"):
        base_config.pop(key, None)
    config = MeanPooledBertConfig(**{**base_config, "num_labels": 2, "id2label": LABELS,
                                     "label2id": {v: k for k, v in LABELS.items()}})
    model = MeanPooledBertForSequenceClassification(config)
    body = {k: v for k, v in BertModel.from_pretrained(base).state_dict().items() if not k.startswith("pooler.")}
    model.bert.load_state_dict(body)  # the [CLS] pooler is not used by mean pooling
    model.classifier.load_state_dict(head.state_dict())
    return model.eval()


@dataclass
class SentimentRun:
    """The offline sentiment classifier: its training record and the saved folder."""

    record: dict
    path: Path


def train_sentiment_head(profile: Profile, seed: int = 0) -> SentimentRun:
    """Train (or take from the cache) the logistic-regression head on frozen mean-pooled
    MiniLM features of ``sizes(profile).train`` IMDB reviews, and save the whole classifier
    as a folder that ``from_pretrained`` and ``pipeline()`` load."""
    s, base = sizes(profile), models.minilm_path()
    config = {"base": "all-MiniLM-L6-v2", "train": s.train, "max_len": s.max_len, "seed": seed,
              "code": source_digest(data, text, sys.modules[__name__])}

    def compute(folder: Path) -> dict:
        splits = imdb_subsets(profile)
        tokenizer, encoder = AutoTokenizer.from_pretrained(base), BertModel.from_pretrained(base)
        with track_peak_memory() as mem, timer() as clock:
            with timer() as reading:
                features = mean_pooled_features(encoder, tokenizer, list(splits.train["text"]), s.max_len)
            head, strength = fit_logistic_head(features, splits.train["label"], seed)
        gold = np.asarray(splits.train["label"])
        with torch.no_grad():
            train_acc = float((head(features).argmax(-1).numpy() == gold).mean())
        classifier = build_mean_pooled_classifier(base, head)
        classifier.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return {"train_examples": len(features), "max_len": s.max_len, "wall_time_s": clock["seconds"],
                "feature_time_s": reading["seconds"], "fit_time_s": clock["seconds"] - reading["seconds"],
                "examples_per_s": len(features) / clock["seconds"], "logreg_C": strength,
                "train_accuracy": train_acc, "trainable_params": head.weight.numel() + head.bias.numel(),
                "total_params": count_parameters(classifier)["total_params"],
                "hardware": hardware(), "seed": seed, **mem}

    folder, record = cached_folder("ch02-sentiment-minilm", config, compute)
    return SentimentRun(record, folder)


@dataclass
class Resolved:
    """Where a model loads from, and what it is."""

    hub_id: str  # the model the book would use with the Hub
    where: str  # the Hub id, or the local folder of the stand-in
    name: str  # what the page calls it
    record: dict | None = None  # the training record, for a model trained in this chapter

    @property
    def stand_in(self) -> bool:
        return self.hub_id in models.STAND_INS


def sentiment_model(profile: Profile) -> Resolved:
    """DistilBERT fine-tuned on SST-2 from the Hub; offline, the head trained here on
    frozen mean-pooled all-MiniLM-L6-v2 features (recorded in ``STAND_INS``)."""
    trained: dict = {}

    def build() -> Path:
        run = train_sentiment_head(profile)
        trained["record"] = run.record
        return run.path

    s = sizes(profile)
    where = models.resolve(SENTIMENT_HUB_ID, stand_in=(
        f"all-MiniLM-L6-v2 (frozen) + mean pooling + logistic-regression head trained on "
        f"{s.train:,} IMDB reviews at {s.max_len} tokens (chapter 02)", build))
    if trained:
        return Resolved(SENTIMENT_HUB_ID, where, "MiniLM + IMDB head", trained["record"])
    return Resolved(SENTIMENT_HUB_ID, where, "DistilBERT SST-2")


def sentence_encoder() -> Resolved:
    """all-MiniLM-L6-v2, from the Hub or its offline copy."""
    return Resolved(models.MINILM, models.resolve(models.MINILM), "all-MiniLM-L6-v2")


def language_model(profile: Profile, kind: str) -> Resolved:
    """GPT-2 (``kind='causal'``) or BERT (``kind='masked'``) from the Hub; offline, the small
    models chapter 03 trains on IMDB reviews (cached after their first training)."""
    from . import lm

    if kind == "causal":
        hub_id, build, name = CAUSAL_LM_HUB_ID, lambda: lm.causal_lm(profile), "GPT-2"
    elif kind == "masked":
        hub_id, build, name = MASKED_LM_HUB_ID, lambda: lm.masked_lm(profile), "BERT"
    else:
        raise ValueError(f"kind must be 'causal' or 'masked', got {kind!r}.")
    description = f"the small {kind} language model chapter 03 trains on IMDB reviews"
    where = models.resolve(hub_id, stand_in=(description, build))
    return Resolved(hub_id, where, f"chapter 03's {kind} LM" if hub_id in models.STAND_INS else name)


def models_note(used: dict[str, Resolved]) -> "HTML":
    """The visible note on which model did each job on this page, and which were stand-ins."""
    from IPython.display import HTML

    rows = "".join(
        f"<tr><td>{html.escape(task)}</td><td><code>{html.escape(r.hub_id)}</code></td>"
        f"<td>{'the model itself (the same weights online or offline)' if not r.stand_in else html.escape(models.STAND_INS.get(r.hub_id, r.name))}</td></tr>"
        for task, r in used.items())
    stand_ins = any(r.stand_in for r in used.values())
    kind, title = ("warning", "Stand-in models at CPU scale") if stand_ins else ("note", "Models on this page")
    intro = ("This profile runs at CPU scale, so the models below stand in for the Hub models named beside "
             "them, online or offline alike; the numbers on this page are the stand-ins' own "
             "(<code>TAP_PROFILE=full</code> uses the originals)." if stand_ins else
             "Every model on this page is the original Hugging Face Hub model, at its pinned revision.")
    return HTML(f'<div class="admonition {kind}"><p class="admonition-title">{title}</p><p>{intro}</p>'
                f"<table><tr><th>task</th><th>Hub model</th><th>used here</th></tr>{rows}</table></div>")


# --- classification, measured -------------------------------------------------------------

def _forward(model: nn.Module, tokenizer, texts: list[str], max_len: int, batch_size: int,
             padding: str = "longest", sort_by_length: bool = False) -> torch.Tensor:
    """Class probabilities ``[len(texts), labels]`` in the order of ``texts``. ``padding`` is
    ``'longest'`` (dynamic: pad each batch to its longest review) or ``'max_length'``;
    ``sort_by_length`` batches reviews of similar length together."""
    order = list(range(len(texts)))
    if sort_by_length:
        lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]]
        order.sort(key=lambda i: lengths[i])
    probs = torch.empty(len(texts), model.config.num_labels)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in rows], padding=padding, truncation=True, max_length=max_len,
                          return_tensors="pt")
        probs[rows] = model(**batch).logits.float().softmax(-1)
    return probs


@torch.inference_mode()
def predict_proba(model: nn.Module, tokenizer, texts: list[str], max_len: int, batch_size: int = 32,
                  padding: str = "longest", sort_by_length: bool = False) -> torch.Tensor:
    """The manual path, batched: tokenise → model → logits → softmax. ``[len(texts), labels]``."""
    model.eval()
    return _forward(model, tokenizer, texts, max_len, batch_size, padding, sort_by_length)


def label_ids(model: nn.Module, probs: torch.Tensor) -> np.ndarray:
    """Predicted IMDB label ids (0 negative, 1 positive) from class probabilities, read
    through the model's own label names (so any positive/negative label order works)."""
    names = [model.config.id2label[i].lower() for i in range(probs.shape[1])]
    positive = [i for i, n in enumerate(names) if n.startswith("pos")]
    if len(positive) != 1:
        raise ValueError(f"Cannot tell which label is positive among {names}.")
    return (probs.argmax(-1).numpy() == positive[0]).astype(int)


def truncation_sweep(model: nn.Module, tokenizer, texts: list[str], labels: list[int],
                     lengths: Iterable[int], batch_size: int = 32) -> tuple[pd.DataFrame, dict[int, torch.Tensor]]:
    """Accuracy and speed at each truncation length, one pass over the test reviews each.
    Returns the table and the probabilities per length (reused by later comparisons)."""
    gold, token_counts = np.asarray(labels), [len(t) for t in tokenizer(texts, verbose=False)["input_ids"]]
    rows, probs = [], {}
    for length in lengths:
        with timer() as clock:
            probs[length] = predict_proba(model, tokenizer, texts, length, batch_size)
        rows.append({"max tokens": length, "accuracy (%)": 100 * float((label_ids(model, probs[length]) == gold).mean()),
                     "reviews/s": len(texts) / clock["seconds"], "seconds": clock["seconds"],
                     "reviews truncated (%)": 100 * float(np.mean([n > length for n in token_counts]))})
    return pd.DataFrame(rows), probs


def batch_size_sweep(model: nn.Module, tokenizer, texts: list[str], batch_sizes: Iterable[int], max_len: int,
                     repeats: int = 3) -> pd.DataFrame:
    """Throughput (reviews/s) and latency (ms per batch) at each batch size: the same
    reviews each time, timed with warm-up and ``repeats`` interleaved repeats (median)."""
    timed = compare({bs: (lambda bs=bs: predict_proba(model, tokenizer, texts, max_len, bs)) for bs in batch_sizes},
                    repeats=repeats)
    return pd.DataFrame([{"batch size": bs, "reviews/s": len(texts) / r["median_s"],
                          "latency per batch (ms)": 1000 * r["median_s"] / math.ceil(len(texts) / bs)}
                         for bs, r in timed.items()])


def padding_share(tokenizer, texts: list[str], max_len: int, batch_size: int, padding: str, sort_by_length: bool) -> float:
    """Share of the positions the model computes on that are padding, for one batching strategy."""
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: lengths[i]) if sort_by_length else list(range(len(texts)))
    real = computed = 0
    for start in range(0, len(order), batch_size):
        chunk = [lengths[i] for i in order[start:start + batch_size]]
        width = max_len if padding == "max_length" else max(chunk)
        real, computed = real + sum(chunk), computed + width * len(chunk)
    return 1 - real / computed


PADDING_STRATEGIES = {
    "pad to max length": ("max_length", False),
    "dynamic padding": ("longest", False),
    "dynamic padding, sorted by length": ("longest", True),
}


def padding_comparison(model: nn.Module, tokenizer, texts: list[str], max_len: int, batch_size: int,
                       repeats: int = 3) -> pd.DataFrame:
    """Time and wasted positions of each padding strategy on the same reviews."""
    timed = compare({name: (lambda pad=pad, by_length=by_length: predict_proba(
        model, tokenizer, texts, max_len, batch_size, pad, by_length)) for name, (pad, by_length) in PADDING_STRATEGIES.items()},
        repeats=repeats)
    return pd.DataFrame([{"strategy": name, "seconds": r["median_s"], "reviews/s": len(texts) / r["median_s"],
                          "padding (% of positions)": 100 * padding_share(tokenizer, texts, max_len, batch_size,
                                                                          *PADDING_STRATEGIES[name])}
                         for name, r in timed.items()])


GRAD_MODES: dict[str, Callable[[], contextlib.AbstractContextManager]] = {
    "autograd on (default)": contextlib.nullcontext,
    "torch.no_grad()": torch.no_grad,
    "torch.inference_mode()": torch.inference_mode,
}


def grad_mode_comparison(model: nn.Module, tokenizer, texts: list[str], max_len: int, batch_size: int,
                         repeats: int = 3) -> pd.DataFrame:
    """The same forward passes with autograd recording (the default), under ``no_grad``
    and under ``inference_mode``."""
    model.eval()

    def run(context: Callable[[], contextlib.AbstractContextManager]) -> None:
        with context():
            _forward(model, tokenizer, texts, max_len, batch_size)

    timed = compare({name: (lambda c=context: run(c)) for name, context in GRAD_MODES.items()}, repeats=repeats)
    return pd.DataFrame([{"mode": name, "seconds": r["median_s"], "reviews/s": len(texts) / r["median_s"],
                          "slowest run (reviews/s)": len(texts) / r["max_s"],
                          "fastest run (reviews/s)": len(texts) / r["min_s"], "timed runs": r["repeats"]}
                         for name, r in timed.items()])


def faster_beyond_noise(table: pd.DataFrame, a: str, b: str, index: str = "mode", min_runs: int = 3) -> int | None:
    """Whether variant ``a`` was measurably faster than ``b`` in a timing table with the columns
    of ``grad_mode_comparison``: ``1`` when every timed run of ``a`` beat every run of ``b``,
    ``-1`` the other way round, ``0`` when their runs overlap (the difference is within the
    run-to-run noise), ``None`` with fewer than ``min_runs`` timed runs (too few to tell)."""
    t = table.set_index(index) if index in table.columns else table
    if t.loc[[a, b], "timed runs"].min() < min_runs:
        return None
    if t.loc[a, "slowest run (reviews/s)"] > t.loc[b, "fastest run (reviews/s)"]:
        return 1
    if t.loc[b, "slowest run (reviews/s)"] > t.loc[a, "fastest run (reviews/s)"]:
        return -1
    return 0


def quantize(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` dynamically quantised to int8: weights
    stored as int8, activations quantised on the fly per batch (CPU only)."""
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)


def state_size_mb(model: nn.Module) -> float:
    """Size of the model's saved weights in MB."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell() / 2**20


def quantization_comparison(model: nn.Module, tokenizer, texts: list[str], labels: list[int], max_len: int,
                            bench_texts: list[str], batch_size: int = 32, repeats: int = 3,
                            float_probs: torch.Tensor | None = None) -> tuple[pd.DataFrame, dict]:
    """float32 versus dynamic int8, side by side: accuracy and label agreement on all
    ``texts``, throughput on ``bench_texts`` (median of ``repeats``), size of the weights."""
    qmodel, gold = quantize(model), np.asarray(labels)
    if float_probs is None:
        float_probs = predict_proba(model, tokenizer, texts, max_len, batch_size)
    int8_probs = predict_proba(qmodel, tokenizer, texts, max_len, batch_size)
    variants = {"float32": (model, float_probs), "int8 (dynamic)": (qmodel, int8_probs)}
    timed = compare({name: (lambda m=m: predict_proba(m, tokenizer, bench_texts, max_len, batch_size))
                     for name, (m, _) in variants.items()}, repeats=repeats)
    table = pd.DataFrame([{"model": name, "accuracy (%)": 100 * float((label_ids(model, p) == gold).mean()),
                           "reviews/s": len(bench_texts) / timed[name]["median_s"], "weights (MB)": state_size_mb(m)}
                          for name, (m, p) in variants.items()]).set_index("model")
    table["speed-up"] = table["reviews/s"] / table.loc["float32", "reviews/s"]
    agreement = float((label_ids(model, float_probs) == label_ids(model, int8_probs)).mean())
    max_diff = float((float_probs - int8_probs).abs().max())
    return table, {"agreement": agreement, "max_prob_diff": max_diff, "quantized": qmodel, "int8_probs": int8_probs}


def classifier_records(sentiment: Resolved, model: nn.Module, quant: pd.DataFrame, test_size: int) -> dict[str, dict]:
    """Results-table rows for the classifier in float32 and int8: test accuracy and inference
    throughput from ``quantization_comparison`` (``inference_reviews_per_s``), training cost
    from the head's record offline (the int8 model is the same head, quantised after training);
    none with the Hub model (it was fine-tuned elsewhere)."""
    trained = dict(sentiment.record) if sentiment.record else {"wall_time_s": None, "trainable_params": None}
    if trained.get("trainable_params") is not None:
        trained["total_params"] = count_parameters(model)["total_params"]
    return {f"{sentiment.name}, {variant}": {**trained, "test_size": test_size,
                                              "test_accuracy": row["accuracy (%)"] / 100,
                                              "inference_reviews_per_s": row["reviews/s"]}
            for variant, row in quant.iterrows()}


def summary_table(records: dict[str, dict], batch_size: int) -> pd.DataFrame:
    """``results_table`` with its cost columns named for what they measure: the cost of
    *training* (time, examples per second, peak memory), and beside them the *inference*
    throughput measured by ``quantization_comparison`` at ``batch_size`` (blank for runs not
    timed at inference). Unrounded numbers: show it through ``format_table``."""
    from .report import results_table

    table = results_table(records).rename(columns={"train time (s)": "training time (s)",
                                                   "examples/s": "training examples/s",
                                                   "peak memory (MB)": "training peak memory (MB)"})
    table[f"inference, batches of {batch_size} (reviews/s)"] = [r.get("inference_reviews_per_s")
                                                              for r in records.values()]
    return table


# --- generation ---------------------------------------------------------------------------

@torch.inference_mode()
def greedy_decode(model: nn.Module, input_ids: torch.Tensor, max_new_tokens: int, use_cache: bool = True,
                  eos_token_id: int | None = None, step_times: list[float] | None = None) -> torch.Tensor:
    """The decoding loop written out: feed the sequence, take the most likely next token
    (argmax of the last position's logits), append it, repeat. With ``use_cache`` the keys
    and values of earlier positions are kept (the KV cache) and only the new token is fed;
    without it the whole sequence is recomputed at every step. ``[1, prompt + new]``."""
    model.eval()
    ids, past, feed = input_ids, None, input_ids
    for _ in range(max_new_tokens):
        start = time.perf_counter()
        out = model(input_ids=feed, cache=past, use_cache=use_cache)  # transformers 5: `cache`, formerly `past_key_values`
        next_id = out.logits[:, -1, :].argmax(-1, keepdim=True)  # [batch, 1]
        ids = torch.cat([ids, next_id], dim=1)
        if use_cache:
            past, feed = out.cache, next_id
        else:
            feed = ids
        if step_times is not None:
            step_times.append(time.perf_counter() - start)
        if eos_token_id is not None and bool((next_id == eos_token_id).all()):
            break
    return ids


def decoding_cost(model: nn.Module, input_ids: torch.Tensor, max_new_tokens: int, repeats: int = 3) -> pd.DataFrame:
    """Milliseconds per generated token at each step, with and without the KV cache
    (median over ``repeats`` runs, after one warm-up run; the two variants take turns)."""
    runs: dict[bool, list[list[float]]] = {True: [], False: []}
    for i in range(repeats + 1):
        for use_cache in (True, False):
            times: list[float] = []
            greedy_decode(model, input_ids, max_new_tokens, use_cache=use_cache, step_times=times)
            if i:  # the first round is the warm-up
                runs[use_cache].append(times)
    table = pd.DataFrame({f"ms per token, {'with' if cached else 'without'} KV cache": 1000 * np.median(np.array(r), axis=0)
                          for cached, r in runs.items()})
    table.insert(0, "sequence length", input_ids.shape[1] + np.arange(max_new_tokens))
    return table


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """One sampling step's logit processing, written out (the order ``generate()`` uses):
    divide by the temperature, keep the ``top_k`` largest, keep the smallest set of tokens
    whose probability reaches ``top_p``. Removed tokens get ``-inf``. ``[..., vocab]``."""
    logits = logits / temperature
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop = cumulative - sorted_logits.softmax(-1) >= top_p  # the mass before this token already reaches top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@torch.inference_mode()
def next_token_distributions(model: nn.Module, tokenizer, prompt: str, settings: dict[str, dict],
                             n: int = 12) -> dict[str, dict[str, float]]:
    """For one prompt, the probabilities of the ``n`` most likely next tokens after each
    setting's processing (``filter_logits`` keyword arguments), renormalised."""
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    logits = model(input_ids=ids).logits[0, -1]
    top = torch.topk(logits, n).indices
    names: list[str] = []
    for i in top.tolist():
        name = repr(tokenizer.decode([i]))
        names.append(name if name not in names else f"{name} (id {i})")
    return {label: dict(zip(names, filter_logits(logits, **kw).softmax(-1)[top].tolist()))
            for label, kw in settings.items()}


@torch.inference_mode()
def kept_tokens(model: nn.Module, tokenizer, prompt: str, **settings) -> int:
    """How many tokens of the whole vocabulary survive ``filter_logits(**settings)`` as
    candidates for the token after ``prompt`` (top-p keeps more when the model is unsure)."""
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    return int(torch.isfinite(filter_logits(model(input_ids=ids).logits[0, -1], **settings)).sum())


SAMPLING = {
    "greedy": {"do_sample": False},
    "top-k (k=50)": {"do_sample": True, "top_k": 50, "top_p": 1.0},
    "top-p (p=0.9)": {"do_sample": True, "top_k": 0, "top_p": 0.9},
    "temperature 0.7": {"do_sample": True, "top_k": 0, "top_p": 1.0, "temperature": 0.7},
    "temperature 1.3": {"do_sample": True, "top_k": 0, "top_p": 1.0, "temperature": 1.3},
}


def one_line(text: str) -> str:
    """Generated text on one line: a line break shown as ``↵``, a run of them as ``↵×n``
    (a model trained on IMDB reviews generates their paragraph breaks, often many in a row)."""
    text = re.sub(r"\n{3,}", lambda m: f"↵×{len(m.group())}", text.replace("\r", ""))
    return text.replace("\n", "↵")


def model_note(resolved: Resolved, model: nn.Module) -> str:
    """One sentence on what a language model is: its size, and offline how it was trained."""
    params = count_parameters(model)["total_params"]
    if not resolved.stand_in:
        return f"The model is {resolved.name} ({params / 1e6:,.0f} million parameters), pre-trained on web-scale text."
    from .lm import read_record

    record = read_record(resolved.where)
    tokens = f" on {record['train_tokens']:,} tokens of IMDB reviews" if record.get("train_tokens") else " on IMDB reviews"
    return (f"The model is {resolved.name}: {params / 1e6:.1f} million parameters, pre-trained for "
            f"{record.get('wall_time_s', float('nan')):.0f} s{tokens} in chapter 03.")


def distinct_n(token_lists: list[list[int]], n: int = 2) -> float:
    """Distinct n-grams over all n-grams in the generated tokens (1.0: no n-gram repeats)."""
    grams = [tuple(t[i:i + n]) for t in token_lists for i in range(len(t) - n + 1)]
    return len(set(grams)) / max(len(grams), 1)


@torch.inference_mode()
def sampling_comparison(model: nn.Module, tokenizer, prompts: list[str], max_new_tokens: int,
                        strategies: dict[str, dict] = SAMPLING, seed: int = 0) -> pd.DataFrame:
    """``generate()`` with each decoding strategy on the same prompts: one example
    continuation, the share of distinct bigrams (repetition) and the mean log-probability
    the model gives its own continuation (how "safe" it is)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = []
    for name, kwargs in strategies.items():
        torch.manual_seed(seed)
        generated, logprobs, example = [], [], ""
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                 pad_token_id=pad, **kwargs)
            new = out[0, ids.shape[1]:]
            if len(new) == 0:
                continue
            logits = model(input_ids=out).logits[0, ids.shape[1] - 1:-1]  # predicts each new token
            logprobs.append(logits.log_softmax(-1).gather(-1, new[:, None]).mean().item())
            generated.append(new.tolist())
            example = example or one_line(prompt + tokenizer.decode(new, skip_special_tokens=True))
        rows.append({"strategy": name, "example (first prompt)": example,
                     "distinct bigrams (%)": 100 * distinct_n(generated, 2),
                     "mean log-prob per token": float(np.mean(logprobs)) if logprobs else float("nan")})
    return pd.DataFrame(rows).set_index("strategy")


# --- sentence similarity ----------------------------------------------------------------

def embeddings_from_pipeline(outputs: list) -> torch.Tensor:
    """Mean-pooled, unit-length sentence vectors from ``pipeline('feature-extraction')``
    outputs (one ``[1, tokens, d]`` nested list per sentence, no padding)."""
    vectors = torch.stack([torch.tensor(o[0]).mean(0) for o in outputs])
    return F.normalize(vectors, dim=-1)


# --- models that exist only on the Hub ------------------------------------------------------

def unavailable_note(models_by_task: dict[str, str], reason: str) -> "HTML":
    """A visible note on the page naming what was not run and why."""
    from IPython.display import HTML

    items = "".join(f"<li>{html.escape(task)}: <code>{html.escape(m)}</code></li>" for task, m in models_by_task.items())
    return HTML('<div class="admonition warning"><p class="admonition-title">Not run in this build</p>'
                f"<p>{html.escape(reason)}</p><ul>{items}</ul>"
                "<p>Rebuild with the Hub reachable (and <code>HF_HUB_OFFLINE</code> unset) to run them.</p></div>")


def hub_extras(reviews: list[str], prompt: str, max_new_tokens: int = 30):
    """The extras of ``HUB_EXTRAS`` when the Hub is reachable, whatever the profile (a table of
    inputs and outputs, nothing on it used elsewhere on the page); otherwise the visible note
    saying what was skipped."""
    if not hub_available():
        return unavailable_note({task: hub_id for task, (hub_id, _) in HUB_EXTRAS.items()},
                                "These extras load the original models from the Hugging Face Hub, which is "
                                "unreachable here (or offline mode is set); nothing else on the page depends on them.")
    rows = []
    for task, (hub_id, kind) in HUB_EXTRAS.items():
        run = pipeline(kind, model=models.hub_snapshot(hub_id))
        if kind == "text-generation":
            out = run(prompt, max_new_tokens=max_new_tokens, do_sample=False)[0]["generated_text"]
            rows.append({"extra": task, "model": hub_id, "input": prompt, "output": out})
            continue
        for text in reviews if "sentiment" in task else LANGUAGE_SAMPLES:
            best = run(text)[0]
            rows.append({"extra": task, "model": hub_id, "input": text,
                         "output": f"{best['label']} ({best['score']:.2f})"})
    return pd.DataFrame(rows).set_index("extra")


def hub_only_tasks(article: str, sentence: str, max_new_tokens: int = 100):
    """Translation with T5-small and summarisation with DistilBART, when the Hub is
    reachable (a table of outputs); otherwise the visible note saying they were not run."""
    if not hub_available():
        return unavailable_note(HUB_ONLY, "The Hugging Face Hub is unreachable (or offline mode is set), and these "
                                "models exist only there; the book has no offline stand-in for them.")
    from transformers import AutoModelForSeq2SeqLM

    rows = []
    for (task, hub_id), source in zip(HUB_ONLY.items(), (f"translate English to German: {sentence}", article)):
        where = models.hub_snapshot(hub_id)  # pinned revision
        tokenizer, model = AutoTokenizer.from_pretrained(where), AutoModelForSeq2SeqLM.from_pretrained(where).eval()
        batch = tokenizer(source, truncation=True, max_length=512, return_tensors="pt")
        with timer() as clock, torch.inference_mode():
            out = model.generate(**batch, num_beams=4, max_new_tokens=max_new_tokens)
        rows.append({"task": task, "model": hub_id, "input": source[:200] + ("…" if len(source) > 200 else ""),
                     "output": tokenizer.decode(out[0], skip_special_tokens=True), "seconds": clock["seconds"]})
    from .report import format_table

    return format_table(pd.DataFrame(rows).set_index("task"))


# --- the chapter's experiment, for ``python -m tap run ch02`` ------------------------------

def chapter_experiment(profile: Profile) -> "Outcome":
    """Chapter 02's measurements of the sentiment classifier: accuracy against truncation
    length, float32 versus int8, throughput against batch size."""
    from .baselines import tfidf_logreg
    from .experiments import Outcome
    from .plots import sweep

    s, splits = sizes(profile), imdb_subsets(profile)
    resolved = sentiment_model(profile)
    tokenizer = AutoTokenizer.from_pretrained(resolved.where)
    model = AutoModelForSequenceClassification.from_pretrained(resolved.where).eval()
    texts, labels = list(splits.test["text"]), list(splits.test["label"])
    lengths, probs = truncation_sweep(model, tokenizer, texts, labels, sorted(set(s.lengths) | {s.max_len}))
    quant, _ = quantization_comparison(model, tokenizer, texts, labels, s.max_len, texts[:s.bench_examples],
                                       repeats=s.repeats, float_probs=probs[s.max_len])
    batches = batch_size_sweep(model, tokenizer, texts[:s.bench_examples], s.batch_sizes, s.max_len, s.repeats)
    records = classifier_records(resolved, model, quant, len(texts))
    records["TF-IDF + logistic regression"] = tfidf_logreg(splits.train["text"], splits.train["label"], texts, labels)
    figures = {"truncation": sweep(lengths["max tokens"], {"test accuracy (%)": {"accuracy": lengths["accuracy (%)"]},
                                                          "throughput (reviews/s)": {"reviews/s": lengths["reviews/s"]}},
                                   xlabel="maximum tokens per review"),
               "batch_size": sweep(batches["batch size"], {"throughput (reviews/s)": {"": batches["reviews/s"]},
                                                           "latency per batch (ms)": {"": batches["latency per batch (ms)"]}},
                                   xlabel="batch size", logx=True)}
    return Outcome(records, figures)
