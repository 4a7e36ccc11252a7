"""Chapter 07's experiment, the playbook: every adaptation method of ``tap.methods.registry`` side by side
on one pre-trained model with the same reviews and budget (``python -m tap playbook``'s function,
``tap.playbook.command.run_playbook``, runs them on IMDB), against
TF-IDF + logistic regression; accuracy with 95% intervals, trainable parameters, bytes stored per
task, time and memory; data efficiency; and the book's own encoder (chapters 01, 04, 05) beside
them. Here too: the tables, the headline numbers and the words the page (and the introduction,
which shows this chapter's comparison) states, all derived from the records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.devices import precision_reason
from ..core.intervals import accuracy_interval, paired_difference
from ..core.profiles import Profile, as_profile
from ..core.report import gap, results_table, shown_difference
from ..methods.registry import METHOD, METHODS
from ..pages import plots
from ..playbook.command import Comparison, imdb_playbook
from ..playbook.runs import LONGER, SIZES, TFIDF_ALL, TFIDF_SAME, Playbook, below_probe
from ..playbook.verdict import (
    PEFT_TARGET_POINTS,
    interval_sentence,
    key_numbers,
    longer_words,
    paired_claim,
    phrases,
    search_words,
)
from . import ch01_transfer, ch04_adapters, ch05_lora, ch07_study
from .harness import Outcome, Run

SEEDS = (0, 1, 2)  # the headline pair is repeated with each: other reviews, initial head and order

# --------------------------------------------------------------------------- tables


def _setting(value) -> str:
    """A method setting as the method table shows it: lists as "query, value"."""
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def method_table(profile: Profile) -> pd.DataFrame:
    """What each method trains, who implements it, and its usual learning rate in ``profile``:
    the centre of the three rates its search tries."""
    rates = SIZES[profile.name].lr
    rows = [
        {
            "method": m.label,
            "what trains": m.trains,
            "implemented by": m.library,
            "usual learning rate": np.format_float_positional(rates.get(m.key, m.lr), trim="-"),
            "settings": "; ".join(f"{k} {_setting(v)}" for k, v in m.settings.items()) or "—",
        }
        for m in METHODS
    ]
    return pd.DataFrame(rows).set_index("method")


def comparison_table(records: dict[str, dict]) -> pd.DataFrame:
    """``tap.core.report.results_table`` (accuracy, trainable parameters absolute and as a share of
    the adapted model, time, throughput, the memory each run used) plus what this chapter
    compares on: each accuracy's 95% interval, the training reviews and the bytes each task
    stores. Unrounded: show it through
    ``comparison_tables`` and ``tap.core.report.format_table``."""
    table = results_table(records)
    table["trainable (%)"] = [
        100 * r["trainable_params"] / r["total_params"] if "base_params" in r else None for r in records.values()
    ]
    table.insert(1, "95% interval (%)", ["{:.1f}–{:.1f}".format(*accuracy_interval(r)) for r in records.values()])
    table.insert(3, "train reviews", [r["train_examples"] for r in records.values()])
    table["stored per task (kB)"] = [
        r["trainable_bytes"] / 1024 if "trainable_bytes" in r else None for r in records.values()
    ]
    return table


# The comparison table in two narrow halves, so that neither needs a horizontal scroll: what each
# method scores and stores, and what its training cost. (Every run has the same test reviews.)
SCORE_COLUMNS = ["test accuracy (%)", "95% interval (%)", "trainable params", "trainable (%)", "stored per task (kB)"]
COST_COLUMNS = ["train reviews", "train time (s)", "examples/s", "memory used (MB)"]


def comparison_tables(records: dict[str, dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``comparison_table`` split into ``(scores, costs)``, unrounded."""
    table = comparison_table(records)
    return table[SCORE_COLUMNS], table[COST_COLUMNS]


# --------------------------------------------------------------------------- key numbers and words


def _kilobytes(n_bytes: int) -> str:
    """``"290 kB"``, or ``"0.4 kB"`` for a linear probe's few hundred bytes."""
    kb = n_bytes / 1024
    return f"{kb:,.0f} kB" if kb >= 10 else f"{kb:.1f} kB"


