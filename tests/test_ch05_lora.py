"""Chapter 05's experiment (``tap.chapters.ch05_lora``): ``tap.methods.lora`` checked against Hugging Face
PEFT, the helpers of the LoRA runs, and the one entry point the page and the command line call."""

import dataclasses
import math

import pytest
import torch
from tiny_encoder import batch, encoder

from tap.chapters import ch05_lora as ch05
from tap.chapters import ch05_word_vectors
from tap.data.text import EncodedDataset
from tap.pages import plots
from tap.training.loop import evaluate

# --- tap.methods.lora against PEFT -----------------------------------------------------------------------


def test_equivalence_with_peft_on_taps_encoder():
    result = ch05.compare_with_peft(
        encoder(), batch(), ch05.ATTENTION + ch05.FEED_FORWARD, rank=4, alpha=8, head=("head",)
    )
    assert result["layers"] == 12 and result["lora_effect"] > 1e-3  # the adapters really change the output
    assert max(result["max_abs_diff"].values()) <= 1e-5, result
    assert result["trainable_tap"] == result["trainable_peft"] == 8 * 4 * (16 + 16) + 4 * 4 * (16 + 32) + 34


def test_equivalence_with_peft_on_the_embedding_table():
    result = ch05.compare_with_peft(encoder(), batch(), ["embedding", "query"], rank=3, alpha=6, head=("head",))
    assert result["layers"] == 3 and result["lora_effect"] > 1e-3
    assert max(result["max_abs_diff"].values()) <= 1e-5, result
    assert result["trainable_tap"] == result["trainable_peft"] == 3 * (40 + 16) + 2 * 3 * (16 + 16) + 34


@pytest.fixture(scope="module")
def minilm():
    from tap.models import pretrained

    try:
        return pretrained.load_classifier("bert-base-uncased", 2)
    except RuntimeError as err:  # neither the Hub nor the offline copy
        pytest.skip(str(err))


@pytest.mark.parametrize("rslora", [False, True])
def test_equivalence_with_peft_on_bert(minilm, rslora):
    model, tokenizer = minilm
    inputs = dict(tokenizer(["a wonderful, moving film", "dull and far too long"], padding=True, return_tensors="pt"))
    targets = ["query", "value", "attention.output.dense"]
    result = ch05.compare_with_peft(model, inputs, targets, rank=4, alpha=8, rslora=rslora)
    layers = model.config.num_hidden_layers
    assert result["layers"] == 3 * layers and result["lora_effect"] > 1e-4
    assert max(result["max_abs_diff"].values()) <= 1e-5, result
    hidden = model.config.hidden_size
    assert result["trainable_tap"] == result["trainable_peft"] == 3 * layers * 4 * 2 * hidden + 2 * hidden + 2


def test_step_time_comparison_runs(minilm):
    model, tokenizer = minilm
    inputs = dict(tokenizer(["a wonderful film", "dull"], padding="max_length", max_length=16, return_tensors="pt"))
    result = ch05.step_time_vs_peft(model, inputs, torch.tensor([1, 0]), ["query", "value"], repeats=2, warmup=1)
    assert (
        result["tap_s"] > 0
        and result["peft_s"] > 0
        and math.isclose(result["ratio"], result["tap_s"] / result["peft_s"])
    )
    assert result["batch"] == [2, 16] and result["repeats"] == 2


def test_equivalence_table_shows_tiny_differences_legibly():
    check = {
        "max_abs_diff": {"before merging": 0.0, "after merging": 2.4e-7, "after unmerging": 1e-8},
        "layers": 12,
        "trainable_tap": 74_498,
        "trainable_peft": 74_498,
    }
    row = ch05.equivalence_table({"BERT": check}).loc["BERT"]
    assert row["max |Δ| before merging"] == "0" and row["max |Δ| after merging"] == "2.4e-07"
    assert row["trainable params (tap)"] == 74_498


# --- The helpers of the LoRA runs ----------------------------------------------------------------


def test_balanced_subset_keeps_the_balance_and_the_order():
    data = EncodedDataset([[1] * n for n in (5, 3, 8, 2, 6, 4)], [0, 0, 0, 1, 1, 1])
    half = ch05.balanced_subset(data, 0.5)
    assert sorted(half.labels) == [0, 0, 1, 1] and half.ids[0] == [1] * 5
    assert ch05.balanced_subset(data, 1.0) is data


def test_evaluation_does_not_depend_on_the_order_of_the_examples():
    """Evaluation batches a split from its shortest example to its longest (``by_length``), so the LoRA
    runs need no length-sorted copy of the validation and test sets: the batches, hence the numbers,
    are the same."""
    g = torch.Generator().manual_seed(0)
    data = EncodedDataset(
        [torch.randint(2, 40, (int(n),), generator=g).tolist() for n in torch.randint(1, 20, (50,), generator=g)],
        torch.randint(0, 2, (50,), generator=g).tolist(),
    )
    order = sorted(range(len(data)), key=lambda i: len(data.ids[i]))
    ordered = EncodedDataset([data.ids[i] for i in order], [data.labels[i] for i in order])
    assert evaluate(encoder(), data, batch_size=8) == evaluate(encoder(), ordered, batch_size=8)


