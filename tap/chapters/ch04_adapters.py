"""Chapter 04's experiment: bottleneck adapters (``tap.methods.adapters``) in the pre-trained BERT stand-in
against full fine-tuning and the linear probe on it (``tap.playbook.command.imdb_against_probe_and_full``,
the book's IMDB comparison); then, as the contrast, a base with nothing to adapt: chapter 01's encoder
pre-trained on AG News, for IMDB: Houlsby and Pfeiffer placements and a bottleneck sweep against
chapter 01's full fine-tuning and linear probe; the same adapters with the embedding table
trained too (a diagnosis); and a second set of adapters, for AG News, served from the same frozen
base by switching task weights."""

from __future__ import annotations

import copy
import math
import sys
from collections import Counter
from dataclasses import dataclass

import pandas as pd
from torch import nn

from ..core.cache import source_digest
from ..core.measure import timer
from ..core.profiles import Profile, as_profile
from ..core.report import gap, shown_difference
from ..methods import adapters
from ..methods.registry import PEFT_MACHINERY
from ..pages import plots
from ..playbook.verdict import PEFT_TARGET_POINTS, PEFT_TARGET_SHARE
from ..training.loop import TrainConfig, evaluate
from . import ch01_transfer as ch01
from .ch01_transfer import TransferSetup
from .harness import Outcome, Run, run_classifier

ADAPTER_LR = 1e-2  # chosen on IMDB validation accuracy among 1e-3, 3e-3, 1e-2, 3e-2 (Houlsby, m = d/16, 2 epochs)
# Epochs per adapter run, by profile (default: the profile's own). The book profile trains one
# epoch, half of chapter 01's runs, so that the chapter's runs fit its 5-minute budget on 2 cores.
ADAPTER_EPOCHS = {"book": 1}
EMBEDDING_LR = 3e-3  # when the embedding table trains too: a rate between from-scratch training's and ADAPTER_LR


def adapter_epochs(profile: Profile) -> int:
    """How many epochs each adapter run trains in ``profile`` (see ``ADAPTER_EPOCHS``)."""
    return ADAPTER_EPOCHS.get(profile.name, profile.epochs)


def adapter_model(
    setup: TransferSetup,
    source: Run,
    task: str = "imdb",
    placement: str = "houlsby",
    bottleneck: int | None = None,
    train_embeddings: bool = False,
) -> nn.Module:
    """Chapter 01's pre-trained encoder with a new head for ``task`` ('imdb' or 'ag_news'),
    frozen, with fresh adapters; with ``train_embeddings``, the embedding table trains too (a
    diagnosis, not a parameter-efficient method)."""
    model = ch01.from_source(setup, source)  # a new IMDB head
    if task == "ag_news":
        model.replace_head(setup.ag_news.num_classes)
    adapters.add_adapters(model, placement, bottleneck)
    if train_embeddings:
        model.embedding.weight.requires_grad = True
    return model


def train_adapters(
    setup: TransferSetup,
    source: Run,
    placement: str = "houlsby",
    bottleneck: int | None = None,
    task: str = "imdb",
    lr: float = ADAPTER_LR,
    epochs: int | None = None,
    train_embeddings: bool = False,
) -> Run:
    """Train adapters + head on ``task`` ('imdb' or 'ag_news') over the frozen ``source`` model
    (chapter 01's pre-trained encoder). Cached like every run."""
    data = {"imdb": setup.imdb, "ag_news": setup.ag_news}[task]
    p = setup.profile
    m = adapters.bottleneck_size(p.encoder.d_model, bottleneck)
    cfg = TrainConfig(
        epochs=epochs or adapter_epochs(p), lr=lr, batch_size=p.batch_size, evals_per_epoch=p.evals_per_epoch
    )
    method = {"placement": placement, "bottleneck": m, "train_embeddings": train_embeddings}
    key = {
        **setup.key(),
        "source": source.record["config"],
        "task": task,
        "adapters": method,
        "adapters_code": source_digest(*PEFT_MACHINERY, adapters, ch01, sys.modules[__name__]),
    }
    name = f"{task}-adapters-{placement}-m{m}" + ("-embeddings" if train_embeddings else "")
    return run_classifier(
        name, key, lambda: adapter_model(setup, source, task, placement, m, train_embeddings), data, cfg
    )


