"""Chapter 02's experiment: what inference with Hugging Face models costs on a CPU, measured on
IMDB test reviews. For the sentiment classifier: throughput against batch size, the padding
strategies, accuracy and speed against truncation length, the autograd switches, float32
versus dynamic int8, and the TF-IDF anchor; for the language model: what the KV cache saves
per token, the sampling filters on one prompt, and the decoding strategies on a few prompts.

Models are Hub-first (``tap.training.hub_models``): DistilBERT fine-tuned on SST-2 and GPT-2 in the
``full`` profile. At CPU scale the stand-ins are a sentiment classifier trained here (a
logistic-regression head on frozen, mean-pooled all-MiniLM-L6-v2 features, ``inference``) and
chapter 03's causal language model. ``facts`` words the measurements for the page's prose.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertModel,
    PreTrainedTokenizerBase,
)

from ..core.cache import cached_folder, source_digest
from ..core.devices import device
from ..core.measure import hardware, timer, track_peak_memory
from ..core.profiles import Profile, as_profile
from ..core.report import gap, speed_words, standard_error, with_article
from ..data import datasets, text
from ..data.datasets import Splits, imdb_splits
from ..data.text import clean
from ..methods.parameter_counts import count_parameters
from ..models import pretrained
from ..pages import plots
from ..training import generation, inference
from ..training.baselines import cached_tfidf_logreg
from ..training.hub_models import SENTIMENT_HUB_ID, Resolved, language_model, model_note
from .harness import Outcome


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
    "smoke": InferenceSizes(
        train=40,
        test=24,
        max_len=32,
        lengths=(16, 32),
        batch_sizes=(1, 4),
        bench_examples=4,
        pad_len=32,
        repeats=1,
        new_tokens=8,
    ),
    "book": InferenceSizes(
        train=1_000,
        test=400,
        max_len=128,
        lengths=(32, 64, 128, 256),
        batch_sizes=(1, 2, 4, 8, 16, 32),
        bench_examples=32,
        pad_len=512,
        repeats=3,
        new_tokens=40,
    ),
    "full": InferenceSizes(
        train=5_000,
        test=2_000,
        max_len=256,
        lengths=(64, 128, 256, 512),
        batch_sizes=(1, 2, 4, 8, 16, 32, 64),
        bench_examples=128,
        pad_len=512,
        repeats=5,
        new_tokens=60,
    ),
}
PAD_BATCH, MODES_BATCH, QUANT_BATCH = 8, 16, 16  # batch sizes of the padding, autograd and int8 comparisons
NEXT_TOKEN_PROMPT = "The acting was"
# The page's one set of sampling settings, for the next-token figure and the generation table alike.
COOL_T, HOT_T, TOP_K, TOP_P = 0.7, 1.3, 5, 0.9
NEXT_TOKEN_SETTINGS = {
    "T = 1 (unchanged)": {},
    f"T = {COOL_T:g}": {"temperature": COOL_T},
    f"T = {HOT_T:g}": {"temperature": HOT_T},
    f"top-k, k = {TOP_K}": {"top_k": TOP_K},
    f"top-p, p = {TOP_P:g}": {"top_p": TOP_P},
}  # filter_logits arguments
SAMPLING = {
    "greedy": {"do_sample": False},
    f"top-k (k={TOP_K})": {"do_sample": True, "top_k": TOP_K, "top_p": 1.0},
    f"top-p (p={TOP_P:g})": {"do_sample": True, "top_k": 0, "top_p": TOP_P},
    f"temperature {COOL_T:g}": {"do_sample": True, "top_k": 0, "top_p": 1.0, "temperature": COOL_T},
    f"temperature {HOT_T:g}": {"do_sample": True, "top_k": 0, "top_p": 1.0, "temperature": HOT_T},
}  # generate() arguments (generation.sampling_comparison)
PROMPTS = [
    "This movie was",
    "I have never seen a film",
    "The acting in this film",
    "My favourite scene is",
    "The director of this movie",
    "Honestly, the plot",
]


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
    splits.note = (
        f"IMDB: {len(splits.train):,} training reviews (for the offline head) and "
        f"{len(splits.test):,} test reviews, both balanced."
    )
    return splits


# --- the models: Hub-first, with stand-ins at CPU scale -------------------------------------


def train_sentiment_head(profile: Profile, seed: int = 0) -> tuple[Path, dict]:
    """Train (or take from the cache) the logistic-regression head on frozen mean-pooled
    MiniLM features of ``sizes(profile).train`` IMDB reviews, and save the whole classifier
    as a folder that ``from_pretrained`` and ``pipeline()`` load. Returns the folder and the
    training record."""
    s, base = sizes(profile), pretrained.minilm_path()
    config = {
        "base": "all-MiniLM-L6-v2",
        "train": s.train,
        "max_len": s.max_len,
        "seed": seed,
        "code": source_digest(datasets, text, inference, sys.modules[__name__]),
    }

    def compute(folder: Path) -> dict:
        splits = imdb_subsets(profile)
        tokenizer, encoder = AutoTokenizer.from_pretrained(base), BertModel.from_pretrained(base).to(device())
        with track_peak_memory() as mem, timer() as clock:
            with timer() as reading:
                features = inference.mean_pooled_features(encoder, tokenizer, list(splits.train["text"]), s.max_len)
            head, strength = inference.fit_logistic_head(features, splits.train["label"], seed)
        gold = np.asarray(splits.train["label"])
        with torch.no_grad():
            train_acc = float((head(features).argmax(-1).numpy() == gold).mean())
        classifier = inference.build_mean_pooled_classifier(base, head)
        classifier.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return {
            "train_examples": len(features),
            "max_len": s.max_len,
            "wall_time_s": clock["seconds"],
            "feature_time_s": reading["seconds"],
            "fit_time_s": clock["seconds"] - reading["seconds"],
            "examples_per_s": len(features) / clock["seconds"],
            "logreg_C": strength,
            "train_accuracy": train_acc,
            "trainable_params": head.weight.numel() + head.bias.numel(),
            "total_params": count_parameters(classifier)["total_params"],
            "hardware": hardware(),
            "seed": seed,
            **mem,
        }

    return cached_folder("ch02-sentiment-minilm", config, compute)


def sentiment_model(profile: Profile) -> Resolved:
    """DistilBERT fine-tuned on SST-2 from the Hub; offline, the head trained here on
    frozen mean-pooled all-MiniLM-L6-v2 features (recorded in ``STAND_INS``)."""
    trained: dict = {}

    def build() -> Path:
        folder, trained["record"] = train_sentiment_head(profile)
        return folder

    s = sizes(profile)
    where = pretrained.resolve(
        SENTIMENT_HUB_ID,
        stand_in=(
            f"all-MiniLM-L6-v2 (frozen) + mean pooling + logistic-regression head trained on "
            f"{s.train:,} IMDB reviews at {s.max_len} tokens (chapter 02)",
            build,
        ),
    )
    if trained:
        return Resolved(SENTIMENT_HUB_ID, where, "MiniLM + IMDB head", trained["record"])
    return Resolved(SENTIMENT_HUB_ID, where, "DistilBERT SST-2")


# --- the experiment -------------------------------------------------------------------------


@dataclass
class InferenceContext:
    """What chapter 02's page shows beyond the records: the models, the data and each measurement's table."""

    sizes: InferenceSizes
    imdb: Splits
    sentiment: Resolved  # the sentiment classifier: the Hub's, or the stand-in trained here
    causal: Resolved  # the causal language model
    tokenizer: PreTrainedTokenizerBase  # the sentiment classifier's
    classifier: nn.Module
    bench: list[str]  # the test reviews every timing reads
    batches: pd.DataFrame  # inference.batch_size_sweep
    padding: pd.DataFrame  # inference.padding_comparison
    lengths: pd.DataFrame  # inference.truncation_sweep: accuracy and speed by truncation length
    modes: pd.DataFrame  # inference.grad_mode_comparison
    quant: pd.DataFrame  # inference.quantization_comparison: float32 against int8
    q_info: dict  # what else the quantisation measured: the two models' label agreement
    q_flips: dict  # the test reviews whose label int8 changed, each way, and how near 0.5 they were (label_flips)
    decoding: pd.DataFrame  # generation.decoding_cost: time per token with and without the KV cache
    next_token: dict[str, dict[str, float]]  # the ten likeliest next tokens under each of NEXT_TOKEN_SETTINGS
    top_p_kept: dict[str, int]  # how many tokens top-p keeps after each prompt (NEXT_TOKEN_PROMPT's and PROMPTS)
    sampling: pd.DataFrame  # generation.sampling_comparison
    prompt_tokens: int  # the length of the KV-cache measurement's prompt
    vocab_size: int  # the language model's
    lm_note: str  # hub_models.model_note: what the language model is


def experiment(profile: Profile | None = None) -> Outcome:
    """Every measurement of chapter 02 (the offline head and language models from the cache
    when they are there): records for the classifier in float32 and int8 and for TF-IDF, the
    figures, and in ``context`` the models, the data and each measurement's table."""
    p = as_profile(profile)
    s, imdb = sizes(p), imdb_subsets(p)
    sentiment, causal = sentiment_model(p), language_model(p, "causal")
    tokenizer = AutoTokenizer.from_pretrained(sentiment.where)
    classifier = AutoModelForSequenceClassification.from_pretrained(sentiment.where).eval().to(device())
    texts, gold = list(imdb.test["text"]), list(imdb.test["label"])
    bench = texts[: s.bench_examples]
    batches = inference.batch_size_sweep(classifier, tokenizer, bench, s.batch_sizes, s.max_len, s.repeats)
    padding = inference.padding_comparison(classifier, tokenizer, bench, s.pad_len, PAD_BATCH, s.repeats)
    lengths, probs_at = inference.truncation_sweep(
        classifier, tokenizer, texts, gold, sorted(set(s.lengths) | {s.max_len})
    )
    modes = inference.grad_mode_comparison(classifier, tokenizer, bench, s.max_len, MODES_BATCH, s.repeats)
    quant, q_info = inference.quantization_comparison(
        classifier, tokenizer, texts, gold, s.max_len, bench, QUANT_BATCH, s.repeats, float_probs=probs_at[s.max_len]
    )
    records = {
        **inference.classifier_records(sentiment.name, sentiment.record, classifier, quant, len(texts)),
        "TF-IDF + logistic regression": cached_tfidf_logreg(imdb.train["text"], imdb.train["label"], texts, gold),
    }

    lm_tokenizer = AutoTokenizer.from_pretrained(causal.where)
    lm = AutoModelForCausalLM.from_pretrained(causal.where).eval().to(device())
    longest = lm.config.max_position_embeddings  # the longest sequence the model can read
    prompt = lm_tokenizer(
        texts[0], return_tensors="pt", truncation=True, max_length=max(8, min(200, longest - s.new_tokens))
    )["input_ids"].to(lm.device)
    decoding = generation.decoding_cost(lm, prompt, s.new_tokens, repeats=s.repeats)
    next_token = generation.next_token_distributions(lm, lm_tokenizer, NEXT_TOKEN_PROMPT, NEXT_TOKEN_SETTINGS, n=10)
    top_p_kept = {
        start: generation.kept_tokens(lm, lm_tokenizer, start, top_p=TOP_P)
        for start in (NEXT_TOKEN_PROMPT, NEXT_TOKEN_PROMPT + " very", *PROMPTS)
    }
    sampling = generation.sampling_comparison(lm, lm_tokenizer, PROMPTS, s.new_tokens, SAMPLING)
    c = InferenceContext(
        sizes=s,
        imdb=imdb,
        sentiment=sentiment,
        causal=causal,
        tokenizer=tokenizer,
        classifier=classifier,
        bench=bench,
        batches=batches,
        padding=padding,
        lengths=lengths,
        modes=modes,
        quant=quant,
        q_info=q_info,
        q_flips=label_flips(classifier, probs_at[s.max_len], q_info["int8_probs"], gold),
        decoding=decoding,
        next_token=next_token,
        top_p_kept=top_p_kept,
        sampling=sampling,
        prompt_tokens=prompt.shape[1],
        vocab_size=lm.config.vocab_size,
        lm_note=model_note(causal, lm),
    )
    return Outcome(records, _figures(c), c)