class _Run:
    def __init__(self, record):
        self.record = record


def _history(losses, batch=10, per_epoch=2):
    return [
        {
            "step": i + 1,
            "epoch": (i + 1) / per_epoch,
            "examples": batch * (i + 1),
            "train_loss": t,
            "val_loss": v,
            "val_accuracy": 0.5,
        }
        for i, (t, v) in enumerate(losses)
    ]


def test_within_budget_is_the_share_of_the_models_own_parameters():
    runs = {
        "small": _Run({"trainable_params": 9, "total_params": 1_000}),  # 0.9%
        "edge": _Run({"trainable_params": 10, "total_params": 1_000}),  # 1.0%
        "large": _Run({"trainable_params": 29, "total_params": 1_000}),
    }  # 2.9%
    assert set(ch05.within_budget(runs, share=1.0)) == {"small", "edge"}
    assert set(ch05.within_budget(runs, share=2.9)) == {"small", "edge", "large"}


def test_training_curves_are_drawn_against_training_examples_seen():
    records = {
        "short run": {"history": _history([(0.7, 0.69), (0.6, 0.65)], batch=10), "train_config": {"batch_size": 10}},
        "long run": {"history": _history([(0.7, 0.7)] * 4, batch=20), "train_config": {"batch_size": 20}},
    }
    fig = plots.training_curves_by_examples(records, title="t")
    loss_ax = fig.axes[0]
    assert loss_ax.get_xlabel() == "training examples seen"
    xs = sorted({x for line in loss_ax.get_lines() for x in line.get_xdata()})
    assert xs[-1] == 80 and 20 in xs  # the long run's 4 × 20 examples; the short run ends at 20


def test_overfitting_reads_the_validation_curve():
    rec = {"history": _history([(0.6, 0.5), (0.4, 0.45), (0.2, 0.55)])}
    o = ch05.overfitting(rec)
    assert o["rose"] and o["min_val_loss"] == 0.45 and o["min_val_examples"] == 20
    assert o["final_val_loss"] == 0.55 and o["final_train_loss"] == 0.2
    assert not ch05.overfitting({"history": _history([(0.6, 0.5), (0.4, 0.45)])})["rose"]


# --- The experiment ------------------------------------------------------------------------------


def test_the_experiment_is_one_entry_point_for_the_page_and_the_command_line(mirror):
    import json

    from tap import __main__ as cli
    from tap.chapters import chapter
    from tap.core.profiles import get_profile

    assert cli.chapter("ch05").experiment is chapter("ch05").experiment is ch05.experiment
    outcome = ch05.experiment(get_profile("smoke"))
    json.dumps(outcome.records)  # the command line writes them
    c = outcome.context
    assert set(c.by_target) == set(ch05.TARGETS) and set(c.sweep) == set(ch05.RANKS)
    assert len(c.runs) == len(ch05.TARGETS) + len(ch05.RANKS) - 1 and set(c.runs) < set(outcome.records)
    assert c.best_target in ch05.TARGETS and c.best_name in c.runs
    assert set(c.cnn) == set(ch05.CNN_METHODS) and set(outcome.figures) == {
        "rank_sweep",
        "training_curves",
        "latency",
        "word_vectors",
    }
    assert max(outcome.records[ch05.LATENCY]["max_abs_diff"].values()) <= 1e-4  # merging changes no prediction
    facts = ch05.facts(outcome)
    best = outcome.records[c.best_name]
    assert facts["best_acc"] == 100 * best["test_accuracy"] and facts["best_name"] == c.best_name
    assert facts["ft_acc"] == 100 * outcome.records[ch05.FULL]["test_accuracy"]
    assert facts["rank1_acc"] == 100 * c.sweep[1].record["test_accuracy"]
    assert facts["lora_train"] == best["train_examples"] == outcome.records[ch05.FULL]["train_examples"] // 2
    assert facts["target_met"] in ("meets", "misses") and facts["cnn_remark"] and facts["cnn_placement"]
    assert facts["cnn_ft_acc"] == 100 * outcome.records["CNN: full fine-tuning"]["test_accuracy"]
    assert all(isinstance(v, (int, float, str)) for v in facts.values())
    study = {name: r for name, r in outcome.records.items() if name.startswith("word vectors: ")}
    assert len(study) == 6 + len(
        ch05_word_vectors.RANKS
    )  # IMDB alone, AG News, probe, fc1, one per rank; two on few reviews
    assert facts["wv_lora2_acc"] == 100 * study["word vectors: AG News → LoRA on fc1, rank 2"]["test_accuracy"]
    assert facts["wv_lora_weights"] == 2 * (facts["wv_dim"] + 128)  # rank 2 on fc1: A is 2 × dim, B 128 × 2
    within = dataclasses.replace(
        outcome, context=dataclasses.replace(c, small_name=c.best_name)
    )  # as if one run were small enough
    assert ch05.facts(within)["small_sentence"].startswith(
        f"Among the runs that train at most 1% of their model's parameters, the best by validation, {c.best_name}, "
    )
