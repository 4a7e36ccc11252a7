"""Chapter 07's experiment: the confidence intervals on hand-checked examples (and against
SciPy's), the headline numbers, words and decision table derived from the records, and the
whole experiment in the smoke profile, as the page, the introduction and ``python -m tap run
ch07`` call it."""

import json
import math

import pandas as pd
import pytest
import torch
from fake_mirror import use_mirror, write_dataset

from tap.chapters import ch07_playbook as ch07
from tap.chapters import chapter
from tap.core import intervals
from tap.core.devices import fitting_precision
from tap.core.profiles import get_profile
from tap.core.report import format_table
from tap.methods.registry import METHOD, METHODS
from tap.playbook import verdict
from tap.playbook.command import IMDB
from tap.playbook.runs import TFIDF_ALL, TFIDF_SAME, below_probe
from tap.playbook.verdict import PEFT_TARGET_POINTS, PEFT_TARGET_SHARE


def test_wilson_interval_hand_checked():
    # 80 of 100: p = 0.8, z² = 3.8415; centre (0.8 + 0.019208) / 1.038415 = 0.78890,
    # half-width 1.96 · sqrt(0.0016 + 0.00009604) / 1.038415 = 0.077733  ->  [0.7112, 0.8666]
    lo, hi = intervals.wilson_interval(80, 100)
    assert lo == pytest.approx(0.71117, abs=5e-5) and hi == pytest.approx(0.86664, abs=5e-5)
    # never outside [0, 1], unlike p ± z·SE
    lo, hi = intervals.wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12) and 0.0 < hi < 0.35
    # close to the normal approximation for large n
    lo, hi = intervals.wilson_interval(820, 1000)
    half = 1.959964 * math.sqrt(0.82 * 0.18 / 1000)
    assert lo == pytest.approx(0.82 - half, abs=2e-3) and hi == pytest.approx(0.82 + half, abs=2e-3)
    with pytest.raises(ValueError, match="at least one"):
        intervals.wilson_interval(0, 0)


def test_paired_difference_hand_checked():
    # differences 0, 1, 1, 0: mean 0.5, sample sd sqrt(1/3), se 0.288675, half-width 0.565800
    diff, lo, hi = intervals.paired_difference([1, 1, 1, 0], [1, 0, 0, 0])
    assert diff == pytest.approx(0.5)
    assert lo == pytest.approx(0.5 - 0.565800, abs=1e-5) and hi == pytest.approx(0.5 + 0.565800, abs=1e-5)
    assert intervals.paired_difference([1, 0, 1], [1, 0, 1]) == (0.0, 0.0, 0.0)


