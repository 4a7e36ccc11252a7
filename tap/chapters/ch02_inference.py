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
from ..core.report import gap, speed_words, standard_error
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
    decoding: pd.DataFrame  # generation.decoding_cost: time per token with and without the KV cache
    next_token: dict[str, dict[str, float]]  # the ten likeliest next tokens under each of NEXT_TOKEN_SETTINGS
    top_p_kept: dict[str, int]  # how many tokens top-p keeps after each prompt
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
        for start in (NEXT_TOKEN_PROMPT, NEXT_TOKEN_PROMPT + " very")
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
        decoding=decoding,
        next_token=next_token,
        top_p_kept=top_p_kept,
        sampling=sampling,
        prompt_tokens=prompt.shape[1],
        vocab_size=lm.config.vocab_size,
        lm_note=model_note(causal, lm),
    )
    return Outcome(records, _figures(c), c)


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
            title=f"The same forward passes, {n_bench} reviews at {s.max_len} tokens",
        ),
        "quantisation": plots.bar_panels(
            {
                "throughput (reviews/s)": quant["reviews/s"].to_dict(),
                "test accuracy (%)": quant["accuracy (%)"].to_dict(),
                "weights (MB)": quant["weights (MB)"].to_dict(),
            },
            title=f"{classifier}: float32 versus dynamic int8",
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
        "head_note": f"Trained here, the head took {head['wall_time_s']:.0f} s: {head['feature_time_s']:.0f} s for "
        f"MiniLM to read the {head['train_examples']:,} reviews, {head['fit_time_s']:.1f} s to fit the "
        "regression (its strength chosen by 5-fold cross-validation). It has "
        f"{head['trainable_params']:,} weights."
        if head
        else "The classifier was fine-tuned elsewhere and only runs here.",
        "lm_note": c.lm_note
        + (" Expect review-like fragments rather than coherent reviews." if c.causal.stand_in else ""),
        # the KV cache
        "kv_with": kv_with.mean(),
        "kv_without": kv_without.mean(),
        "kv_ratio": max(kv_without.mean(), kv_with.mean()) / min(kv_without.mean(), kv_with.mean()),
        "kv_word": "faster" if kv_without.mean() > kv_with.mean() else "slower",
        "kv_prompt": c.prompt_tokens,
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
        "batch_limit": f"Beyond a batch of {int(best['batch size'])}, throughput stops growing: the matrix "
        "multiplications already keep the CPU's cores busy"
        if best["batch size"] < batches["batch size"].max()
        else "Throughput still grew at the largest batch measured",
        # padding
        "pad_len": s.pad_len,
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
        f"reviews read at {s.max_len} tokens: the encoder was trained to tell topics apart (see the "
        "similarity map), not opinions."
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
            "it was measurably faster here"
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


# --- the page's demonstrations in words ----------------------------------------------------

REVIEWS = [
    "A moving, beautifully acted film. I would watch it again tomorrow.",
    "Two hours of my life I will never get back; the plot makes no sense.",
    "Not bad, but the second half drags and the ending is predictable.",
]
CLEAR = {0: "POSITIVE", 1: "NEGATIVE"}  # what a reader would answer; the third review is mixed


def manual_remark(labels: list[str], p_positive: list[float], outcome: Outcome) -> str:
    """What the classifier made of ``REVIEWS``: right or wrong on the two clear-cut ones, and why."""
    wrong = [i for i, want in CLEAR.items() if labels[i] != want]
    ordinal = ["first", "second", "third"]
    if not wrong:
        return (
            "The classifier gets both clear-cut reviews right. The third is mixed (a concession, then two "
            f"complaints), and it gives it P(positive) = {p_positive[2]:.2f}."
        )
    cases = "; ".join(
        f"the {ordinal[i]} review is plainly {CLEAR[i].lower()}, yet it is labelled {labels[i]} "
        f"(P(positive) = {p_positive[i]:.2f})"
        for i in wrong
    )
    why = (
        f" This classifier is a linear head trained on {outcome.context.sizes.train:,} reviews over a frozen "
        "encoder that was trained to tell topics apart, not opinions (see the sentence-similarity map below), so "
        "it leans on the words that usually signal sentiment."
        if outcome.context.sentiment.stand_in
        else " It was fine-tuned on short phrases from film reviews, and leans on the words that usually signal "
        "sentiment."
    )
    return (
        (
            f"The classifier gets one of the clear-cut reviews wrong: {cases}."
            if len(wrong) == 1
            else f"The classifier gets both clear-cut reviews wrong: {cases}."
        )
        + why
        + (
            " A complaint carried by an idiom (two hours I will never get back) and a flat statement (the plot makes "
            "no sense), with none of the words such as bad, boring or awful that usually signal it, is hard for such "
            "a model."
            if 1 in wrong
            else ""
        )
        + (
            " Three sentences prove little either way: the accuracy on the test reviews, measured below, is what counts."
        )
    )
