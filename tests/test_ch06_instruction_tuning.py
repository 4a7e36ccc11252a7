"""Chapter 06: one experiment for the page and the command line. It runs on the book's data
(``TAP_DATA_DIR`` or the Hub), as the page does: the base model of part 2 is chapter 03's causal
LM, whose tokenizer, trained on the tiny test mirror's few words, could not fit the templates in
the smoke profile's 64-token context."""

import json
import re
from pathlib import Path

import pytest

from tap.chapters import ch06_instruction_tuning as ch06
from tap.core.report import format_table
from tap.training.instruct import OPTIONS

PAGE = Path(__file__).resolve().parents[1] / "book" / "06_instruction_tuning.md"
TASKS = ["sentiment"] * 4 + ["genre"] * 4 + ["topic"] * 4
GOLD = ["negative", "positive"] * 2 + ["review", "news"] * 2 + ["world", "sports", "business", "science"]
MAJORITY = {"sentiment": "negative", "genre": "review", "topic": "world"}
MAJORITY_SCORES = {"sentiment": 0.5, "genre": 0.5, "topic": 0.25}


def test_the_experiment_is_one_entry_point_for_the_page_and_the_command_line():
    from tap import __main__ as cli
    from tap.chapters import chapter
    from tap.core.profiles import get_profile

    assert cli.chapter("ch06").experiment is chapter("ch06").experiment is ch06.experiment
    outcome = ch06.experiment(get_profile("smoke"))
    json.dumps(outcome.records)  # the command line writes them
    assert set(outcome.figures) == {
        "training_curves",
        "ag_news_confusion",
        "instruction_loss",
        "instruction_exact_match",
    }
    bert = outcome.records["BERT, fully fine-tuned (ag_news)"]
    assert "test_probs" not in bert and "test_probs" in outcome.context.bert["ag_news"].record
    assert list(ch06.classification_table(outcome).index) == [
        "BERT, fully fine-tuned (ag_news)",
        "majority class (ag_news)",
        "TF-IDF + logistic regression (ag_news)",
    ]
    sft = outcome.context.sft
    assert "responses" not in outcome.records["instructions: LoRA"] and len(sft["LoRA"]["responses"]) == 12

    facts = ch06.facts(outcome)
    assert facts["acc"] == 100 * bert["test_accuracy"] and facts["test_n"] == bert["test_size"] == 32
    assert facts["majority_acc"] == 25.0 and facts["eval_n"] == 4
    assert facts["full_params"] == sft["full tuning"]["trainable_params"] == sft["untuned"]["total_params"]
    majority = outcome.context.setup.data.majority_accuracy()
    assert facts["lora_share"] == format_table(ch06.comparison_table(sft, majority)).loc["LoRA", "trainable (%)"]
    assert all(f"{name}_{task}" in facts for name in ("untuned", "full", "lora") for task in OPTIONS)
    assert "stands in for facebook/opt-350m" in facts["base"]
    scores, costs = ch06.classification_tables(outcome)
    assert len(scores.columns) <= 4 and len(costs.columns) <= 4  # narrow enough for the page
    assert scores["test macro-F1 (%)"].notna().all()  # TF-IDF's computed from its predictions
    assert not any(name.startswith("BERT") for name in scores.index)  # named by what ran: the stand-in
    assert not any(name.startswith("majority") for name in costs.index)
    assert facts["bert_name"] in scores.index[0]  # the prose and the table name the same model
    named = set(re.findall(r"\{glue:text\}`ch06_(\w+)", PAGE.read_text()))
    assert named - {"masked", "trained"} <= set(facts)  # every name the prose pastes (the page glues those two)
    assert "bert-base-cased" in facts["bert"] and facts["bert"].count("full profile") == 1
    curves = outcome.figures["training_curves"]
    legend = [t.get_text() for t in curves.legends[0].get_texts()] if curves.legends else []
    legend += [t.get_text() for ax in curves.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert any(text.startswith(f"{facts['bert_name']} on AG News") for text in legend), legend


@pytest.mark.parametrize(
    "value, shown",
    [
        (100.0, "100.0"),
        (0.0, "0.0"),
        (99.72, "99.7"),
        (99.97, "99.97"),
        (99.996, "99.996"),
        (0.02, "0.02"),
        (50.0, "50.0"),
    ],
)
def test_a_share_that_is_not_exactly_100_or_0_never_reads_as_one(value, shown):
    assert ch06.percent(value) == shown


def _record(answers: list[str], picked: list[str] | None = None, gold: list[str] = GOLD) -> dict:
    picked = picked or answers
    constrained = {t: sum(p == g for p, g, u in zip(picked, gold, TASKS) if u == t) / TASKS.count(t) for t in OPTIONS}
    return {"responses": answers, "constrained_answers": picked, "constrained": constrained}


def test_a_model_that_gives_one_answer_to_every_prompt_is_named_with_that_answer():
    train = ["negative", "positive", "review", "news"] * 4 + ["world", "sports", "business", "science"] * 2
    records = {"untuned": _record(["The film is"] * 6 + ["It was"] * 6, GOLD), "LoRA": _record(["Review."] * 12)}
    words = ch06.one_answer_words(records, TASKS, train)
    assert words.startswith("LoRA answers 'review' to every held-out prompt, sentiment, genre and topic alike")
    assert "an option of the genre task only" in words and "one of the four answers most common" in words
    assert "untuned" not in words  # it gave several answers
    assert ch06.one_answer_words({"LoRA": _record(GOLD)}, TASKS, train) == ""
    assert ch06._valid_note(records["LoRA"], TASKS) == " (every answer was 'review', an option of the genre task only)"
    assert ch06._valid_note(_record(GOLD), TASKS) == ""


def test_one_option_per_task_under_constrained_decoding_is_said_to_score_the_majority_answer():
    constant = ["positive"] * 4 + ["review"] * 4 + ["world"] * 4
    records = {"untuned": _record(GOLD, constant), "full tuning": _record(GOLD), "LoRA": _record(GOLD, constant)}
    words = ch06.one_option_words(records, TASKS, GOLD, MAJORITY, MAJORITY_SCORES)
    assert words.startswith("Under constrained decoding the untuned model and LoRA pick one and the same option")
    assert "'positive' for sentiment" in words and "exactly the majority answer's 41.7%" in words
    assert "full tuning" not in words
    assert ch06.one_option_words({"full tuning": _record(GOLD)}, TASKS, GOLD, MAJORITY, MAJORITY_SCORES) == ""
    unbalanced = ["negative"] * 4 + GOLD[4:]  # one option per task, but not the one that scores the majority's
    lora = {"LoRA": _record(GOLD, constant, unbalanced)}  # 'positive' is never right on sentiment now
    words = ch06.one_option_words(lora, TASKS, unbalanced, MAJORITY, {**MAJORITY_SCORES, "sentiment": 1.0})
    assert "exactly" not in words and "counts how often that option is the answer" in words