def _record(label, key, acc, params, n=1000, bytes_=None, speed=10.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    correct = [0] * n  # exactly round(acc · n) correct, at seeded positions
    for i in torch.randperm(n, generator=g)[: round(acc * n)].tolist():
        correct[i] = 1
    return {
        "method": label,
        "method_key": key,
        "test_accuracy": sum(correct) / n,
        "best_val_accuracy": sum(correct) / n,
        "test_size": n,
        "test_correct": correct,
        "trainable_params": params,
        "total_params": 10_000_000,
        "base_params": 10_000_000,
        "trainable_bytes": bytes_ or 4 * params,
        "wall_time_s": 100.0,
        "examples_per_s": speed,
        "peak_memory_mb": 900.0,
        "baseline_memory_mb": 700.0,
        "train_examples": 1000,
    }


@pytest.mark.parametrize(
    "diff, lo, hi, claim",
    [
        (-0.2, -0.8, 0.4, "non-inferiority"),  # the whole interval above -1: shown
        (-0.5, -1.9, 0.9, "non-inferiority is not shown"),  # point estimate within, interval not
        (-1.5, -2.5, -0.5, "not certain"),  # a miss the interval does not settle
        (-3.0, -4.0, -2.0, "falls short"),
    ],
)
def test_the_target_is_claimed_only_where_the_paired_interval_supports_it(diff, lo, hi, claim):
    k = {"diff": diff, "diff_lo": lo, "diff_hi": hi, "target_met": -diff <= PEFT_TARGET_POINTS}
    assert claim in verdict.target_evidence(k)
    if claim != "non-inferiority":
        assert "(non-inferiority)" not in verdict.target_evidence(k)


def test_precision_facts_compare_bf16_with_float32_on_the_same_reviews():
    fast = {**_record("full", "full", 0.85, 10, seed=1), "wall_time_s": 50.0, "test_time_s": 10.0}
    single = {**_record("full", "full", 0.86, 10, seed=1), "wall_time_s": 80.0, "test_time_s": 25.0}
    facts = ch07.precision_facts({"bf16": fast, "float32": single})
    assert facts["prec_name"] == "bf16" and facts["prec_diff_words"] == "1.0 point behind"
    assert facts["prec_diff_lo"] < -1.0 < facts["prec_diff_hi"]
    assert facts["prec_train_ratio"] == pytest.approx(1.6) and facts["prec_test_ratio"] == pytest.approx(2.5)
    assert "85.0% in bf16 against 86.0% in float32 (bf16 is 1.0 point behind float32" in facts["prec_comparison"]
    assert "training took 50 s against 80 s (1.6 times as fast)" in facts["prec_comparison"]
    assert "scoring the 1,000 test reviews 10 s against 25 s (2.5 times as fast)" in facts["prec_comparison"]


def test_quoted_gaps_are_the_differences_of_the_shown_accuracies():
    """82.96% and 70.64% show as 83.0% and 70.6%: the words say 12.4 points, not the raw 12.3."""
    fast = {**_record("full", "full", 0.8296, 10, n=10_000, seed=1), "test_time_s": 10.0}
    single = {**_record("full", "full", 0.7064, 10, n=10_000, seed=1), "test_time_s": 25.0}
    facts = ch07.precision_facts({"bf16": fast, "float32": single})
    assert "83.0% in bf16 against 70.6% in float32 (bf16 is 12.4 points ahead of" in facts["prec_comparison"]
    k = {
        "best_acc": 70.64,
        "full_acc": 82.96,
        "diff": 70.64 - 82.96,
        "diff_lo": -14.0,
        "diff_hi": -10.6,
        "target_met": False,
        "best_neural_label": "full fine-tuning",
        "best_neural_acc": 82.96,
        "tfidf_acc": 70.64,
    }
    words = verdict.phrases(k)
    assert words["diff_words"] == "12.4 points behind"
    assert words["anchor_words"] == "the best neural method here, full fine-tuning, is 12.4 points above it"


def test_precision_facts_in_float32_say_there_is_nothing_to_compare():
    single = _record("full", "full", 0.86, 10, seed=1)
    facts = ch07.precision_facts({"float32": single})
    assert facts["prec_name"] == "float32" and facts["prec_comparison"].startswith("bf16 was therefore not used")
    assert set(facts) == {"prec_name", "prec_reason", "prec_comparison"}  # the names the page glues


def test_key_numbers_and_decision_table_follow_the_records():
    records = {
        "full fine-tuning": _record("full fine-tuning", "full", 0.85, 10_000_000, seed=1),
        "LoRA (peft)": _record("LoRA (peft)", "lora-peft", 0.84, 50_000, seed=2),
        "(IA)³ (peft)": _record("(IA)³ (peft)", "ia3-peft", 0.835, 10_000, seed=3, speed=20.0),
        "adapters (tap)": _record("adapters (tap)", "adapters", 0.87, 200_000, seed=4),  # 2%: over budget
        TFIDF_SAME: {
            "test_accuracy": 0.86,
            "test_size": 1000,
            "trainable_params": 5000,
            "wall_time_s": 2.0,
            "examples_per_s": 500.0,
            "peak_memory_mb": 800.0,
            "train_examples": 1000,
        },
        TFIDF_ALL: {
            "test_accuracy": 0.90,
            "test_size": 1000,
            "trainable_params": 9000,
            "wall_time_s": 20.0,
            "examples_per_s": 1250.0,
            "peak_memory_mb": 900.0,
            "train_examples": 25000,
        },
    }
    k = verdict.key_numbers(records)
    assert k["best_label"] == "LoRA (peft)"  # adapters are more accurate but train 2% > 1%
    assert k["diff"] == pytest.approx(
        100 * (records["LoRA (peft)"]["test_accuracy"] - records["full fine-tuning"]["test_accuracy"])
    )  # -1.0
    assert k["diff_lo"] < k["diff"] < k["diff_hi"]
    assert k["target_met"] == (-k["diff"] <= PEFT_TARGET_POINTS) and k["budget_pct"] == PEFT_TARGET_SHARE
    assert k["best_neural_label"] == "adapters (tap)"
    words = verdict.phrases(k)
    assert words["diff_words"] == "1.0 point behind" and words["target_word"] == "meets"
    assert words["anchor_words"] == "the best neural method here, adapters (tap), is 1.0 point above it"
    table = ch07.decision_table(records)
    choices = table["choose"].tolist()
    assert choices[0] == TFIDF_SAME  # 86.0% vs the best neural within the noise
    assert choices[2] == "LoRA (peft)"
    assert choices[3] == "(IA)³ (peft)"  # fewest parameters; its paired interval includes zero and reaches below -1
    footprint = table.index[3], table.loc[table.index[3], "because (measured here)"]
    assert footprint[0] == "the smallest per-task footprint the test set cannot tell from full fine-tuning"
    assert "without losing" not in footprint[0] and "of (IA)³" not in footprint[1]
    assert choices[4] == "(IA)³ (peft)"  # fastest
    assert "1.0 point behind full fine-tuning" in table.loc[table.index[2], "because (measured here)"]
    frame = ch07.comparison_table(records)
    assert frame.loc["LoRA (peft)", "trainable (%)"] == pytest.approx(0.5)
    assert frame.loc[TFIDF_SAME, "95% interval (%)"] == "83.7–88.0"
    scores, costs = ch07.comparison_tables(records)
    assert list(scores.columns) + list(costs.columns) == ch07.SCORE_COLUMNS + ch07.COST_COLUMNS
    assert len(scores.columns) <= 5 and len(costs.columns) <= 5  # narrow enough to need no scroll
    shown = format_table(scores)
    assert shown.loc["LoRA (peft)", "trainable params"] == "50,000"
    assert shown.loc[TFIDF_SAME, "trainable (%)"] == "—" and shown.loc[TFIDF_SAME, "stored per task (kB)"] == "—"


def test_anchor_phrase_says_how_far_every_neural_method_is_below():
    k = {"best_neural_acc": 71.25, "tfidf_acc": 74.0, "best_neural_label": "LoRA (peft)"}
    assert verdict.anchor_phrase(k) == "every neural method here is at least 2.8 points below it"
    assert (
        verdict.anchor_phrase({**k, "tfidf_acc": 71.25})
        == "the best neural method here, LoRA (peft), is level with it"
    )


def test_target_phrase_states_the_book_target():
    assert verdict.target_phrase() == (
        f"within {PEFT_TARGET_POINTS:g} percentage point"
        f"{'' if PEFT_TARGET_POINTS == 1 else 's'} of full fine-tuning's accuracy "
        f"while training at most {PEFT_TARGET_SHARE:g}% of the parameters"
    )


@pytest.mark.parametrize(
    "bitfit_acc, opening",
    [
        (0.80, "BitFit ends 2.0 points below the linear probe"),
        (0.84, "BitFit ends 2.0 points above the linear probe"),
        (0.82, "BitFit and the linear probe end level"),
    ],
)
def test_bitfit_phrase_follows_the_measured_order(bitfit_acc, opening):
    records = {
        "linear probe": {**_record("linear probe", "probe", 0.82, 66, seed=5), "lr": 5e-3, "steps": 63},
        "BitFit": {**_record("BitFit", "bitfit", bitfit_acc, 900, seed=6), "lr": 2e-3, "steps": 63},
    }
    text = ch07.bitfit_phrase(records)
    assert text.startswith(opening)
    assert "…" not in text and "-0.0" not in text
    if "below" in opening:
        assert "learning rate of 0.002 against the probe's 0.005" in text and "63 optimisation steps" in text
        longer = {"BitFit": {**records["BitFit"], "steps": 126}}
        assert ch07.bitfit_phrase(records, longer) == ""  # the longer run's sentence says it, once


def test_method_table_shows_whole_settings_and_exact_rates():
    table = ch07.method_table(get_profile("book"))
    assert (
        table.loc["LoRA (tap)", "settings"]
        == "r 8; alpha 16; targets query, value; dropout 0.0; init A copied from PEFT"
    )
    assert (
        table.loc["full fine-tuning", "usual learning rate"] == "0.0001"
        and table.loc["full fine-tuning", "settings"] == "—"
    )


def test_frontier_series_names_the_book_encoder_by_how_it_was_trained():
    records = {"full fine-tuning": _record("full fine-tuning", "full", 0.85, 10_000_000)}
    scratch = {
        "from scratch": {"trainable_params": 900_000, "test_accuracy": 0.7},
        "AG News + full fine-tuning": {"trainable_params": 900_000, "test_accuracy": 0.75},
        "AG News + LoRA (ch. 05)": {"trainable_params": 9_000, "test_accuracy": 0.72},
    }
    series, _ = ch07.frontier_series(records, scratch)
    by_name = {name: sorted(label for _, _, label in points) for name, points in series.items()}
    assert by_name["the book's encoder, from scratch (ch. 01)"] == ["from scratch"]
    assert by_name["the book's encoder pre-trained on AG News (ch. 01, 04, 05)"] == [
        "LoRA (ch. 05)",
        "full fine-tuning",
    ]


@pytest.mark.parametrize(
    "pairs, verdict_words",
    [
        ([(0.80, 0.70), (0.81, 0.72), (0.79, 0.70)], "every seed's paired interval lies below zero"),
        ([(0.70, 0.80), (0.71, 0.82), (0.70, 0.79)], "every seed's paired interval lies above zero"),
        ([(0.80, 0.80), (0.80, 0.79), (0.79, 0.80)], "no seed's paired interval excludes zero"),
        ([(0.80, 0.70), (0.80, 0.80), (0.79, 0.80)], "1 of 3 seeds' paired intervals lie below zero"),
    ],
)
def test_seed_words_say_whether_parity_holds_over_the_seeds(pairs, verdict_words):
    repeats = {
        seed: {
            "full": _record("full", "full", full, 1, seed=seed),
            "ia3-peft": _record("(IA)³", "ia3-peft", best, 1, seed=seed + 10),
        }
        for seed, (full, best) in enumerate(pairs)
    }
    words = ch07.seed_words(repeats, "ia3-peft")
    assert verdict_words in words
    table = ch07.seed_table(repeats, "ia3-peft")
    shown = table[f"{METHOD['full'].label} (%)"].round(1), table[f"{METHOD['ia3-peft'].label} (%)"].round(1)
    assert (table["difference (points)"] == shown[1] - shown[0]).all()  # the difference of the values shown
    diffs = table["difference (points)"]
    assert f"from {diffs.min():+.1f} to {diffs.max():+.1f} points" in words


def test_wilson_interval_is_the_textbook_formula():
    z = intervals.Z95
    for correct, n in [(80, 100), (0, 10), (10, 10), (413, 500), (17, 32)]:
        p = correct / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        lo, hi = intervals.wilson_interval(correct, n)
        assert lo == pytest.approx(centre - half, abs=1e-12) and hi == pytest.approx(centre + half, abs=1e-12)


def _imdb(n_per_label: int, split: str) -> pd.DataFrame:
    words = {0: "dull boring awful waste", 1: "great moving superb fun"}
    return pd.DataFrame(
        [
            {"text": f"{split} review {i}: {words[y]} film number {i % 7}", "label": y}
            for y in (0, 1)
            for i in range(n_per_label)
        ]
    )


@pytest.fixture
def playbook_mirror(tmp_path, monkeypatch):
    """A mirror large enough for the smoke profile's anchor on 400 reviews, and a run cache of
    its own (chapter 07's cache keys name the data's sizes, not its content)."""
    from tap.data import datasets

    write_dataset(
        tmp_path,
        "imdb",
        {
            "train": _imdb(250, "train"),
            "test": _imdb(100, "test"),
            "unsupervised": _imdb(20, "unsup").assign(label=-1),
        },
    )
    write_dataset(
        tmp_path,
        "ag_news",
        {"test": pd.DataFrame([{"text": f"news {i} topic {y}", "label": y} for y in range(4) for i in range(200)])},
    )
    use_mirror(monkeypatch, tmp_path)
    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path / "cache"))
    yield tmp_path
    datasets.load.cache_clear()