def _ranked(records: dict[str, dict], key: Callable[[dict], float], reverse: bool = True) -> list[str]:
    return sorted(records, key=lambda k: key(records[k]), reverse=reverse)


def footprint_row(records: dict[str, dict]) -> tuple[str, str, str]:
    """The decision table's row for the smallest per-task footprint. Every method but full
    fine-tuning is set against full fine-tuning on the same test reviews (paired 95% interval of
    the difference), and ``verdict.paired_claim`` decides what the row may say: "without losing
    more than 1 point" only for a method whose whole interval lies above the margin; else the
    smallest method the test set cannot tell from full fine-tuning; else the smallest method of
    all, said to lose accuracy. A method is never set against itself."""
    full_label = METHOD["full"].label
    full = records[full_label]
    others = {n: r for n, r in records.items() if "base_params" in r and n != full_label}
    interval = {
        n: tuple(100 * v for v in paired_difference(r["test_correct"], full["test_correct"]))[1:]
        for n, r in others.items()
    }
    claim = {n: paired_claim(*interval[n]) for n in others}
    smallest_first = _ranked(others, lambda r: r["trainable_params"], reverse=False)
    unit = "point" if PEFT_TARGET_POINTS == 1 else "points"
    for wanted, situation, meaning in (
        (
            "kept",
            f"the smallest per-task footprint without losing more than {PEFT_TARGET_POINTS:g} {unit} of accuracy",
            f"all above {-PEFT_TARGET_POINTS:+g}",
        ),
        (
            "undecided",
            "the smallest per-task footprint the test set cannot tell from full fine-tuning",
            f"includes zero, but reaches below {-PEFT_TARGET_POINTS:+g}: a larger loss is not ruled out",
        ),
        ("lost", "the smallest per-task footprint (every method here loses accuracy)", "below zero"),
    ):
        chosen = next((n for n in smallest_first if claim[n] == wanted), None)
        if chosen is not None:
            lo, hi = interval[chosen]
            r = others[chosen]
            return (
                situation,
                chosen,
                f"{r['trainable_params']:,} trainable parameters, {100 * r['test_accuracy']:.1f}% against full "
                f"fine-tuning's {100 * full['test_accuracy']:.1f}%; paired 95% interval of the difference "
                f"{lo:+.1f} to {hi:+.1f} points ({meaning})",
            )
    raise ValueError("no method besides full fine-tuning to choose from")