def label_flips(model: nn.Module, float_probs: torch.Tensor, int8_probs: torch.Tensor, gold: list[int]) -> dict:
    """The test reviews whose label quantisation changed: how many went from right to wrong
    (``worse``) and from wrong to right (``better``), the largest distance from 0.5 of such a
    review's float32 P(positive) (``margin``: none flipped farther from the decision boundary),
    and the share of all test reviews that close to it (``near``)."""
    gold = np.asarray(gold)
    before, after = inference.label_ids(model, float_probs), inference.label_ids(model, int8_probs)
    positive = [i for i, n in model.config.id2label.items() if n.lower().startswith("pos")][0]
    distance = (float_probs[:, positive] - 0.5).abs().numpy()
    flipped = before != after
    margin = float(distance[flipped].max()) if flipped.any() else 0.0
    return {
        "worse": int(((before == gold) & (after != gold)).sum()),
        "better": int(((before != gold) & (after == gold)).sum()),
        "margin": margin,
        "near": float((distance <= margin).mean()) if flipped.any() else 0.0,
    }


def _figures(c: InferenceContext) -> dict:
    """The chapter's figures, from the measurements' tables in the experiment's context ``c``."""
    s, classifier, n_bench = c.sizes, c.sentiment.name, len(c.bench)
    batches, padding, lengths, quant, cost = c.batches, c.padding, c.lengths, c.quant, c.decoding
    tokens = list(next(iter(c.next_token.values())))
    return {
        "decoding": plots.sweep(
            cost["sequence length"],
            {
                "milliseconds per generated token": {
                    "with KV cache": cost["ms per token, with KV cache"],
                    "without KV cache": cost["ms per token, without KV cache"],
                }
            },
            xlabel="sequence length so far (tokens)",
            title=f"Greedy decoding with {c.causal.name}: time per token",
        ),
        "next_token": plots.heatmap(
            [[d[t] for t in tokens] for d in c.next_token.values()],
            list(c.next_token),
            col_labels=tokens,
            value_label="probability of the next token",
            title=f"After '{NEXT_TOKEN_PROMPT}': the ten likeliest next tokens, reshaped",
        ),
        "batch_size": plots.sweep(
            batches["batch size"],
            {
                "throughput (reviews/s)": {"": batches["reviews/s"]},
                "latency per batch (ms)": {"": batches["latency per batch (ms)"]},
            },
            xlabel="batch size",
            logx=True,
            title=f"{classifier}: {n_bench} reviews at {s.max_len} tokens",
        ),
        "padding": plots.bar_panels(
            {
                "throughput (reviews/s)": dict(zip(padding["strategy"], padding["reviews/s"])),
                "padding (% of positions)": dict(zip(padding["strategy"], padding["padding (% of positions)"])),
            },
            title=f"{n_bench} reviews truncated at {s.pad_len} tokens, batches of {PAD_BATCH}",
        ),
        "truncation": plots.sweep(
            lengths["max tokens"],
            {"test accuracy (%)": {"": lengths["accuracy (%)"]}, "throughput (reviews/s)": {"": lengths["reviews/s"]}},
            xlabel="maximum tokens per review",
            logx=True,
            title=f"{classifier} on {len(c.imdb.test):,} IMDB test reviews",
        ),
        "autograd": plots.comparison_bars(
            dict(zip(c.modes["mode"], c.modes["reviews/s"])),
            ylabel="throughput (reviews/s)",
            title=f"The same forward passes: {n_bench} reviews at {s.max_len} tokens, batches of {MODES_BATCH}",
        ),
        "quantisation": plots.bar_panels(
            {
                "throughput (reviews/s)": quant["reviews/s"].to_dict(),
                "test accuracy (%)": quant["accuracy (%)"].to_dict(),
                "weights (MB)": quant["weights (MB)"].to_dict(),
            },
            title=f"{classifier}: float32 versus dynamic int8 (speed: {n_bench} reviews at {s.max_len} tokens, "
            f"batches of {QUANT_BATCH})",
        ),
    }