def test_the_experiment_runs_every_method_and_the_introduction_shows_its_numbers(playbook_mirror):
    profile = get_profile("smoke")
    outcome = chapter("ch07").experiment(profile)
    json.dumps(outcome.records)  # the command line writes them
    comparison = outcome.context.comparison
    assert list(comparison) == [m.label for m in METHODS] + [TFIDF_SAME, TFIDF_ALL]
    assert all(outcome.records[k] is r for k, r in comparison.items())
    assert set(outcome.figures) == {
        "accuracy",
        "trainable_parameters",
        "accuracy_vs_parameters",
        "data_efficiency",
        "study_accuracy",
        "study_parameters",
    }
    from tap.chapters import ch07_study

    study = outcome.context.study
    assert ch07_study.shown_values(outcome.figures["study_accuracy"]) == list(study["accuracy"].values())
    assert study["parameters"]["rank-2 LoRA on that fc1"] == 2 * (16 + 128)  # smoke's word vectors: 16 dimensions
    assert {r["test_size"] for r in comparison.values()} == {32}
    by_key = {r["method_key"]: r for r in comparison.values() if "base_params" in r}
    assert by_key["lora"]["trainable_by_module"] == by_key["lora-peft"]["trainable_by_module"]
    assert "head" in by_key["ia3-peft"]["trainable_by_module"]
    assert any(k.startswith("book's encoder: ") for k in outcome.records)
    facts = ch07.facts(outcome)
    assert facts["train_n"] == 32 and facts["test_n"] == 32 and facts["tfidf_all_n"] == 400
    assert facts["small_n"] == 16 and facts["acc_full"] == 100 * by_key["full"]["test_accuracy"]
    assert facts["ag_frozen"] in {"top layer fine-tuned", "linear probe", "adapters (ch. 04)", "LoRA (ch. 05)"}
    native = fitting_precision()  # float32 runs have no bf16 run to compare with, and no float32 repeat
    assert facts["prec_name"] == ("float32" if native == "no" else native)
    assert (f"{METHOD['full'].label}, float32" in outcome.records) == (native != "no")
    repeats, best_key = outcome.context.repeats, outcome.context.best_key
    assert list(repeats) == list(ch07.SEEDS) and repeats[0]["full"]["test_correct"] == by_key["full"]["test_correct"]
    assert best_key == comparison[facts["best_label"]]["method_key"]
    for seed in ch07.SEEDS[1:]:  # other reviews and another initial head, at seed 0's chosen rate
        again = repeats[seed]["full"]
        assert (
            again["seed"] == seed
            and again["lr"] == by_key["full"]["lr"]
            and outcome.records[f"{again['method']}, seed {seed}"] is again
        )
        assert again["test_correct"] != by_key["full"]["test_correct"]  # scored on another draw of test reviews
    assert facts["seed_words"].startswith(f"Over {len(ch07.SEEDS)} seeds the difference runs from")
    # The comparison is the command's: run_playbook on IMDB's own splits, at the pinned sizes.
    result = outcome.context.result
    assert result.task.source == IMDB and result.plan.pinned and result.plan.pilot == 16
    assert {k: getattr(result.plan, k) for k in ("train", "val", "test")} == {"train": 32, "val": 16, "test": 32}
    assert all(comparison[label] is r for label, r in result.records.items())
    # The introduction: the same comparison, now from the run cache, and the same numbers.
    headline = chapter("ch07").experiment(profile, comparison_only=True)
    assert all(r["from_cache"] for r in headline.records.values())
    assert set(headline.figures) == {"accuracy_vs_parameters", "study_accuracy", "study_parameters"}
    shown = ch07.facts(headline)
    assert shown == {k: v for k, v in facts.items() if k in shown}
    assert {"model", "best_label", "diff_words", "target_word", "anchor_words", "tfidf_all_acc"} <= set(shown)