def decision_table(records: dict[str, dict]) -> pd.DataFrame:
    """ "Which method when": each recommendation is *chosen by the code* from the measured
    records (the most accurate, the smallest within the noise, the fastest...), and the
    evidence column quotes the numbers it was chosen on."""
    k = key_numbers(records)
    neural = {n: r for n, r in records.items() if "base_params" in r}
    acc = {n: 100 * r["test_accuracy"] for n, r in records.items()}
    full_label = METHOD["full"].label
    rows = []
    # 1. Small labelled set, CPU: is the anchor good enough?
    anchor_wins = k["tfidf_acc"] >= k["best_neural_acc"] - k["ci_half"]
    rows.append(
        (
            f"{k['train_n']:,} labelled reviews, a CPU, an answer in seconds",
            TFIDF_SAME if anchor_wins else f"{k['best_neural_label']} (start from {TFIDF_SAME} as the baseline)",
            f"anchor {k['tfidf_acc']:.1f}% in {k['tfidf_time']:.1f} s vs {k['best_neural_label']} "
            f"{k['best_neural_acc']:.1f}% in {neural[k['best_neural_label']]['wall_time_s']:.0f} s "
            f"(±{k['ci_half']:.1f} points of noise)",
        )
    )
    # 2. One task, the best accuracy the pre-trained model gives.
    rows.append(
        (
            "one task, best accuracy from the pre-trained model, storage no concern",
            k["best_neural_label"],
            f"{k['best_neural_acc']:.1f}% (full fine-tuning {k['full_acc']:.1f}%)",
        )
    )
    # 3. Many tasks on one base model: the best method within the parameter budget.
    rows.append(
        (
            f"many tasks sharing one base model (≤ {k['budget_pct']:g}% trainable)",
            k["best_label"],
            f"{k['best_acc']:.1f}%, {gap(k['best_acc'], k['full_acc'])} full fine-tuning "
            f"({k['full_acc']:.1f}%); paired 95% interval of the difference {k['diff_lo']:+.1f} to "
            f"{k['diff_hi']:+.1f} points; stores {_kilobytes(k['best_bytes'])} per task instead of "
            f"{k['full_bytes'] / 2**20:,.0f} MB",
        )
    )
    # 4. The smallest footprint, judged against full fine-tuning by the paired interval's rule.
    rows.append(footprint_row(records))
    # 5. Fastest neural training.
    fastest = _ranked(neural, lambda r: r["examples_per_s"])[0]
    rows.append(
        (
            "fastest training of a neural model",
            fastest,
            f"{neural[fastest]['examples_per_s']:.1f} reviews/s vs {neural[full_label]['examples_per_s']:.1f} "
            f"for full fine-tuning; {acc[fastest]:.1f}%",
        )
    )
    # 6. All the data.
    rows.append(
        (
            f"all {k['tfidf_all_n']:,} labelled reviews, or a GPU",
            "a larger pre-trained Transformer, fine-tuned on everything",
            f"anchor on all reviews {k['tfidf_all_acc']:.1f}% in {k['tfidf_all_time']:.0f} s here; "
            "published full-data results below",
        )
    )
    return pd.DataFrame(rows, columns=["situation", "choose", "because (measured here)"]).set_index("situation")


def precision_facts(runs: dict[str, dict]) -> dict:
    """The precision this build ran in and why (``prec_name``, ``prec_reason``), and
    ``prec_comparison``: the paragraph that sets full fine-tuning in bf16 against float32 on the
    same test reviews (the accuracy change with its paired interval, the training and scoring
    times of each; returned as numbers too) or, where every run was in float32, says that there
    is nothing to compare."""
    single = runs["float32"]
    values = {"prec_reason": precision_reason()}
    if len(runs) == 1:
        return {
            **values,
            "prec_name": "float32",
            "prec_comparison": "bf16 was therefore not used: every run on this page, full fine-tuning included, "
            "computed in float32, so there is no bf16 run to set against float32. On a machine that computes "
            "bfloat16 in hardware, this section compares full fine-tuning in both precisions on the same test reviews.",
        }
    low, fast = next((n, r) for n, r in runs.items() if n != "float32")
    _, lo, hi = (100 * v for v in paired_difference(fast["test_correct"], single["test_correct"]))
    numbers = {
        "prec_name": low,
        "prec_acc": 100 * fast["test_accuracy"],
        "prec_fp32_acc": 100 * single["test_accuracy"],
        "prec_diff_words": gap(100 * fast["test_accuracy"], 100 * single["test_accuracy"]),  # = the paired mean
        "prec_diff_lo": lo,
        "prec_diff_hi": hi,
        "prec_time": fast["wall_time_s"],
        "prec_fp32_time": single["wall_time_s"],
        "prec_train_ratio": single["wall_time_s"] / fast["wall_time_s"],
        "prec_test_time": fast["test_time_s"],
        "prec_fp32_test_time": single["test_time_s"],
        "prec_test_ratio": single["test_time_s"] / fast["test_time_s"],
    }
    n, v = single["test_size"], numbers
    comparison = (
        f"Is it free? Full fine-tuning ran a second time in float32, with everything else the same. It reached "
        f"{v['prec_acc']:.1f}% in {low} against {v['prec_fp32_acc']:.1f}% in float32 ({low} is "
        f"{v['prec_diff_words']} float32 on the same test reviews, with a paired 95% interval from "
        f"{lo:+.1f} to {hi:+.1f} points); training took {v['prec_time']:.0f} s against "
        f"{v['prec_fp32_time']:.0f} s ({v['prec_train_ratio']:.1f} times as fast), and scoring the {n:,} test "
        f"reviews {v['prec_test_time']:.0f} s against {v['prec_fp32_test_time']:.0f} s "
        f"({v['prec_test_ratio']:.1f} times as fast). Training gains less than scoring: the backward pass, the "
        "optimizer and the float32 copies of the weights are not made cheaper by autocast. Those savings are what "
        f"pay for scoring every run on {n:,} test reviews, enough to tell the methods apart "
        '("Did the target hold?" below).'
    )
    return {**values, **numbers, "prec_comparison": comparison}


