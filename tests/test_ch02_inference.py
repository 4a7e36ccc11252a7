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
GLUED_BY_DEMONSTRATIONS = {
    "manual_remark",
    "greedy_note",
    "pipe_diff",
    "mlm_note",
    "sim_film",
    "sim_cross",
    "sim_stocks",
}


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


def test_the_padding_autograd_and_int8_figures_name_their_batch_sizes(outcome):
    from tap.chapters.ch02_inference import MODES_BATCH, PAD_BATCH, QUANT_BATCH

    def titles(fig) -> str:
        return " ".join([fig._suptitle.get_text() if fig._suptitle else ""] + [ax.get_title() for ax in fig.axes])

    text = {name: titles(fig) for name, fig in outcome.figures.items()}
    assert f"batches of {PAD_BATCH}" in text["padding"]
    assert PAD_BATCH < QUANT_BATCH  # the page says the padding comparison's batches are the smaller ones
    assert f"batches of {MODES_BATCH}" in text["autograd"] and f"batches of {QUANT_BATCH}" in text["quantisation"]


def test_the_int8_flips_add_up_to_the_agreement_and_the_accuracy_change(outcome):
    c = outcome.context
    flips, n = c.q_flips, len(c.imdb.test)
    assert flips["worse"] + flips["better"] <= round((1 - c.q_info["agreement"]) * n)
    change = c.quant.loc["int8 (dynamic)", "accuracy (%)"] - c.quant.loc["float32", "accuracy (%)"]
    assert abs(change - 100 * (flips["better"] - flips["worse"]) / n) < 1e-9
    assert 0 <= flips["near"] <= 1 and 0 <= flips["margin"] <= 0.5


def test_the_sampling_prose_follows_the_table(outcome):
    ch02 = chapter("ch02")
    facts = ch02.facts(outcome)
    assert "common random numbers" in facts["same_seed_note"]
    kept = [outcome.context.top_p_kept[p] for p in ch02.PROMPTS]
    assert f"{min(kept):,}" in facts["tail_note"] and f"p = {ch02.TOP_P:g}" in facts["tail_note"]
    assert facts["kv_prompt"].split()[0] in ("a", "an")


def test_a_number_takes_the_article_it_is_read_with():
    from tap.core.report import with_article

    for n in (8, 11, 18, 80, 88, 800, 8_000, 11_000, 18_500, 80_000_000):
        assert with_article(n).startswith("an "), n
    for n in (1, 7, 10, 12, 110, 128, 1_100, 100_000, 19):
        assert with_article(n).startswith("a "), n
    assert with_article(11_000) == "an 11,000" and with_article(88, "88-token") == "an 88-token"


def test_greedy_remark_names_a_run_of_line_breaks_and_a_loop():
    from tap.chapters.ch02_inference import greedy_remark

    broken = greedy_remark("This movie was", " a film." + "\n" * 37, list(range(40)))
    assert "degenerates" in broken and "“a film.”" in broken and "37 line breaks" in broken and "↵×37" in broken
    looping = greedy_remark("It", "abababababab", [1, 2] * 6)
    assert "loops" in looping and "only 18% of the pairs" in looping  # 2 distinct pairs of 11
    assert "degenerates" not in greedy_remark("It", " was a quiet and lovely evening", list(range(8)))


def test_manual_remark_says_when_a_clear_cut_review_is_only_just_right(outcome):
    from tap.chapters.ch02_inference import manual_remark

    confident = manual_remark(["POSITIVE", "NEGATIVE", "NEGATIVE"], [0.9, 0.1, 0.4], outcome)
    assert confident.startswith("The classifier gets both clear-cut reviews right")
    close = manual_remark(["POSITIVE", "NEGATIVE", "NEGATIVE"], [0.9, 0.47, 0.40], outcome)
    assert (
        "the second only just" in close
        and "0.47" in close
        and "less negative than the mixed third review at 0.40" in close
    )
    wrong = manual_remark(["POSITIVE", "POSITIVE", "NEGATIVE"], [0.9, 0.6, 0.4], outcome)
    assert "one of the clear-cut reviews wrong" in wrong and "labelled POSITIVE" in wrong


def test_cross_topic_similarities_are_worded_as_a_range():
    from tap.chapters.ch02_inference import cross_topic_words

    assert cross_topic_words([-0.07, 0.0, 0.06]) == "from -0.07 to 0.06, about 0"
    assert cross_topic_words([0.12, 0.3]) == "from 0.12 to 0.30"


def test_shared_stretches_are_cut_to_whole_words():
    from tap.chapters.ch02_inference import shared_stretch

    assert shared_stretch("abc the Irishild bl x", "zz the Irishild blq") == "the Irishild"
    assert shared_stretch("one two three", "one two three") == "one two three"
    assert shared_stretch("xone two threex", "yone two threey") == "two"
    assert shared_stretch("abc", "xyz") == ""