def sweep_sizes(profile: Profile) -> list[int]:
    """Bottleneck sizes of the chapter's sweep: d/64, d/16, d/4 (d = the encoder's width)."""
    d = profile.encoder.d_model
    return sorted({max(1, d // r) for r in (64, 16, 4)})


def sentiment_words_in_source(setup: TransferSetup, top: int = 50, min_reviews: int = 30) -> pd.DataFrame:
    """The ``top`` words that best separate positive from negative IMDB training reviews
    (smoothed log-odds of appearing in a positive vs a negative review, among words in at
    least ``min_reviews`` reviews), with how often each occurs in the AG News training text.
    A word the source task rarely shows keeps an embedding row close to its random start."""
    pos, neg = Counter(), Counter()
    for ids, label in zip(setup.imdb.train.ids, setup.imdb.train.labels):
        (pos if label == 1 else neg).update(set(ids))
    n_pos = sum(1 for label in setup.imdb.train.labels if label == 1)
    n_neg = len(setup.imdb.train.labels) - n_pos
    in_source = Counter(i for ids in setup.ag_news.train.ids for i in ids)
    odds = {
        w: math.log((pos[w] + 1) / (n_pos + 2)) - math.log((neg[w] + 1) / (n_neg + 2))
        for w in set(pos) | set(neg)
        if w > 1 and pos[w] + neg[w] >= min_reviews
    }  # ids 0/1: padding, <unk>
    best = sorted(odds, key=lambda w: (-abs(odds[w]), w))[:top]
    return pd.DataFrame(
        {
            "word": [setup.vocab.itos[w] for w in best],
            "leans": ["positive" if odds[w] > 0 else "negative" for w in best],
            "log-odds on IMDB": [odds[w] for w in best],
            "occurrences in AG News training text": [in_source[w] for w in best],
        }
    )


def switch_tasks(setup: TransferSetup, imdb: Run, ag_news: Run) -> list[dict]:
    """One model object serving two tasks: a copy of the IMDB adapter model switches to the AG
    News adapters and head, then back (``adapters.load_adapter_state``). Per switch: the task's
    accuracy in its own run and after the switch, the time the switch took, and what the task
    stores."""
    tasks = {
        "IMDB sentiment": (adapters.adapter_state(imdb.model), setup.imdb.test, imdb.record),
        "AG News topic": (adapters.adapter_state(ag_news.model), setup.ag_news.test, ag_news.record),
    }
    shared = copy.deepcopy(imdb.model)  # serving IMDB now; switch to AG News, then back
    switches = []
    for task in ["AG News topic", "IMDB sentiment"]:
        state, test, record = tasks[task]
        with timer() as clock:
            adapters.load_adapter_state(shared, state)
        switches.append(
            {
                "switched to": task,
                "accuracy in its own run (%)": 100 * record["test_accuracy"],
                "accuracy after switching (%)": 100 * evaluate(shared, test)["accuracy"],
                "switch time (ms)": 1000 * clock["seconds"],
                "stored per task (kB)": 1024 * adapters.state_megabytes(state),
            }
        )
    return switches


def label(placement: str, m: int) -> str:
    """A run's name in the chapter's tables: ``adapters, Houlsby (m=8)``."""
    return f"adapters, {placement.capitalize()} (m={m})"


@dataclass
class AdapterContext:
    """What chapter 04's page shows beyond the records: the trained runs, the task switch, the words' counts."""

    setup: TransferSetup
    m: int  # the bottleneck size of the main runs: d / 16
    sweep: dict[int, Run]  # Houlsby adapters by bottleneck size
    runs: dict[str, Run]  # source, finetuned, probe, houlsby, pfeiffer, with_embeddings (the table trained too), ag
    words: pd.DataFrame  # sentiment_words_in_source
    switches: list[dict]  # switch_tasks: one row per switch
    comparison: list[str]  # the records of the page's first results table
    diagnosis: list[str]  # the records of its second: full fine-tuning, Houlsby adapters, with the table


def adapter_runs(setup: TransferSetup, source: Run) -> dict[str, Run]:
    """The adapter runs on chapter 01's AG-News encoder that the page compares, by label: Houlsby
    adapters at every bottleneck size of the sweep, and Pfeiffer adapters at d/16."""
    m = adapters.bottleneck_size(setup.profile.encoder.d_model)
    runs = {
        label("houlsby", size): train_adapters(setup, source, "houlsby", size) for size in sweep_sizes(setup.profile)
    }
    runs[label("pfeiffer", m)] = train_adapters(setup, source, "pfeiffer", m)
    return runs


def times_text(n: float) -> str:
    """How often a word occurs, in words: "never", "once", "twice", "3 times", "2.5 times" (a median)."""
    return {0: "never", 1: "once", 2: "twice"}.get(n, f"{n:g} times")


def experiment(profile: Profile | None = None, setup: TransferSetup | None = None) -> Outcome:
    """Everything chapter 04 trains (from the run cache when it is there), the task switch, the
    sentiment words' counts in the source text, and the chapter's two figures. ``setup`` saves
    preparing the data twice when the page has it. ``context.comparison`` and
    ``context.diagnosis`` name the records of the page's two results tables."""
    setup = setup or ch01.prepare(as_profile(profile))
    source = ch01.pretrain_on_ag_news(setup)
    m = adapters.bottleneck_size(setup.profile.encoder.d_model)  # d / 16
    finetuned, probe = ch01.full_fine_tune(setup, source), ch01.linear_probe(setup, source)
    compared = adapter_runs(setup, source)
    sweep = {size: compared[label("houlsby", size)] for size in sweep_sizes(setup.profile)}
    houlsby, pfeiffer = sweep[m], compared[label("pfeiffer", m)]
    with_embeddings = train_adapters(setup, source, "houlsby", m, lr=EMBEDDING_LR, train_embeddings=True)
    ag = train_adapters(setup, source, "houlsby", m, task="ag_news")
    records = {
        "full fine-tuning": finetuned.record,
        "linear probe": probe.record,
        label("houlsby", m): houlsby.record,
        label("pfeiffer", m): pfeiffer.record,
        **{label("houlsby", k): run.record for k, run in sweep.items() if k != m},
    }
    comparison, with_table = list(records), f"adapters (m={m}) + embedding table"
    records[with_table] = with_embeddings.record
    records["AG News adapters"] = ag.record
    records["AG News source task"] = source.record
    curves = plots.training_curves(
        {k: records[k] for k in comparison[:4]},
        title="IMDB: training curves of adapters against chapter 01's strategies",
    )
    bottlenecks = plots.parameter_sweep(
        {
            "adapters, Houlsby": [
                (run.record["trainable_params"], 100 * run.record["test_accuracy"], f"m={k}")
                for k, run in sweep.items()
            ]
        },
        references={
            k: (records[k]["trainable_params"], 100 * records[k]["test_accuracy"])
            for k in ("full fine-tuning", "linear probe", label("pfeiffer", m))
        },
        title="IMDB test accuracy against trainable parameters",
    )
    runs = {
        "source": source,
        "finetuned": finetuned,
        "probe": probe,
        "houlsby": houlsby,
        "pfeiffer": pfeiffer,
        "with_embeddings": with_embeddings,
        "ag": ag,
    }
    return Outcome(
        records,
        {"training_curves": curves, "bottleneck_sweep": bottlenecks},
        AdapterContext(
            setup=setup,
            m=m,
            sweep=sweep,
            runs=runs,
            words=sentiment_words_in_source(setup),
            switches=switch_tasks(setup, houlsby, ag),
            comparison=comparison,
            diagnosis=["full fine-tuning", label("houlsby", m), with_table],
        ),
    )


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("s" if n != 1 else "")


def facts(outcome: Outcome) -> dict:
    """The numbers and verdicts the page's prose states, computed from this build's records."""
    r, c = outcome.records, outcome.context
    setup, m, sweep, switches = c.setup, c.m, c.sweep, c.switches
    size = setup.profile.encoder
    ft, probe = r["full fine-tuning"], r["linear probe"]
    houlsby, pfeiffer, with_embeddings = r[label("houlsby", m)], r[label("pfeiffer", m)], r[c.diagnosis[-1]]

    def trainable(placement: str) -> int:  # the formula: adapters + a 2-class head
        return adapters.adapter_parameters(placement, size.d_model, size.num_layers, m) + size.d_model * 2 + 2

    def words(a: float, b: float) -> str:
        """Accuracy ``a`` against ``b``, worded as the page shows both."""
        return gap(a, b, ahead="above", behind="below")

    # What one task costs to store on BERT-base (110M parameters, float32: 4 bytes a parameter).
    bert_base, per_task_bert = 110_000_000, adapters.adapter_parameters("houlsby", 768, 12, 64)
    embedding, total = size.vocab_size * size.d_model, ft["total_params"]
    ft_acc = 100 * ft["test_accuracy"]
    best_name = max((k for k in c.comparison if k.startswith("adapters")), key=lambda k: r[k]["best_val_accuracy"])
    best_acc, best_share = (
        100 * r[best_name]["test_accuracy"],
        100 * r[best_name]["trainable_params"] / ft["trainable_params"],
    )
    shortfall = -shown_difference(best_acc, ft_acc)  # as the reader subtracts the shown accuracies
    close, small = shortfall <= PEFT_TARGET_POINTS, best_share <= PEFT_TARGET_SHARE
    sweep_acc = [100 * run.record["test_accuracy"] for run in sweep.values()]
    in_source = c.words["occurrences in AG News training text"]
    emb_acc = 100 * with_embeddings["test_accuracy"]
    full_mb = adapters.state_megabytes(c.runs["finetuned"].model.state_dict())
    return {
        "bert_mb": 4 * bert_base / 2**20,
        "bert_adapter_params": per_task_bert,
        "bert_adapter_mb": 4 * per_task_bert / 2**20,
        "bert_adapter_share": 100 * per_task_bert / bert_base,
        "d": size.d_model,
        "layers": size.num_layers,
        "m": m,
        "houlsby_formula": trainable("houlsby"),
        "pfeiffer_formula": trainable("pfeiffer"),
        "total": total,
        "embedding_share": 100 * embedding / total,
        "houlsby_share": 100 * trainable("houlsby") / houlsby["total_params"],
        "houlsby_share_layers": 100 * trainable("houlsby") / (total - embedding),
        "train_size": houlsby["train_examples"],
        "test_size": houlsby["test_size"],
        "lr": f"{ADAPTER_LR:g}",
        "ft_lr": f"{ft['train_config']['lr']:g}",
        "adapter_epochs": _epochs(houlsby["train_config"]["epochs"]),
        "ft_epochs": _epochs(ft["train_config"]["epochs"]),
        "ft_acc": ft_acc,
        "probe_acc": 100 * probe["test_accuracy"],
        "houlsby_acc": 100 * houlsby["test_accuracy"],
        "pfeiffer_acc": 100 * pfeiffer["test_accuracy"],
        "best_name": best_name,
        "best_acc": best_acc,
        "best_share": best_share,
        "gap_text": words(best_acc, ft_acc),
        "target": "meets" if close and small else "misses",
        "target_text": f"within {PEFT_TARGET_POINTS:g} point{'s' if PEFT_TARGET_POINTS != 1 else ''} of full "
        f"fine-tuning's accuracy while training at most {PEFT_TARGET_SHARE:g}% of its parameters",
        "target_why": ""
        if close and small
        else " on "
        + " and on ".join(([] if close else ["accuracy"]) + ([] if small else ["the share of parameters it trains"])),
        "sweep_min": min(sweep_acc),
        "sweep_max": max(sweep_acc),
        "sweep_small": min(sweep),
        "sweep_large": max(sweep),
        "sweep_n": len(sweep),
        "sweep_ratio": sweep[max(sweep)].record["trainable_params"] / sweep[min(sweep)].record["trainable_params"],
        "top_words": len(c.words),
        "words_median_text": times_text(float(in_source.median())),
        "words_rare": 100 * float((in_source <= 2).mean()),
        "ag_train": len(setup.ag_news.train),
        "emb_acc": emb_acc,
        "emb_gap_text": words(emb_acc, ft_acc),
        "emb_share": 100 * with_embeddings["trainable_params"] / with_embeddings["total_params"],
        "emb_gain_text": words(emb_acc, 100 * houlsby["test_accuracy"]),
        "emb_lr": f"{EMBEDDING_LR:g}",
        "emb_verdict": "So the frozen vocabulary was the obstacle: with the table trained, adapters on frozen "
        "Transformer layers come within the book's margin of full fine-tuning."
        if -shown_difference(emb_acc, ft_acc) <= PEFT_TARGET_POINTS
        else "The frozen vocabulary explains part of the gap, then, but not all of it: adapting the frozen "
        "layers with adapters still falls short of training them.",
        "verdict": f"the best adapters finish {words(best_acc, ft_acc)} full fine-tuning"
        + (
            ""
            if shortfall <= PEFT_TARGET_POINTS
            else f" and {words(best_acc, 100 * probe['test_accuracy'])} the linear probe"
        ),
        "ag_acc": 100 * r["AG News adapters"]["test_accuracy"],
        "source_acc": 100 * r["AG News source task"]["test_accuracy"],
        "task_kb": switches[1]["stored per task (kB)"],
        "full_mb": full_mb,
        "switch_ms": max(row["switch time (ms)"] for row in switches),
        "task_ratio": 1024 * full_mb / switches[1]["stored per task (kB)"],
    }