CHANCE_BAND = 0.55  # a two-class run whose best validation accuracy is no higher learned nothing usable


def collapsed(record: dict) -> bool:
    """A neural run that ended at chance: its best validation accuracy is within ``CHANCE_BAND``."""
    return "base_params" in record and record["best_val_accuracy"] <= CHANCE_BAND


def collapse_words(records: dict[str, dict], search: dict[str, list[dict]]) -> str:
    """Every method whose run at its searched rate ended at chance, with what its pilot at that
    rate had shown: a rate chosen on a short pilot can be too high for the longer run."""
    sentences = []
    for label, r in records.items():
        if not collapsed(r):
            continue
        pilot = next((p for p in search.get(label, []) if p["lr"] == r["lr"]), None)
        seen = (
            f", although its pilot on {pilot['train_examples']:,} reviews at that rate reached "
            f"{100 * pilot['best_val_accuracy']:.1f}% on validation"
            if pilot is not None and pilot is not r
            else ""
        )
        sentences.append(
            f"{label} ended at chance ({100 * r['test_accuracy']:.1f}% on the test reviews, "
            f"{100 * r['best_val_accuracy']:.1f}% on validation): at {r['lr']:.1e}, the rate its search chose, "
            f"the run on {r['train_examples']:,} reviews did not learn{seen}. A rate chosen on a short pilot "
            "can be too high for a longer run; this run says nothing about what the method can do."
        )
    return " ".join(sentences) or "Every run at its searched rate learned: none ended at chance."


def bitfit_phrase(records: dict[str, dict], longer: dict[str, dict] | None = None) -> str:
    """BitFit against the linear probe, in words chosen by the measured order. BitFit trains
    everything the probe trains and every bias besides, so ending below it needs a reason: the
    run trained longer gives it when there is one (``longer_words`` says it), this the likely one."""
    bitfit, probe = records[METHOD["bitfit"].label], records[METHOD["probe"].label]
    if METHOD["bitfit"].label in (longer or {}):
        return ""
    if collapsed(bitfit):
        return "BitFit's run ended at chance (see the rate search above), so it cannot say here what the biases add."
    _, lo, hi = (100 * v for v in paired_difference(bitfit["test_correct"], probe["test_correct"]))
    words = gap(100 * bitfit["test_accuracy"], 100 * probe["test_accuracy"], ahead="above", behind="below")
    noise = interval_sentence(lo, hi) + (
        "" if lo <= 0 <= hi else " Each method was trained with a single seed, though."
    )
    if words == "level with":
        return "BitFit and the linear probe end level: here the biases add nothing the head alone could not."
    if words.endswith("below"):
        rates = (
            "at the same learning rate"
            if bitfit["lr"] == probe["lr"]
            else f"at a learning rate of {bitfit['lr']:g} against the probe's {probe['lr']:g}"
        )
        return (
            f"BitFit ends {words} the linear probe, although it trains the same head and every bias "
            f"besides. Both had the same {bitfit['steps']:,} optimisation steps, and BitFit took them {rates}: "
            "with so short a budget, shifting the biases moves the features the head is still learning to "
            "read, while the probe spends every step fitting its head to features that stay fixed. " + noise
        )
    return (
        f"BitFit ends {words} the linear probe: training the biases inside the network, not only "
        "the head, adapts the features themselves to sentiment. " + noise
    )


# --------------------------------------------------------------------------- the experiment