# --- what the page's prose states -----------------------------------------------------------

DEFAULT, NO_GRAD, INFERENCE = inference.GRAD_MODES  # the autograd settings' names, in the table's order


def facts(outcome: Outcome) -> dict:
    """The numbers and verdicts the page's prose states, computed from this build's measurements."""
    c, r = outcome.context, outcome.records
    s, sentiment = c.sizes, c.sentiment
    by_len, pad, rate = c.lengths.set_index("max tokens"), c.padding.set_index("strategy"), c.modes.set_index("mode")
    rate, batches, quant, cost = rate["reviews/s"], c.batches, c.quant, c.decoding
    best = batches.loc[batches["reviews/s"].idxmax()]
    kv_with, kv_without = cost["ms per token, with KV cache"], cost["ms per token, without KV cache"]
    distinct, logprob = c.sampling["distinct bigrams (%)"], c.sampling["mean log-prob per token"]
    top1 = {name: max(d.values()) for name, d in c.next_token.items()}
    p_float, tfidf = quant.loc["float32", "accuracy (%)"], 100 * r["TF-IDF + logistic regression"]["test_accuracy"]
    head = sentiment.record
    full = [len(t) for t in c.tokenizer(c.bench, verbose=False)["input_ids"]]
    return {
        "train_size": s.train,
        "test_size": len(c.imdb.test),
        "max_len": s.max_len,
        "head_note": _head_note(head) if head else "The classifier was fine-tuned elsewhere and only runs here.",
        "lm_note": c.lm_note
        + (" Sampled, expect review-like fragments rather than coherent reviews." if c.causal.stand_in else ""),
        # the KV cache
        "kv_with": kv_with.mean(),
        "kv_without": kv_without.mean(),
        "kv_ratio": max(kv_without.mean(), kv_with.mean()) / min(kv_without.mean(), kv_with.mean()),
        "kv_word": "faster" if kv_without.mean() > kv_with.mean() else "slower",
        "kv_prompt": with_article(c.prompt_tokens),
        "kv_with_first": kv_with.iloc[0],
        "kv_with_last": kv_with.iloc[-1],
        "kv_without_first": kv_without.iloc[0],
        "kv_without_last": kv_without.iloc[-1],
        # sampling
        "top1_t1": top1["T = 1 (unchanged)"],
        "top1_cool": top1[f"T = {COOL_T:g}"],
        "top1_hot": top1[f"T = {HOT_T:g}"],
        "cool_t": COOL_T,
        "hot_t": HOT_T,
        "top_k": TOP_K,
        "top_p": TOP_P,
        "topp_kept": c.top_p_kept[NEXT_TOKEN_PROMPT],
        "topp_kept_sure": c.top_p_kept[NEXT_TOKEN_PROMPT + " very"],
        "vocab": c.vocab_size,
        "n_prompts": len(PROMPTS),
        "greedy_distinct": distinct["greedy"],
        "hot_distinct": distinct[f"temperature {HOT_T:g}"],
        "safest": logprob.idxmax(),
        "safest_logprob": logprob.max(),
        "riskiest": logprob.idxmin(),
        "riskiest_logprob": logprob.min(),
        "least_repetitive": distinct.idxmax(),
        "most_repetitive": distinct.idxmin(),
        "tail_note": _tail_note(c),
        "same_seed_note": _same_seed_note(c.sampling),
        # batch size
        "repeats": s.repeats,
        "repeats_unit": "run" if s.repeats == 1 else "runs",
        "bs1_rate": batches["reviews/s"].iloc[0],
        "bs1_latency": batches["latency per batch (ms)"].iloc[0],
        "best_rate": best["reviews/s"],
        "best_bs": int(best["batch size"]),
        "batch_gain": best["reviews/s"] / batches["reviews/s"].iloc[0],
        "biggest_latency": batches["latency per batch (ms)"].iloc[-1],
        "biggest_bs": int(batches["batch size"].iloc[-1]),
        "batch_limit": f"Throughput peaks at a batch of {int(best['batch size'])} and does not grow beyond it: the "
        "matrix multiplications already keep the CPU's cores busy, and larger batches pad more and use the "
        "caches less well"
        if best["batch size"] < batches["batch size"].max()
        else "Throughput still grew at the largest batch measured",
        # padding
        "pad_len": s.pad_len,
        "pad_batch": PAD_BATCH,
        **{
            f"pad_{key}_{what}": pad.loc[name, column]
            for key, name in zip(("max", "dynamic", "sorted"), inference.PADDING_STRATEGIES)
            for what, column in (("share", "padding (% of positions)"), ("rate", "reviews/s"))
        },
        "pad_full": 100 * sum(n >= s.pad_len for n in full) / len(c.bench),
        "pad_gain": pad.loc["dynamic padding, sorted by length", "reviews/s"]
        / pad.loc["pad to max length", "reviews/s"],
        # truncation
        "short_len": int(by_len.index[0]),
        "long_len": int(by_len.index[-1]),
        "short_acc": by_len["accuracy (%)"].iloc[0],
        "long_acc": by_len["accuracy (%)"].iloc[-1],
        "main_acc": by_len.loc[s.max_len, "accuracy (%)"],
        "short_speed": by_len["reviews/s"].iloc[0] / by_len["reviews/s"].iloc[-1],
        "truncated_main": by_len.loc[s.max_len, "reviews truncated (%)"],
        # autograd
        "modes_batch": MODES_BATCH,
        "mode_plain": rate[DEFAULT],
        "mode_nograd": rate[NO_GRAD],
        "mode_inference": rate[INFERENCE],
        **_mode_verdicts(c.modes),
        # quantisation
        "q_speedup": quant.loc["int8 (dynamic)", "speed-up"],
        "q_acc_float": p_float,
        "q_acc_int8": quant.loc["int8 (dynamic)", "accuracy (%)"],
        "q_compare": gap(quant.loc["int8 (dynamic)", "accuracy (%)"], p_float),
        "q_agree": 100 * c.q_info["agreement"],
        "q_flips": _flips_note(c.q_flips, c.q_info["agreement"], len(c.imdb.test)),
        "same_work": _same_work_note(c),
        "q_size": quant.loc["float32", "weights (MB)"] / quant.loc["int8 (dynamic)", "weights (MB)"],
        "q_size_int8": quant.loc["int8 (dynamic)", "weights (MB)"],
        "q_size_float": quant.loc["float32", "weights (MB)"],
        "q_batch": QUANT_BATCH,
        "bench_n": len(c.bench),
        "q_se": standard_error(len(c.imdb.test), p_float / 100),
        # results
        "tfidf_acc": tfidf,
        "tfidf_compare": gap(p_float, tfidf, ahead="above", behind="below"),
        "classifier_note": f"This classifier is a frozen sentence encoder with a linear head trained on {s.train:,} "
        f"reviews read at {s.max_len} tokens: as the manual path above showed, its encoder groups texts by what "
        "they are about more than by the opinion they express."
        if head
        else "This classifier was fine-tuned on short sentences from film reviews (SST-2), not on IMDB's "
        "long reviews.",
        "cost_note": "The training columns are what training cost: the head's training here (MiniLM reading the "
        "reviews, then the regression), and the int8 row is that same head quantised afterwards, so it "
        "shares the float32 row's training cost. "
        if head
        else "The classifier was fine-tuned elsewhere, so its training columns show a dash. ",
    }