def test_a_run_that_ended_at_chance_is_named_with_its_pilot():
    bitfit = {**_record("BitFit", "bitfit", 0.5, 100), "best_val_accuracy": 0.5, "lr": 6e-3, "train_examples": 500}
    probe = {**_record("linear probe", "probe", 0.73, 10), "best_val_accuracy": 0.735, "lr": 1.5e-2}
    pilot = {"lr": 6e-3, "best_val_accuracy": 0.725, "train_examples": 250}
    records = {METHOD["bitfit"].label: bitfit, METHOD["probe"].label: probe}
    words = ch07.collapse_words(records, {METHOD["bitfit"].label: [{"lr": 2e-3, "best_val_accuracy": 0.6}, pilot]})
    assert ch07.collapsed(bitfit) and not ch07.collapsed(probe)
    assert words.startswith(
        f"{METHOD['bitfit'].label} ended at chance (50.0% on the test reviews, 50.0% on validation)"
    )
    assert "pilot on 250 reviews at that rate reached 72.5%" in words
    assert "ended at chance" in ch07.bitfit_phrase(records)
    assert (
        ch07.collapse_words({METHOD["probe"].label: probe}, {})
        == "Every run at its searched rate learned: none ended at chance."
    )


def _paired_with(full_correct: list[int], label: str, params: int, down: int, up: int = 0) -> dict:
    """A method scored on full fine-tuning's test reviews: ``down`` of full's right answers
    turned wrong and ``up`` of its wrong ones turned right, so the paired interval is narrow."""
    correct = list(full_correct)
    for i in [i for i, c in enumerate(correct) if c][:down] + [i for i, c in enumerate(correct) if not c][:up]:
        correct[i] = 1 - correct[i]
    return {
        "method": label,
        "test_accuracy": sum(correct) / len(correct),
        "test_correct": correct,
        "trainable_params": params,
        "base_params": 10_000_000,
    }


