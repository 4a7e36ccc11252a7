"""Chapter 04's experiment: adapters on chapter 01's AG-News-pre-trained encoder."""

import json
from types import SimpleNamespace as NS

import torch

from tap.chapters import ch04_adapters as ch04
from tap.methods import adapters


def test_sentiment_words_are_counted_in_the_source_text():
    itos = ["<pad>", "<unk>", "great", "awful", "film", "market"]
    imdb = NS(ids=[[2, 4]] * 10 + [[3, 4]] * 10, labels=[1] * 10 + [0] * 10)
    setup = NS(imdb=NS(train=imdb), ag_news=NS(train=NS(ids=[[5, 4, 2], [5]])), vocab=NS(itos=itos))
    table = ch04.sentiment_words_in_source(setup, top=2, min_reviews=5)
    assert set(table["word"]) == {"great", "awful"}  # "film" is in every review: no lean
    counts = dict(zip(table["word"], table["occurrences in AG News training text"]))
    leans = dict(zip(table["word"], table["leans"]))
    assert counts == {"great": 1, "awful": 0} and leans == {"great": "positive", "awful": "negative"}


def test_the_experiment_is_one_entry_point_for_the_page_and_the_command_line(mirror):
    from tap import __main__ as cli
    from tap.chapters import chapter
    from tap.core.profiles import get_profile

    assert cli.chapter("ch04").experiment is chapter("ch04").experiment is ch04.experiment
    outcome = ch04.experiment(get_profile("smoke"))
    r, c = outcome.records, outcome.context
    m = c.m
    assert m == adapters.bottleneck_size(get_profile("smoke").encoder.d_model)
    assert set(outcome.figures) == {"training_curves", "bottleneck_sweep"}
    assert c.comparison[:4] == [
        "full fine-tuning",
        "linear probe",
        ch04.label("houlsby", m),
        ch04.label("pfeiffer", m),
    ]
    assert len(c.comparison) == 2 + 1 + len(ch04.sweep_sizes(get_profile("smoke")))
    # Only the adapters and the head trained: every adapter run sits on the source encoder.
    base = c.runs["source"].model.state_dict()
    for run in (c.runs["houlsby"], c.runs["pfeiffer"], c.runs["ag"]):
        assert all(
            torch.equal(v, base[n.replace(".linear.", ".")])
            for n, v in run.model.state_dict().items()
            if not adapters.is_task_parameter(n)
        )
    assert r["AG News adapters"]["test_size"] == c.setup.ag_news.splits.test.num_rows
    assert all(row["accuracy after switching (%)"] == row["accuracy in its own run (%)"] for row in c.switches)
    facts = ch04.facts(outcome)
    assert facts["houlsby_acc"] == 100 * r[ch04.label("houlsby", m)]["test_accuracy"]
    assert facts["houlsby_formula"] == r[ch04.label("houlsby", m)]["trainable_params"]
    assert facts["pfeiffer_formula"] == r[ch04.label("pfeiffer", m)]["trainable_params"]
    assert facts["best_name"] in c.comparison and facts["target"] in ("meets", "misses")
    assert facts["sweep_n"] == len(c.sweep) and facts["test_size"] == 64
    assert all(isinstance(v, (int, float, str)) for v in facts.values())
    json.dumps(r)  # the command line writes the records