def _mode_verdicts(modes) -> dict[str, str]:
    """The autograd comparison in words (``report.speed_words``): the ratio of the median rates,
    and whether the timed runs overlap. A difference is shown only when every timed run of one
    variant beat every run of the other (``inference.faster_beyond_noise``)."""
    rate = modes.set_index("mode")["reviews/s"]
    runs_timed = int(modes["timed runs"].min())
    off = inference.faster_beyond_noise(modes, INFERENCE, DEFAULT)
    both = inference.faster_beyond_noise(modes, INFERENCE, NO_GRAD)
    stricter = "(its tensors can never enter a gradient computation by mistake)"
    against_default = speed_words("inference_mode", "the default", rate[INFERENCE], rate[DEFAULT], off, runs_timed)
    against_no_grad = speed_words("inference_mode", "no_grad", rate[INFERENCE], rate[NO_GRAD], both, runs_timed)
    unsettled = " A longer timing on a quiet machine would settle it."
    return {
        "mode_verdict": (
            against_default[:1].upper() + against_default[1:]
            if against_default.startswith("the ")
            else against_default
        )
        + "."
        + {
            1: " The recording is a measurable share of the time here.",
            -1: " Switching the recording off did not save time on this machine.",
            0: unsettled,
            None: unsettled,
        }[off],
        "mode_pair_verdict": f"Between the two switches, {against_no_grad}."
        + {
            1: " What inference_mode skips beyond the recording (version counters, view tracking) shows even here.",
            -1: " This contradicts the usual advice that inference_mode is the faster switch: what it skips beyond "
            "the recording (version counters, view tracking) is cheap next to the matrix multiplications of a "
            "model this size on a CPU.",
            0: " What inference_mode skips beyond the recording (version counters, view tracking) is cheap next to "
            "the matrix multiplications of a model this size on a CPU.",
            None: "",
        }[both],
        "mode_advice": "Switch autograd off for inference: "
        + (
            "it was measurably faster"
            if off == 1
            else "it saves the memory of the recording, if not measurably time here"
        )
        + "; "
        + {
            1: "inference_mode was the faster of the two switches.",
            -1: "here no_grad measured faster than inference_mode, against the usual advice, so either will do; "
            f"inference_mode is the stricter one {stricter}.",
            0: f"no_grad and inference_mode were indistinguishable here, and inference_mode is the stricter of the two {stricter}.",
            None: "no_grad and inference_mode could not be told apart here, and inference_mode is the stricter of "
            f"the two {stricter}.",
        }[both],
    }


