"""Chapter 03's experiment: one entry point for the page and the command line, and the classifier
it fine-tunes."""

import re
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, BertForMaskedLM, BertModel

from tap.chapters import ch03_language_model as ch03
from tap.data import subwords
from tap.models.lm_finetune import bert_classifier
from tap.models.pooled import MeanPooledClassifier
from tap.training import lm


def test_the_mean_pooled_classifier_draws_its_head_after_the_encoder(tmp_path):
    """The body exists first, then the head: a from-scratch classifier's weights are those of a
    random BERT and then a random ``Linear``, drawn in that order from seed 0."""
    texts = ["the movie was great.", "the plot was boring.", "loved the acting."] * 20
    tokenizer = subwords.train_wordpiece(texts, vocab_size=80)
    size = lm.LMSize(
        d_model=16, num_layers=1, num_heads=2, d_ff=32, block_size=16, train_tokens=0, batch_size=4, lr=1e-3, evals=1
    )
    BertForMaskedLM(lm.bert_config(tokenizer, size)).save_pretrained(tmp_path)
    model = bert_classifier(tmp_path, pretrained=False)
    torch.manual_seed(0)
    bert = BertModel(AutoConfig.from_pretrained(tmp_path, hidden_dropout_prob=0.1), add_pooling_layer=False)
    head = nn.Linear(size.d_model, 2)
    assert isinstance(model, MeanPooledClassifier) and model.dropout.p == 0.1
    assert torch.equal(model.head.weight, head.weight) and torch.equal(model.head.bias, head.bias)
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, bert.embeddings.word_embeddings.weight)


def test_the_experiment_is_one_entry_point_for_the_page_and_the_command_line(mirror):
    from tap import __main__ as cli
    from tap.chapters import chapter
    from tap.core.profiles import get_profile

    assert cli.chapter("ch03").experiment is chapter("ch03").experiment is ch03.experiment
    outcome = ch03.experiment(get_profile("smoke"))
    assert set(ch03.CLASSIFIERS.values()) | {ch03.MASKED_LM, ch03.CAUSAL_LM, ch03.WORD_VECTORS} == set(outcome.records)
    assert outcome.context.neighbours.shape[1] == 5
    assert set(outcome.figures) == {"masked_lm_curves", "causal_lm_curves", "test_accuracy"}
    facts = ch03.facts(outcome)
    bert = outcome.records[ch03.CLASSIFIERS["bert_pre"]]
    assert facts["bert_pre_acc"] == 100 * bert["test_accuracy"] and facts["test_size"] == 64
    assert facts["mlm_params"] == outcome.records[ch03.MASKED_LM]["total_params"]
    assert facts["fill_sentences"] == len(ch03.FILL_SENTENCES) and facts["top_k"] == ch03.GENERATION["top_k"]
    assert facts["vocab_size"] == subwords.CORPUS["smoke"].vocab_size
    assert facts["verdict"] and facts["takeaway"] and facts["clm_vs_unigram_word"] in ("below", "above")
    assert list(outcome.context.samples.index) == ch03.PROMPTS
    for prefix, name in (("mlm", ch03.MASKED_LM), ("clm", ch03.CAUSAL_LM)):  # the interval the curves show
        history = outcome.records[name]["history"]
        assert facts[f"{prefix}_eval_tokens"] == history[1]["tokens"] > 0
    page = (Path(__file__).resolve().parents[1] / "book" / "03_language_model.md").read_text()
    assert set(re.findall(r"\{glue:text\}`ch03_(\w+)", page)) == set(facts)  # every fact on the page, none missing
    assert facts["mlm_vocab"] == len(outcome.context.wordpiece)
    assert facts["mlm_uniform_words"] in ("about", "near", "of the order of")
    figure = outcome.figures["masked_lm_curves"]
    figure.canvas.draw()
    perplexity_axis = figure.axes[1]  # log scale, labelled with plain numbers ("6,000", not "6×10³")
    labels = [t.get_text() for t in perplexity_axis.get_yticklabels() + perplexity_axis.get_yticklabels(minor=True)]
    assert any(labels) and all(label.replace(",", "").replace(".", "").isdigit() for label in labels if label)
    assert outcome.records[ch03.CLASSIFIERS["bert_scratch"]]["total_params"] == bert["total_params"]