def from_scratch_runs(profile: Profile) -> dict[str, dict]:
    """The book's own small encoder on IMDB, as chapters 01, 04 and 05 trained it: from scratch
    (chapter 01), and pre-trained on AG News, then fully fine-tuned, fine-tuned in its top layer
    only or linearly probed (chapter 01), with the adapter run (chapter 04) and the LoRA run
    (chapter 05) that validation chose among those chapters' runs, as their pages report them. The
    same calls as those chapters make, so their cached runs are reused. Those runs used their own
    training and test subsets."""
    setup = ch01_transfer.prepare(profile)
    source = ch01_transfer.pretrain_on_ag_news(setup)

    def chosen(runs: dict[str, Run]) -> Run:
        return max(runs.values(), key=lambda run: run.record["best_val_accuracy"])

    runs = {
        "from scratch": ch01_transfer.from_scratch(setup),
        "AG News + full fine-tuning": ch01_transfer.full_fine_tune(setup, source),
        "AG News + top layer fine-tuned": ch01_transfer.top_layers_fine_tune(setup, source),
        "AG News + linear probe": ch01_transfer.linear_probe(setup, source),
        "AG News + adapters (ch. 04)": chosen(ch04_adapters.adapter_runs(setup, source)),
        "AG News + LoRA (ch. 05)": chosen(ch05_lora.lora_runs(setup, source)),
    }
    return {k: r.record for k, r in runs.items()}


def small_order(smallest: dict[str, dict], records: dict[str, dict]) -> str:
    """Whether the smallest training set keeps the comparison's order of full fine-tuning and
    LoRA, in words: with few labels, and so few steps, the method with fewer weights to move can
    fall behind the one it beats on the full set."""
    full, lora = METHOD["full"].label, METHOD["lora"].label
    small = shown_difference(100 * smallest[lora]["test_accuracy"], 100 * smallest[full]["test_accuracy"])
    every = shown_difference(100 * records[lora]["test_accuracy"], 100 * records[full]["test_accuracy"])
    if small == 0:
        return "the two neural methods are level"
    if small * every >= 0:
        return "the two neural methods stand in the same order as on the full training set"
    ahead, behind = (lora, full) if small > 0 else (full, lora)
    return (
        f"here {ahead} is ahead of {behind}, the reverse of their order on the full training set, so "
        "the choice of method can depend on how many labels there are"
    )


def frontier_series(
    records: dict[str, dict], scratch: dict[str, dict] | None = None, name: str = "pre-trained model, this chapter"
) -> tuple[dict, dict]:
    """``(series, references)`` for ``plots.parameter_sweep``: the pre-trained model's methods
    (the two LoRA rows, which train the same parameters, as one point), the book's own encoder
    (``scratch``: trained from scratch, or pre-trained on AG News, as two series), and the TF-IDF
    anchor as reference stars."""
    neural = {k: r for k, r in records.items() if "base_params" in r}
    if METHOD["lora"].label in neural and METHOD["lora-peft"].label in neural:
        neural["LoRA (tap and peft)"] = neural.pop(METHOD["lora"].label)
        neural.pop(METHOD["lora-peft"].label)
    series = {name: [(r["trainable_params"], 100 * r["test_accuracy"], k) for k, r in neural.items()]}
    for series_name, pretrained in (
        ("the book's encoder, from scratch (ch. 01)", False),
        ("the book's encoder pre-trained on AG News (ch. 01, 04, 05)", True),
    ):
        points = [
            (r["trainable_params"], 100 * r["test_accuracy"], k.removeprefix("AG News + "))
            for k, r in (scratch or {}).items()
            if k.startswith("AG News") == pretrained
        ]
        if points:
            series[series_name] = points
    refs = {
        f"TF-IDF + logistic regression, {r['train_examples']:,} reviews": (
            r["trainable_params"],
            100 * r["test_accuracy"],
        )
        for r in records.values()
        if r.get("method_key") == "tfidf"
    }
    return series, refs