ENCODER_TRAINING = "contrastive learning on about a billion pairs of related sentences"  # all-MiniLM-L6-v2's


def _decimals(seconds: float) -> int:
    """Decimals the results table shows a time with (``report.format_table``): one, or two
    significant digits below a second."""
    return 1 if seconds >= 1 or seconds <= 0 else min(4, 1 - int(np.floor(np.log10(seconds))))


def _head_note(head: dict) -> str:
    """The head's training time and its two parts, rounded as the results table rounds the total,
    so that the parts add up to the total as shown."""
    d = _decimals(head["wall_time_s"])
    total, reading = round(head["wall_time_s"], d), round(head["feature_time_s"], d)
    return (
        f"Trained here, the head took {total:.{d}f} s: {reading:.{d}f} s for MiniLM to read the "
        f"{head['train_examples']:,} reviews and {max(0.0, total - reading):.{d}f} s to fit the regression (its "
        f"strength chosen by 5-fold cross-validation). It has {head['trainable_params']:,} weights."
    )


def greedy_remark(prompt: str, continuation: str, token_ids: list[int]) -> str:
    """What greedy decoding made of ``prompt`` (its ``continuation``, decoded from ``token_ids``), in
    words: a continuation that ends in a run of line breaks, or whose tokens repeat, is named as
    what it is, a degenerate loop."""
    text = continuation.rstrip()
    breaks = continuation[len(text) :].count("\n")
    drawn = "the sampling section below shows what it writes when the next token is drawn instead"
    if breaks >= 3:
        said = " ".join(text.split())
        start = f"it continues “{prompt}” with “{said}”, and then" if said else f"after “{prompt}”"
        return (
            f"Greedy decoding of this model degenerates at once: {start} the likeliest next token is a line "
            f"break, and after a line break another one, so the rest of the continuation is {breaks} line breaks "
            f"(shown as ↵×{breaks}). IMDB's reviews hold many paragraph breaks (their <br /> tags, which the "
            f"tokenizer turns into line breaks), and a model this small finds a break the safest bet; {drawn}."
        )
    distinct = generation.distinct_n([list(token_ids)], 2)
    if len(token_ids) >= 5 and distinct < 0.5:
        return (
            f"Greedy decoding of this model soon loops: only {100 * distinct:.0f}% of the pairs of consecutive "
            f"tokens in its continuation are distinct; {drawn}."
        )
    return f"Greedy decoding always gives this one continuation; {drawn}."


