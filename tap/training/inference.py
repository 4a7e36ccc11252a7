"""Classifying text with a Hugging Face model, and what inference costs (chapter 02).

The manual path, batched (tokenise → model → logits → softmax → label), the share of padding
each batching strategy computes on, the autograd switches compared, dynamic int8
quantisation, sentence embeddings from the feature-extraction pipeline, and the mean-pooled
classifier the chapter builds as an offline stand-in for a Hub sentiment model: all-MiniLM-L6-v2,
frozen, with a logistic-regression head on the mean of its token vectors, saved so that
``from_pretrained`` and ``pipeline()`` load it like any Hub model.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig, BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from ..core.measure import time_calls, timer
from ..core.report import results_table
from ..methods.parameter_counts import count_parameters
from ..models.pooled import mean_pool

LABELS = {0: "NEGATIVE", 1: "POSITIVE"}  # the SST-2 model's names, so both classifiers read alike


# --- the offline sentiment classifier -------------------------------------------------------


class MeanPooledBertConfig(BertConfig):
    """A BERT configuration whose classifier reads the mean of the token vectors."""

    model_type = "tap-mean-pooled-bert"


class MeanPooledBertForSequenceClassification(BertPreTrainedModel):
    """BERT body → mean pooling (``pooled.mean_pool``) → linear head → logits.

    ``BertForSequenceClassification`` classifies from the [CLS] token through its pooler
    instead; a sentence-embedding model such as all-MiniLM-L6-v2 was trained for mean pooling,
    so its head must read the mean. This is ``pooled.MeanPooledClassifier``'s computation as a
    thin Hugging Face model, because the classifier stands in for a Hub model (DistilBERT
    SST-2): it is saved as a folder that ``AutoModelForSequenceClassification.from_pretrained``
    and ``pipeline("text-classification")`` load, and both need a ``PreTrainedModel`` (a
    config with ``id2label``, ``save_pretrained``, an output with ``.logits``)."""

    config_class = MeanPooledBertConfig

    def __init__(self, config: MeanPooledBertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state  # [batch, tokens, d]
        logits = self.classifier(mean_pool(hidden, attention_mask))  # [batch, labels]
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


# Registered like any Hugging Face architecture, so AutoModelForSequenceClassification and
# pipeline("text-classification") load a saved folder by name.
AutoConfig.register(MeanPooledBertConfig.model_type, MeanPooledBertConfig, exist_ok=True)
AutoModelForSequenceClassification.register(
    MeanPooledBertConfig, MeanPooledBertForSequenceClassification, exist_ok=True
)


@torch.inference_mode()
def mean_pooled_features(
    encoder: nn.Module, tokenizer, texts: list[str], max_len: int, batch_size: int = 32
) -> torch.Tensor:
    """Sentence embeddings ``[len(texts), d]`` from a frozen encoder (``BertModel``), computed on
    the encoder's device and returned on the CPU."""
    encoder.eval()
    dev, out = _device_of(encoder), []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size], padding=True, truncation=True, max_length=max_len, return_tensors="pt"
        ).to(dev)
        out.append(mean_pool(encoder(**batch).last_hidden_state, batch["attention_mask"]).cpu())
    return torch.cat(out)


def fit_logistic_head(features: torch.Tensor, labels: Iterable[int], seed: int = 0) -> tuple[nn.Linear, float]:
    """Logistic regression on frozen features, its strength chosen by 5-fold cross-validation
    on the training features only; returned as a 2-logit ``nn.Linear`` with logits
    ``(-z/2, +z/2)``, whose softmax equals the regression's probability ``sigmoid(z)``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    x, y = features.double().numpy(), np.asarray(list(labels))
    search = GridSearchCV(
        LogisticRegression(max_iter=5_000),
        {"C": [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]},
        cv=StratifiedKFold(5, shuffle=True, random_state=seed),
    )
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
    config = MeanPooledBertConfig(
        **{**base_config, "num_labels": 2, "id2label": LABELS, "label2id": {v: k for k, v in LABELS.items()}}
    )
    model = MeanPooledBertForSequenceClassification(config)
    body = {k: v for k, v in BertModel.from_pretrained(base).state_dict().items() if not k.startswith("pooler.")}
    model.bert.load_state_dict(body)  # the [CLS] pooler is not used by mean pooling
    model.classifier.load_state_dict(head.state_dict())
    return model.eval()


# --- the manual path, batched --------------------------------------------------------------


def _device_of(model: nn.Module) -> torch.device:
    """Where ``model``'s weights are: its inputs go there."""
    return next(model.parameters()).device