def _seed_rows(repeats: dict[int, dict[str, dict]], best_key: str) -> list[dict]:
    rows = []
    for seed, runs in repeats.items():
        full, best = 100 * runs["full"]["test_accuracy"], 100 * runs[best_key]["test_accuracy"]
        _, lo, hi = paired_difference(runs[best_key]["test_correct"], runs["full"]["test_correct"])
        rows.append(
            {
                "seed": seed,
                "full": full,
                "best": best,
                "diff": shown_difference(best, full),
                "lo": 100 * lo,
                "hi": 100 * hi,
            }
        )
    return rows


def seed_table(repeats: dict[int, dict[str, dict]], best_key: str) -> pd.DataFrame:
    """The headline pair at every seed: each accuracy, their difference (of the values shown) and
    its paired 95% interval on that seed's test reviews."""
    best = METHOD[best_key].label
    return pd.DataFrame(
        {
            "seed": r["seed"],
            f"{METHOD['full'].label} (%)": r["full"],
            f"{best} (%)": r["best"],
            "difference (points)": r["diff"],
            "paired 95% interval": f"{r['lo']:+.1f} to {r['hi']:+.1f}",
        }
        for r in _seed_rows(repeats, best_key)
    ).set_index("seed")


def seed_words(repeats: dict[int, dict[str, dict]], best_key: str) -> str:
    """What the seeds say about parity: the spread of the difference, and how many seeds' paired
    intervals exclude zero (a difference that one seed's test reviews can tell from none)."""
    rows = _seed_rows(repeats, best_key)
    diffs = [r["diff"] for r in rows]
    behind = sum(r["hi"] < 0 for r in rows)
    ahead = sum(r["lo"] > 0 for r in rows)
    n = len(rows)
    spread = f"Over {n} seeds the difference runs from {min(diffs):+.1f} to {max(diffs):+.1f} points (mean {np.mean(diffs):+.1f})"
    if behind == n:
        return f"{spread}, and every seed's paired interval lies below zero: once rates are tuned, {METHOD[best_key].label} still trails full fine-tuning here."
    if ahead == n:
        return f"{spread}, and every seed's paired interval lies above zero: {METHOD[best_key].label} beats full fine-tuning here."
    if behind == ahead == 0:
        return f"{spread}, and no seed's paired interval excludes zero: once rates are tuned, the two are level within what these test sets can measure."
    return (
        f"{spread}; {behind} of {n} seeds' paired intervals lie below zero and {ahead} above: the verdict depends on the seed, "
        "so parity is neither shown nor ruled out."
    )


def imdb_comparison(profile: Profile | None = None, echo: Callable[[str], None] = print) -> tuple[Comparison, dict]:
    """The chapter's comparison: ``python -m tap playbook``'s function on IMDB, at the pinned
    sizes, every method's rate chosen on validation; then PEFT's LoRA at the rate chosen for
    ``tap``'s (the two rows differ by implementation alone) and the anchor on every training
    review. Returns the command's result and the records by the table's labels."""
    p = as_profile(profile)
    result = imdb_playbook(p, echo=echo)
    book = result.playbook
    records = {
        m.label: book.run(m, lr=book.chosen_rate("lora")) if m.key == "lora-peft" else result.records[m.label]
        for m in METHODS
    }
    records[TFIDF_SAME] = result.records[TFIDF_SAME]
    records[TFIDF_ALL] = book.tfidf(SIZES[p.name].tfidf_all)
    return result, records


@dataclass
class PlaybookContext:
    """What chapter 07's page (and the introduction) shows beyond the records: the runs behind its tables."""

    result: Comparison  # the playbook command's comparison on IMDB
    book: Playbook  # the Playbook that ran it
    comparison: dict[str, dict]  # the comparison's records by the table's labels (``imdb_comparison``)
    scratch: dict[str, dict]  # the book's own encoder (``from_scratch_runs``)
    study: dict[str, dict[str, float]]  # ``ch07_study.study_values``
    # The rest only in the full chapter, None with ``comparison_only``:
    curves: dict[str, list[dict]] | None = None  # method -> records by training size
    precision: dict[str, dict] | None = None  # ``Playbook.precision_check``
    longer: dict[str, dict] | None = None  # the methods below the probe, trained LONGER times the epochs
    search: dict[str, list[dict]] | None = None  # each method's learning-rate pilots
    repeats: dict[int, dict[str, dict]] | None = None  # ``Playbook.seed_repeats``: seed -> method key -> record
    best_key: str | None = None  # the best method's key, the one repeated with other seeds


