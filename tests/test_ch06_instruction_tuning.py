"""Chapter 06: one experiment for the page and the command line. It runs on the book's data
(``TAP_DATA_DIR`` or the Hub), as the page does: the base model of part 2 is chapter 03's causal
LM, whose tokenizer, trained on the tiny test mirror's few words, could not fit the templates in
the smoke profile's 64-token context."""

import json

from tap.chapters import ch06_instruction_tuning as ch06
from tap.core.report import format_table
from tap.training.instruct import OPTIONS


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