def test_footprint_row_claims_no_loss_only_when_the_paired_interval_allows_it():
    full_correct = [1] * 850 + [0] * 150
    full = _paired_with(full_correct, "full fine-tuning", 10_000_000, 0)
    close, far = (
        _paired_with(full_correct, "LoRA (peft)", 50_000, 2),
        _paired_with(full_correct, "(IA)³ (peft)", 10_000, 40),
    )
    situation, chosen, evidence = ch07.footprint_row(
        {"full fine-tuning": full, "LoRA (peft)": close, "(IA)³ (peft)": far}
    )
    assert chosen == "LoRA (peft)"  # (IA)³ is smaller but measurably 4 points behind
    assert situation.startswith("the smallest per-task footprint without losing more than")
    assert "against full fine-tuning's 85.0%" in evidence
    situation, chosen, evidence = ch07.footprint_row({"full fine-tuning": full, "(IA)³ (peft)": far})
    assert chosen == "(IA)³ (peft)" and "loses accuracy" in situation and "without losing" not in situation
    assert "below zero" in evidence


@pytest.mark.parametrize(
    "lo, hi, claim",
    [
        (-0.5, 0.8, "kept"),
        (-0.9, -0.2, "kept"),  # behind, but by less than the margin: non-inferior
        (-PEFT_TARGET_POINTS, 0.3, "kept"),
        (0.2, 1.5, "kept"),
        (-2.0, 0.5, "undecided"),
        (-3.0, -0.5, "lost"),
    ],
)
def test_paired_claim_is_the_one_rule_for_a_paired_interval(lo, hi, claim):
    assert verdict.paired_claim(lo, hi) == claim