def shared_stretch(a: str, b: str) -> str:
    """The longest stretch of text that ``a`` and ``b`` share, cut to the words that are whole in
    both (stripped; empty when no whole word is shared)."""
    match = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    stretch = a[match.a : match.a + match.size]

    def cut_before(text: str, i: int) -> bool:  # the stretch starts at a word boundary of text
        return i == 0 or text[i - 1] == " " or stretch[:1] == " "

    def cut_after(text: str, i: int) -> bool:  # it ends at a word boundary of text
        return i + match.size == len(text) or text[i + match.size] == " " or stretch[-1:] == " "

    start = 0 if cut_before(a, match.a) and cut_before(b, match.b) else stretch.find(" ") + 1
    stop = len(stretch) if cut_after(a, match.a) and cut_after(b, match.b) else stretch.rfind(" ")
    return stretch[start:stop].strip() if 0 <= start < stop else ""


SHARED_STRETCH = 12  # characters two strategies' examples must share for the page to quote the stretch


def _same_seed_note(sampling: pd.DataFrame) -> str:
    """Why the sampled examples share stretches of text (each strategy starts from the same seed),
    quoting, for up to three pairs of strategies, the longest stretch of at least ``SHARED_STRETCH``
    characters and two words that their examples share."""
    prompt = PROMPTS[0]
    continuations = {
        name: example[len(prompt) :] if example.startswith(prompt) else example
        for name, example in sampling["example (first prompt)"].items()
        if SAMPLING.get(name, {}).get("do_sample")
    }
    names = list(continuations)
    stretches = [
        (shared_stretch(continuations[a], continuations[b]), a, b) for i, a in enumerate(names) for b in names[i + 1 :]
    ]
    quoted = sorted(
        ((text, a, b) for text, a, b in stretches if len(text) >= SHARED_STRETCH and " " in text),
        key=lambda found: -len(found[0]),
    )[:3]
    return (
        "Every sampling strategy starts from the same seed, so all of them draw the same random numbers (common "
        "random numbers): wherever two reshaped distributions nearly agree, the same draw picks the same token, "
        "and the examples share stretches of identical text"
        + (
            " — here " + "; ".join(f"{a} and {b} share “{text}”" for text, a, b in quoted) + "."
            if quoted
            else f"; here no two share a stretch of {SHARED_STRETCH} characters."
        )
    )


