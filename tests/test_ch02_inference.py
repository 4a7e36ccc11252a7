"""Chapter 02's experiment, as the page and ``python -m tap run ch02`` call it: its records are
JSON, it glues every number the page's prose names, and its measurements hold together."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tap.chapters import chapter
from tap.core.profiles import get_profile

PAGE = Path(__file__).resolve().parents[1] / "book" / "02_inference.md"
# Glued on the page itself, from its demonstration cells (the manual path, pipeline(), fill-mask,
# sentence similarity) rather than from the experiment's measurements.
GLUED_BY_DEMONSTRATIONS = {"manual_remark", "pipe_diff", "mlm_note", "sim_film", "sim_cross", "sim_stocks"}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """The smoke experiment, once for the module, with the book's data mirror replaced by a tiny one."""
    from fake_mirror import use_mirror, write_dataset

    from conftest import imdb_rows
    from tap.data import datasets

    root = tmp_path_factory.mktemp("mirror")
    write_dataset(
        root,
        "imdb",
        {
            "train": imdb_rows(100, split="train"),
            "test": imdb_rows(100, split="test"),
            "unsupervised": imdb_rows(200, label_values=(-1,), split="unsup"),
        },
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_mirror(monkeypatch, root)
        yield chapter("ch02").experiment(get_profile("smoke"))
    datasets.load.cache_clear()


def test_the_records_are_the_results_table_and_json(outcome):
    assert list(outcome.records) == [
        "MiniLM + IMDB head, float32",
        "MiniLM + IMDB head, int8 (dynamic)",
        "TF-IDF + logistic regression",
    ]
    json.dumps(outcome.records)  # the command line writes them
    assert all(r["test_size"] == 24 for r in outcome.records.values())
    assert set(outcome.figures) == {
        "decoding",
        "next_token",
        "batch_size",
        "padding",
        "truncation",
        "autograd",
        "quantisation",
    }


def test_facts_glue_every_number_the_prose_names(outcome):
    ch02 = chapter("ch02")
    facts = ch02.facts(outcome)
    named = set(re.findall(r"\{glue:text\}`ch02_(\w+)", PAGE.read_text()))
    assert named - GLUED_BY_DEMONSTRATIONS == set(facts)
    assert facts["test_size"] == 24 and facts["train_size"] == 40 and facts["n_prompts"] == len(ch02.PROMPTS)
    assert all(isinstance(facts[k], str) for k in ("mode_verdict", "mode_pair_verdict", "mode_advice", "q_compare"))


def test_the_measurements_hold_together(outcome):
    from tap.training import inference

    c = outcome.context
    assert c.padding["padding (% of positions)"].is_monotonic_decreasing  # max length ≥ dynamic ≥ sorted
    assert c.q_info["agreement"] >= 0.7
    # the summary's inference column is the quantisation measurement, row for row
    summary = inference.summary_table(outcome.records, batch_size=16)
    for variant in c.quant.index:
        assert (
            summary.loc[f"MiniLM + IMDB head, {variant}", "inference, batches of 16 (reviews/s)"]
            == c.quant.loc[variant, "reviews/s"]
        )
    # the sampling filters only remove tokens, and renormalise the ones they keep
    dists = c.next_token
    assert all(sum(d.values()) <= 1 + 1e-5 for d in dists.values())
    from tap.chapters.ch02_inference import COOL_T, HOT_T, TOP_K

    assert sum(v > 0 for v in dists[f"top-k, k = {TOP_K}"].values()) <= TOP_K
    cool, hot = (max(dists[f"T = {t:g}"].values()) for t in (COOL_T, HOT_T))
    assert cool >= max(dists["T = 1 (unchanged)"].values()) >= hot
    # one set of settings: the generation table samples with the figure's temperature and k
    assert {f"temperature {HOT_T:g}", f"top-k (k={TOP_K})"} <= set(c.sampling.index)
    assert len(c.decoding) == c.sizes.new_tokens