def test_interval_sentence_glosses_an_interval_that_includes_zero_as_undecided():
    assert verdict.interval_sentence(-1.24, 0.5).endswith("includes zero: this test set cannot tell the two apart.")
    assert verdict.interval_sentence(0.3, 2.0).endswith("excludes zero: this test set tells the two apart.")
    assert "-1.2 to +0.5 points" in verdict.interval_sentence(-1.24, 0.5)
    for lo, hi in [(-1.0, 1.0), (0.1, 0.2), (-3.0, -2.0)]:
        assert "choice of" not in verdict.interval_sentence(lo, hi)


def _headline(adapters_acc: float) -> dict[str, dict]:
    """Full fine-tuning, the probe, adapters at ``adapters_acc`` and the anchor, as the command records them."""
    records = {
        METHOD["full"].label: _record("full fine-tuning", "full", 0.80, 10_000_000, seed=1),
        METHOD["probe"].label: _record("linear probe", "probe", 0.75, 770, seed=2),
        METHOD["adapters"].label: _record("adapters (tap)", "adapters", adapters_acc, 90_000, seed=3),
        TFIDF_SAME: {**_record(TFIDF_SAME, "tfidf", 0.82, 50_000, seed=4)},
    }
    del records[TFIDF_SAME]["base_params"]
    for label in (METHOD["full"].label, METHOD["adapters"].label):
        records[label].update({"lr": 1e-3, "steps": 63, "model": "bert-base-uncased", "memory_used_mb": 500.0})
    return records