def _forward(
    model: nn.Module,
    tokenizer,
    texts: list[str],
    max_len: int,
    batch_size: int,
    padding: str = "longest",
    sort_by_length: bool = False,
) -> torch.Tensor:
    """Class probabilities ``[len(texts), labels]`` in the order of ``texts``. ``padding`` is
    ``'longest'`` (dynamic: pad each batch to its longest review) or ``'max_length'``;
    ``sort_by_length`` batches reviews of similar length together. The batches go to the model's
    device; the probabilities come back on the CPU."""
    order = list(range(len(texts)))
    if sort_by_length:
        lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]]
        order.sort(key=lambda i: lengths[i])
    probs = torch.empty(len(texts), model.config.num_labels)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = tokenizer(
            [texts[i] for i in rows], padding=padding, truncation=True, max_length=max_len, return_tensors="pt"
        ).to(_device_of(model))
        probs[rows] = model(**batch).logits.float().softmax(-1).cpu()
    return probs


@torch.inference_mode()
def predict_proba(
    model: nn.Module,
    tokenizer,
    texts: list[str],
    max_len: int,
    batch_size: int = 32,
    padding: str = "longest",
    sort_by_length: bool = False,
) -> torch.Tensor:
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


# --- what inference costs: each measured on the same reviews --------------------------------


def batch_size_sweep(
    model: nn.Module, tokenizer, texts: list[str], batch_sizes: Iterable[int], max_len: int, repeats: int = 3
) -> pd.DataFrame:
    """Throughput (reviews/s) and latency (ms per batch) at each batch size: the same
    reviews each time, timed with warm-up and ``repeats`` interleaved repeats (median)."""
    timed = time_calls(
        {bs: (lambda bs=bs: predict_proba(model, tokenizer, texts, max_len, bs)) for bs in batch_sizes},
        repeats=repeats,
    )
    return pd.DataFrame(
        [
            {
                "batch size": bs,
                "reviews/s": len(texts) / r["median_s"],
                "latency per batch (ms)": 1000 * r["median_s"] / math.ceil(len(texts) / bs),
            }
            for bs, r in timed.items()
        ]
    )


def padding_share(
    tokenizer, texts: list[str], max_len: int, batch_size: int, padding: str, sort_by_length: bool
) -> float:
    """Share of the positions the model computes on that are padding, for one batching strategy."""
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: lengths[i]) if sort_by_length else list(range(len(texts)))
    real = computed = 0
    for start in range(0, len(order), batch_size):
        chunk = [lengths[i] for i in order[start : start + batch_size]]
        width = max_len if padding == "max_length" else max(chunk)
        real, computed = real + sum(chunk), computed + width * len(chunk)
    return 1 - real / computed


PADDING_STRATEGIES = {
    "pad to max length": ("max_length", False),
    "dynamic padding": ("longest", False),
    "dynamic padding, sorted by length": ("longest", True),
}


def padding_comparison(
    model: nn.Module, tokenizer, texts: list[str], max_len: int, batch_size: int, repeats: int = 3
) -> pd.DataFrame:
    """Time and wasted positions of each padding strategy on the same reviews."""
    timed = time_calls(
        {
            name: (
                lambda pad=pad, by_length=by_length: predict_proba(
                    model, tokenizer, texts, max_len, batch_size, pad, by_length
                )
            )
            for name, (pad, by_length) in PADDING_STRATEGIES.items()
        },
        repeats=repeats,
    )
    return pd.DataFrame(
        [
            {
                "strategy": name,
                "seconds": r["median_s"],
                "reviews/s": len(texts) / r["median_s"],
                "padding (% of positions)": 100
                * padding_share(tokenizer, texts, max_len, batch_size, *PADDING_STRATEGIES[name]),
            }
            for name, r in timed.items()
        ]
    )


def truncation_sweep(
    model: nn.Module, tokenizer, texts: list[str], labels: list[int], lengths: Iterable[int], batch_size: int = 32
) -> tuple[pd.DataFrame, dict[int, torch.Tensor]]:
    """Accuracy and speed at each truncation length, one pass over the test reviews each.
    Returns the table and the probabilities per length (reused by later comparisons)."""
    gold, token_counts = np.asarray(labels), [len(t) for t in tokenizer(texts, verbose=False)["input_ids"]]
    rows, probs = [], {}
    for length in lengths:
        with timer() as clock:
            probs[length] = predict_proba(model, tokenizer, texts, length, batch_size)
        rows.append(
            {
                "max tokens": length,
                "accuracy (%)": 100 * float((label_ids(model, probs[length]) == gold).mean()),
                "reviews/s": len(texts) / clock["seconds"],
                "seconds": clock["seconds"],
                "reviews truncated (%)": 100 * float(np.mean([n > length for n in token_counts])),
            }
        )
    return pd.DataFrame(rows), probs


GRAD_MODES: dict[str, Callable[[], contextlib.AbstractContextManager]] = {
    "autograd on (default)": contextlib.nullcontext,
    "torch.no_grad()": torch.no_grad,
    "torch.inference_mode()": torch.inference_mode,
}


