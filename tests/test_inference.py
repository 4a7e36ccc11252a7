"""Chapter 02's inference code: the manual path agrees with pipeline(), the Hugging Face
mean-pooled classifier computes what ``pooled.MeanPooledClassifier`` does, quantisation keeps the
labels, the written-out decoding loop and logit filters match transformers' own, and the timers
time what they say."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    pipeline,
)

from tap.core.measure import benchmark, time_calls, time_steps
from tap.models import pretrained
from tap.models.pooled import MeanPooledClassifier
from tap.training import generation, hub_models, inference

TEXTS = [
    "a wonderful, moving film",
    "dull and far too long",
    "the plot made no sense at all",
    "great acting",
    "i loved every minute of it, truly",
    "bad",
]


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    """A small random mean-pooled BERT with the MiniLM tokenizer, saved as a folder."""
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(pretrained.minilm_path())
    config = inference.MeanPooledBertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=2,
        id2label=inference.LABELS,
        label2id={v: k for k, v in inference.LABELS.items()},
    )
    model = inference.MeanPooledBertForSequenceClassification(config).eval()
    folder = tmp_path_factory.mktemp("tiny-classifier")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_the_hugging_face_classifier_computes_what_the_mean_pooled_classifier_does(tiny_classifier):
    tokenizer = AutoTokenizer.from_pretrained(tiny_classifier)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier).eval()
    same = MeanPooledClassifier(model.bert, num_classes=2).eval()
    same.head.load_state_dict(model.classifier.state_dict())
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")  # padded: the mean must skip the padding
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, same(**batch), atol=1e-6)


def test_manual_path_and_pipeline_agree(tiny_classifier):
    tokenizer = AutoTokenizer.from_pretrained(tiny_classifier)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier).eval()
    assert isinstance(model, inference.MeanPooledBertForSequenceClassification)  # registered with the Auto classes
    manual = inference.predict_proba(model, tokenizer, TEXTS, max_len=32, batch_size=4)  # padded batches
    classify = pipeline("text-classification", model=str(tiny_classifier), top_k=None)  # one text at a time
    out = classify(TEXTS, truncation=True, max_length=32)
    by_pipeline = torch.tensor(
        [[next(d["score"] for d in row if d["label"] == model.config.id2label[i]) for i in range(2)] for row in out]
    )
    assert [row[0]["label"] for row in out] == [model.config.id2label[int(i)] for i in manual.argmax(-1)]
    assert torch.allclose(manual, by_pipeline, atol=1e-5)


def test_quantised_and_float_models_agree_on_most_labels(tiny_classifier):
    tokenizer = AutoTokenizer.from_pretrained(tiny_classifier)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier).eval()
    texts = [
        f"{a} {b} movie"
        for a in ("good", "bad", "boring", "fine", "great", "awful", "odd", "long")
        for b in ("plot", "cast", "music", "ending")
    ]
    q = inference.quantize(model)
    assert any("quantized" in type(m).__module__ for m in q.modules())
    assert not any("quantized" in type(m).__module__ for m in model.modules()), "quantize() must copy"
    assert inference.state_size_mb(q) < inference.state_size_mb(model)
    table, info = inference.quantization_comparison(
        model, tokenizer, texts, [i % 2 for i in range(len(texts))], max_len=16, bench_texts=texts[:4], repeats=1
    )
    assert info["agreement"] >= 0.9
    assert set(table.index) == {"float32", "int8 (dynamic)"}


def test_logistic_head_reproduces_the_regression():
    torch.manual_seed(0)
    x = torch.randn(80, 5)
    y = (x[:, 0] + 0.3 * torch.randn(80) > 0).long().tolist()
    head, _ = inference.fit_logistic_head(x, y)
    probs = head(x).softmax(-1)
    assert ((probs.argmax(-1) == torch.tensor(y)).float().mean()) > 0.85
    assert torch.allclose(probs.sum(-1), torch.ones(80), atol=1e-6)


@pytest.fixture(scope="module")
def tiny_lm():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=64, n_embd=32, n_layer=2, n_head=2)).eval()


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_loop_matches_generate(tiny_lm, use_cache):
    prompt = torch.tensor([[3, 14, 15, 9, 2]])
    mine = generation.greedy_decode(tiny_lm, prompt, max_new_tokens=12, use_cache=use_cache)
    theirs = tiny_lm.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=12,
        do_sample=False,
        eos_token_id=None,
        pad_token_id=0,
    )
    assert torch.equal(mine, theirs)


def test_decoding_cost_has_one_row_per_token(tiny_lm):
    table = generation.decoding_cost(tiny_lm, torch.tensor([[1, 2, 3]]), max_new_tokens=5, repeats=1)
    assert list(table["sequence length"]) == [3, 4, 5, 6, 7]
    assert (table.drop(columns="sequence length") > 0).all().all()


@pytest.mark.parametrize("temperature,top_k,top_p", [(0.7, 0, 1.0), (1.0, 5, 1.0), (1.0, 0, 0.8), (1.3, 10, 0.9)])
def test_filter_logits_matches_transformers(temperature, top_k, top_p):
    torch.manual_seed(1)
    logits = torch.randn(3, 40)
    expected = TemperatureLogitsWarper(temperature)(None, logits.clone())
    if top_k:
        expected = TopKLogitsWarper(top_k)(None, expected)
    if top_p < 1.0:
        expected = TopPLogitsWarper(top_p)(None, expected)
    mine = generation.filter_logits(logits, temperature, top_k, top_p)
    assert torch.equal(torch.isinf(mine), torch.isinf(expected))
    assert torch.allclose(mine.softmax(-1), expected.softmax(-1), atol=1e-6)


def test_distinct_n():
    assert generation.distinct_n([[1, 2, 3, 4]]) == 1.0
    assert generation.distinct_n([[1, 2, 1, 2, 1, 2]]) == pytest.approx(2 / 5)


def test_benchmark_warms_up_and_reports_the_median():
    calls, delays = [], iter([0.0, 0.03, 0.0, 0.01])

    def fn():
        calls.append(1)
        time.sleep(next(delays))

    result = benchmark(fn, repeats=3, warmup=1)
    assert len(calls) == 4 and result["repeats"] == 3
    assert result["min_s"] <= result["median_s"] <= result["max_s"]
    assert 0.005 < result["median_s"] < 0.025  # the 0.01 s call, not the 0.03 s one
    with pytest.raises(ValueError):
        benchmark(fn, repeats=0)


def test_unavailable_note_names_the_models():
    note = hub_models.unavailable_note(hub_models.HUB_ONLY, "offline")
    assert "admonition" in note.data
    for hub_id in hub_models.HUB_ONLY.values():
        assert hub_id in note.data


def test_hub_only_tasks_do_not_run_offline(monkeypatch):
    monkeypatch.setattr(hub_models, "hub_available", lambda: False)
    out = hub_models.hub_only_tasks("an article", "a sentence")
    assert "Not run" in out.data and "google-t5/t5-small" in out.data


def test_padding_share():
    tokenizer = AutoTokenizer.from_pretrained(pretrained.minilm_path())
    texts = ["a", "a b c d e f g h"]
    assert (
        inference.padding_share(tokenizer, texts, 16, 2, "max_length", False)
        > inference.padding_share(tokenizer, texts, 16, 2, "longest", False)
        > 0
    )
    assert inference.padding_share(tokenizer, texts, 16, 1, "longest", True) == 0


def test_time_calls_interleaves_the_variants():
    order = []
    result = time_calls({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeats=2, warmup=1)
    assert order == ["a", "b"] * 3  # warm-up round, then two timed rounds, taking turns
    assert set(result) == {"a", "b"} and all(r["repeats"] == 2 for r in result.values())


def test_time_steps_times_each_step_of_each_variant():
    order = []

    def loop(name: str, steps: int):
        def run(lap):
            for _ in range(steps):
                order.append(name)
                time.sleep(0.01 if name == "slow" else 0.0)
                lap()

        return run

    result = time_steps({"fast": loop("fast", 3), "slow": loop("slow", 3)}, repeats=2, warmup=1)
    assert order == (["fast"] * 3 + ["slow"] * 3) * 3  # warm-up round, then two timed rounds, taking turns
    assert [len(steps) for steps in result.values()] == [3, 3]
    assert all(0.005 < t for t in result["slow"]) and sum(result["fast"]) < sum(result["slow"])


def test_one_line_marks_line_breaks():
    assert generation.one_line("a\nb") == "a↵b"
    assert generation.one_line("end" + "\n" * 5) == "end↵×5"


def test_kept_tokens_counts_the_candidates(tiny_lm):
    class Ids:  # a stand-in tokenizer: the prompt is already token ids
        def __call__(self, prompt, return_tensors):
            return {"input_ids": torch.tensor([[int(t) for t in prompt.split()]])}

    assert generation.kept_tokens(tiny_lm, Ids(), "1 2 3", top_k=7) == 7
    assert generation.kept_tokens(tiny_lm, Ids(), "1 2 3") == 50
    assert 1 <= generation.kept_tokens(tiny_lm, Ids(), "1 2 3", top_p=0.5) < 50


def _timings(rows: dict[str, tuple[float, float, float]], runs: int = 3):
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "mode": name,
                "reviews/s": median,
                "slowest run (reviews/s)": slow,
                "fastest run (reviews/s)": fast,
                "timed runs": runs,
            }
            for name, (slow, median, fast) in rows.items()
        ]
    )


def test_faster_beyond_noise_needs_every_run_to_win():
    table = _timings({"a": (10.0, 11.0, 12.0), "b": (12.5, 13.0, 14.0), "c": (11.5, 12.0, 13.0)})
    assert inference.faster_beyond_noise(table, "b", "a") == 1
    assert inference.faster_beyond_noise(table, "a", "b") == -1
    assert inference.faster_beyond_noise(table, "c", "a") == 0  # the runs overlap: noise
    assert inference.faster_beyond_noise(_timings({"a": (1, 1, 1), "b": (2, 2, 2)}, runs=1), "b", "a") is None


def test_grad_mode_comparison_reports_the_spread_of_its_runs(tiny_classifier):
    tokenizer = AutoTokenizer.from_pretrained(tiny_classifier)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier).eval()
    modes = inference.grad_mode_comparison(model, tokenizer, TEXTS, max_len=16, batch_size=4, repeats=2)
    assert list(modes["mode"]) == list(inference.GRAD_MODES)
    assert (modes["slowest run (reviews/s)"] <= modes["reviews/s"] + 1e-9).all()
    assert (modes["reviews/s"] <= modes["fastest run (reviews/s)"] + 1e-9).all()
    assert (modes["timed runs"] == 2).all()


def test_summary_table_shows_each_models_own_inference_rate():
    import math

    import pandas as pd

    quant = pd.DataFrame(
        {"accuracy (%)": [80.0, 79.5], "reviews/s": [61.0, 176.0]},
        index=pd.Index(["float32", "int8 (dynamic)"], name="model"),
    )
    head = {"wall_time_s": 31.0, "examples_per_s": 32.3, "trainable_params": 770, "peak_memory_mb": 900.0}
    model = nn.Linear(10, 2)
    records = inference.classifier_records("MiniLM + IMDB head", head, model, quant, test_size=400)
    tfidf = {
        "test_accuracy": 0.75,
        "test_size": 400,
        "wall_time_s": 1.0,
        "examples_per_s": 1000.0,
        "trainable_params": 50,
        "total_params": 50,
    }
    table = inference.summary_table({**records, "TF-IDF": tfidf}, batch_size=16)
    rate = table["inference, batches of 16 (reviews/s)"]
    assert rate["MiniLM + IMDB head, float32"] == 61.0 and rate["MiniLM + IMDB head, int8 (dynamic)"] == 176.0
    assert math.isnan(rate["TF-IDF"])  # not timed at inference: a blank cell, not a training rate
    assert table.loc["MiniLM + IMDB head, int8 (dynamic)", "training examples/s"] == 32.3  # the same trained head
    assert table.loc["MiniLM + IMDB head, float32", "test accuracy (%)"] == 80.0
    assert {"training time (s)", "training memory used (MB)"} <= set(table.columns)
    # a classifier fine-tuned elsewhere has no training cost here, and the table still builds
    hub_table = inference.summary_table(
        inference.classifier_records("DistilBERT SST-2", None, model, quant, 400), batch_size=16
    )
    assert hub_table["trainable (%)"].isna().all() and hub_table["training time (s)"].isna().all()


@pytest.fixture(scope="module")
def tiny_hub(tmp_path_factory):
    """Local folders standing in for the Hub extras: a random BERT classifier and a random GPT-2."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(pretrained.minilm_path())
    folders = {}
    bert = BertForSequenceClassification(
        BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            num_labels=2,
        )
    )
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=tokenizer.vocab_size, n_positions=64, n_embd=32, n_layer=1, n_head=2))
    for name, model in (("classifier", bert), ("lm", gpt2)):
        folders[name] = tmp_path_factory.mktemp(name)
        model.save_pretrained(folders[name])
        tokenizer.save_pretrained(folders[name])
    return folders


def test_hub_extras_run_in_the_book_profile_when_the_hub_answers(tiny_hub, monkeypatch):
    monkeypatch.setattr(hub_models, "hub_available", lambda: True)
    asked = []
    monkeypatch.setattr(
        pretrained,
        "hub_snapshot",
        lambda hub_id: (
            asked.append(hub_id) or str(tiny_hub["lm" if hub_id == hub_models.CAUSAL_LM_HUB_ID else "classifier"])
        ),
    )
    table = hub_models.hub_extras(["A fine film.", "A dull film."], prompt="The film was")
    assert asked == [hub_id for hub_id, _ in hub_models.HUB_EXTRAS.values()]
    assert set(table.index) == set(hub_models.HUB_EXTRAS)
    assert len(table) == 2 + 1 + len(hub_models.LANGUAGE_SAMPLES)
    assert table["output"].str.len().min() > 0


def test_hub_extras_offline_say_what_was_skipped(monkeypatch):
    monkeypatch.setattr(hub_models, "hub_available", lambda: False)
    note = hub_models.hub_extras(["A fine film."], prompt="The film was").data
    assert "Not run in this build" in note and all(hub_id in note for hub_id, _ in hub_models.HUB_EXTRAS.values())