def test_a_method_below_the_probe_is_named_with_what_its_longer_run_showed():
    records = _headline(0.74)
    assert below_probe(records) == [METHOD["adapters"].label]
    assert below_probe(_headline(0.751)) == []  # 75.1% is above 75.0% as shown
    assert below_probe({**_headline(0.7504)}) == []  # shown as 75.0%: level with the probe
    lifted = {METHOD["adapters"].label: {**records[METHOD["adapters"].label], "test_accuracy": 0.77, "steps": 126}}
    words = verdict.longer_words(records, lifted)
    assert words.startswith("adapters (tap) ended 1.0 point below the linear probe (74.0% against 75.0%)")
    assert "trained twice as long at the same rate it reaches 77.0%, 2.0 points above the probe" in words
    assert words.endswith("so the short run was undertrained.")
    still = {METHOD["adapters"].label: {**lifted[METHOD["adapters"].label], "test_accuracy": 0.745}}
    assert "0.5 points below the probe, so more of the same training does not close the gap" in verdict.longer_words(
        records, still
    )
    assert verdict.longer_words(_headline(0.76), {}) == (
        "No parameter-efficient run here (adapters (tap)) ended below the linear probe on the same base."
    )


def test_method_facts_state_one_method_against_full_fine_tuning_and_the_probe():
    facts = verdict.method_facts(_headline(0.79), "adapters", {})
    assert (facts["acc"], facts["full_acc"], facts["probe_acc"], facts["tfidf_acc"]) == (79.0, 80.0, 75.0, 82.0)
    assert facts["vs_full"] == "1.0 point below" and facts["vs_probe"] == "4.0 points above"
    assert facts["vs_tfidf"] == "3.0 points below" and facts["share"] == pytest.approx(0.9)
    assert facts["target_word"] == "meets" and facts["lo"] <= -1.0 <= facts["hi"]
    reading = verdict.paired_claim(facts["lo"], facts["hi"])
    assert facts["claim"].startswith(
        {"kept": "the whole interval lies above", "undecided": "the interval includes"}[reading]
    )
    assert verdict.method_facts(_headline(0.78), "adapters", {})["target_word"] == "misses"
    assert facts["full_state_mb"] == pytest.approx(12 * 10_000_000 / 2**20)  # gradient + AdamW's two moments


@pytest.mark.parametrize(
    "lo, hi, words",
    [
        (0.2, 1.5, "shows it ahead of full fine-tuning"),
        (-0.5, 0.8, "loses at most 1 point (non-inferiority), though this test set cannot tell the two apart"),
        (-0.9, -0.2, "loses at most 1 point (non-inferiority), though it is measurably behind"),
        (-2.0, 0.5, "can neither tell the two apart nor rule out a larger loss"),
        (-3.0, -0.5, "measurably behind"),
    ],
)
def test_claim_words_say_what_the_interval_shows_and_name_the_margin(lo, hi, words):
    sentence = verdict.claim_words(lo, hi)
    assert words in sentence
    assert ("(non-inferiority)" in sentence) == (verdict.paired_claim(lo, hi) == "kept" and lo <= 0)
    if lo <= 0 and verdict.paired_claim(lo, hi) != "lost":
        assert "-1 point, the target's margin" in sentence


def test_search_words_name_each_method_whose_rate_left_the_middle_once():
    def runs(*accs):
        return [{"lr": lr, "best_val_accuracy": a} for lr, a in zip((1e-4, 3e-4, 9e-4), accs)]

    search = {"A": runs(0.6, 0.7, 0.8), "B": runs(0.7, 0.72, 0.71)}
    records = {"A": {"lr": 9e-4}, "B": {"lr": 3e-4}}
    words = verdict.search_words(records, search)
    assert "mattered most for A: its validation accuracy ranged over 20.0 points" in words
    assert words.count("A") == 2 and "For A validation chose a rate other than the usual one, at the edge" in words
    records["A"]["lr"] = 3e-4
    assert verdict.search_words(records, search).endswith(
        "Validation chose every method's usual rate, the middle of the three."
    )