def grad_mode_comparison(
    model: nn.Module, tokenizer, texts: list[str], max_len: int, batch_size: int, repeats: int = 3
) -> pd.DataFrame:
    """The same forward passes with autograd recording (the default), under ``no_grad``
    and under ``inference_mode``."""
    model.eval()

    def run(context: Callable[[], contextlib.AbstractContextManager]) -> None:
        with context():
            _forward(model, tokenizer, texts, max_len, batch_size)

    timed = time_calls({name: (lambda c=context: run(c)) for name, context in GRAD_MODES.items()}, repeats=repeats)
    return pd.DataFrame(
        [
            {
                "mode": name,
                "seconds": r["median_s"],
                "reviews/s": len(texts) / r["median_s"],
                "slowest run (reviews/s)": len(texts) / r["max_s"],
                "fastest run (reviews/s)": len(texts) / r["min_s"],
                "timed runs": r["repeats"],
            }
            for name, r in timed.items()
        ]
    )


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
    stored as int8, activations quantised on the fly per batch. Dynamic quantisation runs on CPUs
    only, so the copy is on the CPU whatever device ``model`` is on."""
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(copy.deepcopy(model).cpu().eval(), {nn.Linear}, dtype=torch.qint8)


def state_size_mb(model: nn.Module) -> float:
    """Size of the model's saved weights in MB."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell() / 2**20


def quantization_comparison(
    model: nn.Module,
    tokenizer,
    texts: list[str],
    labels: list[int],
    max_len: int,
    bench_texts: list[str],
    batch_size: int = 32,
    repeats: int = 3,
    float_probs: torch.Tensor | None = None,
) -> tuple[pd.DataFrame, dict]:
    """float32 versus dynamic int8, side by side: accuracy and label agreement on all
    ``texts``, throughput on ``bench_texts`` (median of ``repeats``), size of the weights. int8
    runs only on a CPU, so float32 is timed there too (a copy, when ``model`` is on a GPU): the
    speed-up compares the two on the same hardware."""
    qmodel, gold = quantize(model), np.asarray(labels)
    if float_probs is None:
        float_probs = predict_proba(model, tokenizer, texts, max_len, batch_size)
    int8_probs = predict_proba(qmodel, tokenizer, texts, max_len, batch_size)
    on_cpu = model if _device_of(model).type == "cpu" else copy.deepcopy(model).cpu()
    variants = {"float32": (on_cpu, float_probs), "int8 (dynamic)": (qmodel, int8_probs)}
    timed = time_calls(
        {
            name: (lambda m=m: predict_proba(m, tokenizer, bench_texts, max_len, batch_size))
            for name, (m, _) in variants.items()
        },
        repeats=repeats,
    )
    table = pd.DataFrame(
        [
            {
                "model": name,
                "accuracy (%)": 100 * float((label_ids(model, p) == gold).mean()),
                "reviews/s": len(bench_texts) / timed[name]["median_s"],
                "weights (MB)": state_size_mb(m),
            }
            for name, (m, p) in variants.items()
        ]
    ).set_index("model")
    table["speed-up"] = table["reviews/s"] / table.loc["float32", "reviews/s"]
    agreement = float((label_ids(model, float_probs) == label_ids(model, int8_probs)).mean())
    max_diff = float((float_probs - int8_probs).abs().max())
    return table, {"agreement": agreement, "max_prob_diff": max_diff, "quantized": qmodel, "int8_probs": int8_probs}


def classifier_records(
    name: str, training: dict | None, model: nn.Module, quant: pd.DataFrame, test_size: int
) -> dict[str, dict]:
    """Results-table rows for the classifier ``name`` in float32 and int8: test accuracy and
    inference throughput from ``quantization_comparison`` (``inference_reviews_per_s``), training
    cost from its ``training`` record when it was trained here (the int8 model is the same head,
    quantised after training); none for a model fine-tuned elsewhere."""
    trained = dict(training) if training else {"wall_time_s": None, "trainable_params": None}
    if trained.get("trainable_params") is not None:
        trained["total_params"] = count_parameters(model)["total_params"]
    return {
        f"{name}, {variant}": {
            **trained,
            "test_size": test_size,
            "test_accuracy": row["accuracy (%)"] / 100,
            "inference_reviews_per_s": row["reviews/s"],
        }
        for variant, row in quant.iterrows()
    }


def summary_table(records: dict[str, dict], batch_size: int) -> pd.DataFrame:
    """``results_table`` with its cost columns named for what they measure: the cost of
    *training* (time, examples per second, memory used), and beside them the *inference*
    throughput measured by ``quantization_comparison`` at ``batch_size`` (blank for runs not
    timed at inference). Unrounded numbers: show it through ``format_table``."""
    table = results_table(records).rename(
        columns={
            "train time (s)": "training time (s)",
            "examples/s": "training examples/s",
            "memory used (MB)": "training memory used (MB)",
        }
    )
    table[f"inference, batches of {batch_size} (reviews/s)"] = [
        r.get("inference_reviews_per_s") for r in records.values()
    ]
    return table


# --- sentence similarity ----------------------------------------------------------------


def embeddings_from_pipeline(outputs: list) -> torch.Tensor:
    """Mean-pooled, unit-length sentence vectors from ``pipeline('feature-extraction')``
    outputs (one ``[1, tokens, d]`` nested list per sentence, no padding)."""
    vectors = torch.stack([torch.tensor(o[0]).mean(0) for o in outputs])
    return F.normalize(vectors, dim=-1)