def _tail_note(c: InferenceContext) -> str:
    """What top-k and top-p did to the tail on this model: top-p keeps as many tokens as it takes to
    reach ``TOP_P``, and the sampling table's log-probabilities say which rows it resembles."""
    kept = [c.top_p_kept[prompt] for prompt in PROMPTS]
    lo, hi = min(kept), max(kept)
    span = f"{lo:,}" if lo == hi else f"from {lo:,} to {hi:,}"
    logprob = c.sampling["mean log-prob per token"]
    top_k, top_p, hot = (
        logprob[f"top-k (k={TOP_K})"],
        logprob[f"top-p (p={TOP_P:g})"],
        logprob[f"temperature {HOT_T:g}"],
    )
    counted = (
        f"at the first step after each of the {len(PROMPTS)} prompts, p = {TOP_P:g} keeps {span} of the "
        f"{c.vocab_size:,} tokens"
    )
    top_p_words = (
        f"Top-p would cut the tail where the model is sure, but this model seldom is: {counted}, so at least "
        f"{lo:,} tokens, most of them unlikely, stay in the draw"
        if lo > 10 * TOP_K
        else f"Top-p cuts it too, as far as the model is sure: {counted}"
    )
    like = (
        f"the top-p row scores nearer the temperature-{HOT_T:g} row ({top_p:.1f} against {hot:.1f} nats per token) "
        f"than top-k ({top_k:.1f})"
        if abs(top_p - hot) < abs(top_p - top_k)
        else f"the top-p row scores nearer top-k ({top_p:.1f} against {top_k:.1f} nats per token) than the "
        f"temperature-{HOT_T:g} row ({hot:.1f})"
    )
    return (
        f"Top-k with k = {TOP_K} cuts that tail off while keeping the choice among the likeliest tokens random. "
        f"{top_p_words}; {like}."
    )


def _flips_note(flips: dict, agreement: float, n: int) -> str:
    """The reviews int8 labels differently, in words: how many flipped each way, what that does to
    the accuracy, and how close to the decision boundary they were."""
    worse, better = flips["worse"], flips["better"]
    if worse + better == 0:
        return "No review changed its label."

    def reviews(k: int) -> str:
        return f"{k} review{'' if k == 1 else 's'}"

    ways = [
        f"{reviews(k)} from {a} to {b}" for k, a, b in ((worse, "right", "wrong"), (better, "wrong", "right")) if k
    ]
    net, moved = better - worse, f"{reviews(abs(better - worse))} ({100 * abs(better - worse) / n:.1f} points)"
    effect = (
        "the flips cancel in the accuracy"
        if net == 0
        else f"the accuracy moves by the difference, {moved}"
        if worse and better
        else f"the accuracy moves by as many, {moved}"
    )
    near = (
        f" Every review that changed label was one the float32 head was unsure of, with P(positive) within "
        f"{flips['margin']:.2f} of 0.5, and {100 * flips['near']:.0f}% of the test reviews lie that close to the "
        "decision boundary, where int8's small rounding errors are enough to tip the label."
        if flips["margin"] < 0.15
        else f" The reviews that changed label had a float32 P(positive) up to {flips['margin']:.2f} away from 0.5."
    )
    return (
        f"The other {100 * (1 - agreement):.1f}% changed label"
        + (" in both directions" if worse and better else "")
        + f": {' and '.join(ways)}, so {effect}."
        + near
    )