def experiment(profile: Profile | None = None, comparison_only: bool = False) -> Outcome:
    """Everything chapter 07 runs (from the run cache when it is there) and its figures.
    ``comparison_only`` (the introduction's headline) runs only the comparison of the methods
    and the anchor, quietly, and draws only its accuracy-against-parameters figure.

    ``records``: the comparison's runs by method, then the data-efficiency runs the comparison
    does not hold already (``"<method>, <n> reviews"``), the seed repeats and the book's encoder's
    runs (``"book's encoder: <how>"``). ``context``, a ``PlaybookContext``: ``result`` (the
    command's ``Comparison``), ``book`` (its ``Playbook``), ``comparison``, ``curves`` (method ->
    records by training size) and ``scratch`` (the book's encoder)."""
    p = as_profile(profile)
    result, comparison = imdb_comparison(p, echo=(lambda _: None) if comparison_only else print)
    book = result.playbook
    scratch = from_scratch_runs(p)
    study = ch07_study.study_values(scratch, p)
    study_figures = ch07_study.study_figures(study, scratch["from scratch"]["test_size"])
    if comparison_only:
        series, refs = frontier_series(comparison)
        figure = plots.parameter_sweep(
            series, references=refs, joined=False, title="IMDB test accuracy against trainable parameters (chapter 07)"
        )
        return Outcome(
            dict(comparison),
            {"accuracy_vs_parameters": figure, **study_figures},
            PlaybookContext(result, book, comparison, scratch, study),
        )
    s = SIZES[p.name]
    curves = book.data_efficiency(s.curve, (*s.tfidf_curve, s.tfidf_all))
    precision = book.precision_check()
    longer = book.longer_runs(comparison, [k for k in below_probe(comparison) if not collapsed(comparison[k])])
    best_key = comparison[key_numbers(comparison)["best_label"]]["method_key"]
    repeats = book.seed_repeats(("full", best_key), SEEDS)
    records = dict(comparison)
    if len(precision) > 1:  # a float32 repeat of full fine-tuning; otherwise the comparison's own run
        records[f"{METHOD['full'].label}, float32"] = precision["float32"]
    for label, runs in curves.items():
        for r in runs:
            if r not in records.values():
                records[f"{label}, {r['train_examples']:,} reviews"] = r
    records.update({f"{label}, {LONGER}× the epochs": r for label, r in longer.items()})
    for seed, runs in repeats.items():
        if seed != book.seed:
            records.update({f"{r['method']}, seed {seed}": r for r in runs.values()})
    records.update({f"book's encoder: {k}": r for k, r in scratch.items()})
    k = key_numbers(comparison)
    series, refs = frontier_series(comparison, scratch)
    figures = {
        "accuracy": plots.interval_bars(
            {n: (100 * r["test_accuracy"], *accuracy_interval(r)) for n, r in comparison.items()},
            ylabel="test accuracy (%)",
            reference=("chance (50%)", 50.0),
            title=f"IMDB test accuracy, {k['test_n']:,} test reviews (bars: 95% intervals)",
        ),
        "trainable_parameters": plots.comparison_bars(
            {n: r["trainable_params"] for n, r in comparison.items() if "base_params" in r},
            ylabel="trainable parameters (log scale)",
            fmt="{:,.0f}",
            log=True,
            title=f"What each method trains (the model has {k['base_params']:,} parameters)",
        ),
        "accuracy_vs_parameters": plots.parameter_sweep(
            series, references=refs, joined=False, title="IMDB test accuracy against trainable parameters"
        ),
        "data_efficiency": plots.learning_curves(
            {m: [(r["train_examples"], 100 * r["test_accuracy"]) for r in runs] for m, runs in curves.items()},
            xlabel="training reviews (log scale)",
            ylabel="test accuracy (%)",
            title="Accuracy against the amount of labelled data",
        ),
    }
    return Outcome(
        records,
        {**figures, **study_figures},
        PlaybookContext(
            result=result,
            book=book,
            comparison=comparison,
            scratch=scratch,
            study=study,
            curves=curves,
            precision=precision,
            longer=longer,
            search=result.search,
            repeats=repeats,
            best_key=best_key,
        ),
    )