def _same_work_note(c: InferenceContext) -> str:
    """The float32 throughput is the same work as the batch-size sweep's batch of ``QUANT_BATCH`` and
    the autograd comparison's inference_mode row: the page quotes the three and their spread."""
    rates: dict[str, float] = {}
    by_size = c.batches.set_index("batch size")["reviews/s"]
    if QUANT_BATCH in by_size.index:
        rates["in the batch-size sweep"] = by_size[QUANT_BATCH]
    if MODES_BATCH == QUANT_BATCH:
        rates["under inference_mode in the autograd comparison"] = c.modes.set_index("mode").loc[
            INFERENCE, "reviews/s"
        ]
    if not rates:
        return ""
    rates["here"] = c.quant.loc["float32", "reviews/s"]
    spread = 100 * (max(rates.values()) / min(rates.values()) - 1)
    listed = [f"{rate:.1f} reviews/s {where}" for where, rate in rates.items()]
    return (
        f" The float32 speed is the same work timed for the {'third' if len(rates) == 3 else 'second'} time on this "
        f"page, the {len(c.bench)} reviews at {c.sizes.max_len} tokens in batches of {QUANT_BATCH} without autograd: "
        f"{', '.join(listed[:-1])} and {listed[-1]}. Timings of the same work taken minutes apart differ by "
        + (f"{spread:.0f}%" if spread >= 1 else "less than 1%")
        + " on this machine, so compare the variants within one comparison, which were timed in turn, and not "
        "numbers from different ones."
    )


def cross_topic_words(values) -> str:
    """The similarities of the reviews to the finance sentences, in words: their range, and
    "about 0" when every one of them is that close to it."""
    lo, hi = float(np.min(values)), float(np.max(values))
    shown = f"from {lo:.2f} to {hi:.2f}".replace("-0.00", "0.00")
    return shown + (", about 0" if max(abs(lo), abs(hi)) < 0.1 else "")


# --- the page's demonstrations in words ----------------------------------------------------

REVIEWS = [
    "A moving, beautifully acted film. I would watch it again tomorrow.",
    "Two hours of my life I will never get back; the plot makes no sense.",
    "Not bad, but the second half drags and the ending is predictable.",
]
CLEAR = {0: "POSITIVE", 1: "NEGATIVE"}  # what a reader would answer; the third review is mixed
BARELY = 0.1  # a clear-cut review labelled right with P(positive) this close to 0.5 was only just right


def manual_remark(labels: list[str], p_positive: list[float], outcome: Outcome) -> str:
    """What the classifier made of ``REVIEWS``: right or wrong on the two clear-cut ones, whether
    only just (P(positive) within ``BARELY`` of 0.5), and why."""
    p, ordinal = p_positive, ["first", "second", "third"]
    wrong = [i for i, want in CLEAR.items() if labels[i] != want]
    barely = [i for i in CLEAR if i not in wrong and abs(p[i] - 0.5) < BARELY]

    def against_mixed(i: int) -> str:
        if (CLEAR[i] == "NEGATIVE" and p[i] > p[2]) or (CLEAR[i] == "POSITIVE" and p[i] < p[2]):
            return f", {'less' if p[i] > p[2] else 'more'} negative than the mixed third review at {p[2]:.2f}"
        return ""

    compared = any(against_mixed(i) for i in (*wrong, *barely))
    mixed = (
        ""
        if compared
        else f" The third review is mixed (a concession, then two complaints), and it gets P(positive) = {p[2]:.2f}."
    )
    if not wrong and not barely:
        return f"The classifier gets both clear-cut reviews right (P(positive) = {p[0]:.2f} and {p[1]:.2f})." + mixed

    def close_call(i: int) -> str:
        return (
            f"it gives the plainly {CLEAR[i].lower()} {ordinal[i]} review P(positive) = {p[i]:.2f}, close to the 0.5 "
            f"at which its label would flip{against_mixed(i)}"
        )

    if wrong:
        cases = "; ".join(
            f"the {ordinal[i]} review is plainly {CLEAR[i].lower()}, yet it is labelled {labels[i]} "
            f"(P(positive) = {p[i]:.2f}{against_mixed(i)})"
            for i in wrong
        )
        verdict = (
            f"The classifier gets {'one of the' if len(wrong) == 1 else 'both'} clear-cut reviews wrong: {cases}."
            + (
                f" The {ordinal[barely[0]]} it labels correctly, but only just: {close_call(barely[0])}."
                if barely
                else ""
            )
        )
    else:
        which = "both" if len(barely) == 2 else f"the {ordinal[barely[0]]}"
        verdict = (
            f"The classifier labels both clear-cut reviews correctly, but {which} only just: "
            f"{'; '.join(close_call(i) for i in barely)}."
        )
    why = (
        f" This classifier is a linear head trained on {outcome.context.sizes.train:,} reviews over a frozen "
        f"encoder trained for general sentence similarity ({ENCODER_TRAINING}), which groups texts by what they "
        "are about more than by the opinion they express (see the sentence-similarity map below), so it leans on "
        "the words that usually signal sentiment."
        if outcome.context.sentiment.stand_in
        else " It was fine-tuned on short phrases from film reviews, and leans on the words that usually signal "
        "sentiment."
    )
    idiom = (
        " A complaint carried by an idiom (two hours of my life I will never get back) and a flat statement (the plot makes "
        "no sense), with none of the words such as bad, boring or awful that usually signal it, are hard for such "
        "a model."
        if 1 in wrong or 1 in barely
        else ""
    )
    return (
        verdict
        + mixed
        + why
        + idiom
        + " Three sentences prove little either way: the accuracy on the test reviews, measured below, is what counts."
    )