def facts(outcome: Outcome) -> dict:
    """The numbers and words the page's prose states (and the introduction's, from a
    ``comparison_only`` outcome), computed from this build's records."""
    c = outcome.context
    comparison, size = c.comparison, c.book.size
    k = key_numbers(comparison)
    by_key = {r["method_key"]: r for r in comparison.values() if "base_params" in r}
    full = by_key["full"]
    values = {
        **k,
        **phrases(k),
        "model": full["model_loaded"],
        "batch": size.batch_size,
        "max_len": size.max_len,
        "val_n": size.val,
        "full_mb": k["full_bytes"] / 2**20,
        "times": {1: "once", 2: "twice"}.get(size.epochs, f"{size.epochs} times"),
        "passes": "one pass" if size.epochs == 1 else f"{size.epochs} passes",
        "bitfit_vs_probe": bitfit_phrase(comparison, c.longer),
        "lora_diff": abs(
            shown_difference(100 * by_key["lora"]["test_accuracy"], 100 * by_key["lora-peft"]["test_accuracy"])
        ),  # the difference of the two accuracies as the table shows them, the rule ``gap`` words
        "tfidf_vs_full": gap(k["tfidf_acc"], k["full_acc"], ahead="above", behind="below"),
        "speed_ratio": k["tfidf_time"] and full["wall_time_s"] / k["tfidf_time"],
        "best_vs_full_words": gap(k["best_acc"], k["full_acc"], ahead="above", behind="below"),
        "study_agreement": ch07_study.agreement(c.study),
    }
    if c.repeats is not None:
        values["seed_words"] = seed_words(c.repeats, c.best_key)
        values["seeds_n"] = len(c.repeats)
    if c.longer is not None:
        values["longer_words"] = longer_words(comparison, c.longer)
    if c.search is not None:
        values["search_words"] = search_words(comparison, c.search)
        values["collapse_words"] = collapse_words(comparison, c.search)
        values["pilot_n"] = size.pilot
    for key, r in by_key.items():
        slug = key.replace("-", "_")
        values.update(
            {
                f"acc_{slug}": 100 * r["test_accuracy"],
                f"params_{slug}": r["trainable_params"],
                f"speed_{slug}": r["examples_per_s"],
            }
        )
    if c.curves is not None:
        ag_news = {
            n.removeprefix("AG News + "): 100 * r["test_accuracy"]
            for n, r in c.scratch.items()
            if n.startswith("AG News")
        }
        ag_full = ag_news.pop("full fine-tuning")
        ag_news.pop("top layer fine-tuned")  # trains a layer of the encoder
        ag_frozen = max(ag_news, key=ag_news.get)  # the best method that keeps the encoder frozen
        smallest = {m: runs[0] for m, runs in c.curves.items()}
        values.update(
            {
                "ag_frozen": ag_frozen,
                "ag_frozen_words": gap(ag_news[ag_frozen], ag_full, ahead="above", behind="below"),
                "small_n": smallest[METHOD["full"].label]["train_examples"],
                "small_full": 100 * smallest[METHOD["full"].label]["test_accuracy"],
                "small_lora": 100 * smallest[METHOD["lora"].label]["test_accuracy"],
                "small_order": small_order(smallest, c.comparison),
                "small_steps": smallest[METHOD["full"].label]["steps"],
                "train_steps": full["steps"],
                "small_tfidf": 100 * smallest[TFIDF_SAME]["test_accuracy"],
                **precision_facts(c.precision),
            }
        )
    return values
