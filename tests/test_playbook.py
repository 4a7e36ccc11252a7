"""Chapter 07's comparison: parameter counts against independent formulas, the tap and PEFT
LoRA rows training the same parameters (and training them identically), the confidence
intervals on hand-checked examples, and the headline numbers and decision table."""
import math

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel

from tap import playbook as pb
from tap.efficient import count_parameters
from tap.report import PEFT_TARGET_POINTS, PEFT_TARGET_SHARE, format_table

H, L, FF, V, P = 32, 2, 48, 100, 40  # a tiny BERT: hidden, layers, feed-forward, vocabulary, positions


def tiny_bert(seed: int = 0) -> pb.MeanPoolClassifier:
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=V, hidden_size=H, num_hidden_layers=L, num_attention_heads=2,
                        intermediate_size=FF, max_position_embeddings=P)
    return pb.MeanPoolClassifier(BertModel(config, add_pooling_layer=False), 2)


HEAD = 2 * H + 2  # classifier: [2, H] weight + 2 biases
M = H // 16  # the adapters' bottleneck (reduction factor 16)
R = pb.LORA["r"]
FORMULAS = {
    "full": (V * H + P * H + 2 * H + 2 * H  # word, position, token-type embeddings; LayerNorm
             + L * (4 * (H * H + H) + 2 * H + (H * FF + FF) + (FF * H + H) + 2 * H)  # attention, FFN, 2 LayerNorms
             + HEAD),  # the mean-pooling head: no pooler layer
    "probe": HEAD,
    # every bias: q, k, v, attention output, 2 LayerNorms, FFN up (FF) and down per layer; the
    # embedding LayerNorm; plus the head
    "bitfit": L * (7 * H + FF) + H + HEAD,
    "adapters": L * 2 * (2 * H * M + M + H) + HEAD,  # Houlsby: 2 adapters per layer
    "lora": L * 2 * R * (H + H) + HEAD,  # A [r, H] and B [H, r] on query and value
    "lora-peft": L * 2 * R * (H + H) + HEAD,
    "ia3-peft": L * (H + H + H + FF) + HEAD,  # key, value, attention-output input, FFN-down input
}


@pytest.mark.parametrize("key", list(FORMULAS))
def test_trainable_parameters_match_the_formula(key):
    model = tiny_bert()
    total = count_parameters(model)["total_params"]
    assert total == FORMULAS["full"]
    model = pb.build(key, model)
    assert count_parameters(model)["trainable_params"] == FORMULAS[key]
    # Saved trainable state: 4 bytes per float32 value plus a small safetensors header.
    size = pb.trainable_state_bytes(model)
    assert 4 * FORMULAS[key] < size < 4 * FORMULAS[key] + 16_384


def test_tap_and_peft_lora_train_the_same_parameters_identically():
    models, batch = {}, {"input_ids": torch.randint(1, V, (4, 12)), "attention_mask": torch.ones(4, 12, dtype=torch.long)}
    labels = torch.tensor([0, 1, 1, 0])
    for key in ("lora", "lora-peft"):
        base = tiny_bert()  # same seed: same weights and head
        hosts = {n for n, _ in base.named_modules() if n}
        torch.manual_seed(1)  # the seeded state the LoRA A matrices are drawn from
        models[key] = (pb.build(key, base), hosts)
    sets = {k: pb.trainable_by_module(m, hosts) for k, (m, hosts) in models.items()}
    assert sets["lora"] == sets["lora-peft"]
    assert set(sets["lora"]) == {f"bert.encoder.layer.{i}.attention.self.{t}" for i in range(L)
                                 for t in ("query", "value")} | {"classifier"}
    logits = {}
    for key, (model, _) in models.items():  # three identical AdamW steps, dropout off
        model.eval()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        for _ in range(3):
            loss = F.cross_entropy(model(**batch), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        logits[key] = model(**batch).detach()
    assert not torch.allclose(logits["lora"], tiny_bert().eval()(**batch), atol=1e-4)  # it did train
    assert torch.allclose(logits["lora"], logits["lora-peft"], atol=1e-5)


def test_trainable_by_module_strips_peft_wrappers():
    model = pb.build("ia3-peft", tiny_bert())
    hosts = {n for n, _ in tiny_bert().named_modules() if n}
    found = pb.trainable_by_module(model, hosts)
    assert found["classifier"] == HEAD
    assert found["bert.encoder.layer.0.output.dense"] == FF  # (IA)³ rescales the FFN-down input
    assert found["bert.encoder.layer.0.attention.self.key"] == H


def test_wilson_interval_hand_checked():
    # 80 of 100: p = 0.8, z² = 3.8415; centre (0.8 + 0.019208) / 1.038415 = 0.78890,
    # half-width 1.96 · sqrt(0.0016 + 0.00009604) / 1.038415 = 0.077733  ->  [0.7112, 0.8666]
    lo, hi = pb.wilson_interval(80, 100)
    assert lo == pytest.approx(0.71117, abs=5e-5) and hi == pytest.approx(0.86664, abs=5e-5)
    # never outside [0, 1], unlike p ± z·SE
    lo, hi = pb.wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12) and 0.0 < hi < 0.35
    # close to the normal approximation for large n
    lo, hi = pb.wilson_interval(820, 1000)
    half = 1.959964 * math.sqrt(0.82 * 0.18 / 1000)
    assert lo == pytest.approx(0.82 - half, abs=2e-3) and hi == pytest.approx(0.82 + half, abs=2e-3)
    with pytest.raises(ValueError, match="at least one"):
        pb.wilson_interval(0, 0)


def test_paired_difference_hand_checked():
    # differences 0, 1, 1, 0: mean 0.5, sample sd sqrt(1/3), se 0.288675, half-width 0.565800
    diff, lo, hi = pb.paired_difference([1, 1, 1, 0], [1, 0, 0, 0])
    assert diff == pytest.approx(0.5)
    assert lo == pytest.approx(0.5 - 0.565800, abs=1e-5) and hi == pytest.approx(0.5 + 0.565800, abs=1e-5)
    assert pb.paired_difference([1, 0, 1], [1, 0, 1]) == (0.0, 0.0, 0.0)


def _record(label, key, acc, params, n=1000, bytes_=None, speed=10.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    correct = [0] * n  # exactly round(acc · n) correct, at seeded positions
    for i in torch.randperm(n, generator=g)[: round(acc * n)].tolist():
        correct[i] = 1
    return {"method": label, "method_key": key, "test_accuracy": sum(correct) / n, "test_size": n,
            "test_correct": correct, "trainable_params": params, "total_params": 10_000_000,
            "base_params": 10_000_000, "trainable_bytes": bytes_ or 4 * params, "wall_time_s": 100.0,
            "examples_per_s": speed, "peak_memory_mb": 900.0, "baseline_memory_mb": 700.0, "train_examples": 1000}


def test_key_numbers_and_decision_table_follow_the_records():
    records = {
        "full fine-tuning": _record("full fine-tuning", "full", 0.85, 10_000_000, seed=1),
        "LoRA (peft)": _record("LoRA (peft)", "lora-peft", 0.84, 50_000, seed=2),
        "(IA)³ (peft)": _record("(IA)³ (peft)", "ia3-peft", 0.835, 10_000, seed=3, speed=20.0),
        "adapters (tap)": _record("adapters (tap)", "adapters", 0.87, 200_000, seed=4),  # 2%: over budget
        pb.TFIDF_SAME: {"test_accuracy": 0.86, "test_size": 1000, "trainable_params": 5000, "wall_time_s": 2.0,
                        "examples_per_s": 500.0, "peak_memory_mb": 800.0, "train_examples": 1000},
        pb.TFIDF_ALL: {"test_accuracy": 0.90, "test_size": 1000, "trainable_params": 9000, "wall_time_s": 20.0,
                       "examples_per_s": 1250.0, "peak_memory_mb": 900.0, "train_examples": 25000},
    }
    k = pb.key_numbers(records)
    assert k["best_label"] == "LoRA (peft)"  # adapters are more accurate but train 2% > 1%
    assert k["diff"] == pytest.approx(100 * (records["LoRA (peft)"]["test_accuracy"]
                                             - records["full fine-tuning"]["test_accuracy"]))  # -1.0
    assert k["diff_lo"] < k["diff"] < k["diff_hi"]
    assert k["target_met"] == (-k["diff"] <= PEFT_TARGET_POINTS) and k["budget_pct"] == PEFT_TARGET_SHARE
    assert k["best_neural_label"] == "adapters (tap)"
    words = pb.phrases(k)
    assert words["diff_words"] == "1.0 point behind" and words["target_word"] == "meets"
    assert words["anchor_words"] == "the best neural method here, adapters (tap), is 1.0 point above it"
    table = pb.decision_table(records)
    choices = table["choose"].tolist()
    assert choices[0] == pb.TFIDF_SAME  # 86.0% vs the best neural within the noise
    assert choices[2] == "LoRA (peft)"
    assert choices[3] == "(IA)³ (peft)"  # fewest parameters within the noise of the best efficient one
    assert choices[4] == "(IA)³ (peft)"  # fastest
    assert "1.0 point behind full fine-tuning" in table.loc[table.index[2], "because (measured here)"]
    frame = pb.comparison_table(records)
    assert frame.loc["LoRA (peft)", "trainable (%)"] == pytest.approx(0.5)
    assert frame.loc[pb.TFIDF_SAME, "95% interval (%)"] == "83.7–88.0"
    scores, costs = pb.comparison_tables(records)
    assert list(scores.columns) + list(costs.columns) == pb.SCORE_COLUMNS + pb.COST_COLUMNS
    assert len(scores.columns) <= 5 and len(costs.columns) <= 5  # narrow enough to need no scroll
    shown = format_table(scores)
    assert shown.loc["LoRA (peft)", "trainable params"] == "50,000"
    assert shown.loc[pb.TFIDF_SAME, "trainable (%)"] == "" and shown.loc[pb.TFIDF_SAME, "stored per task (KB)"] == ""


def test_anchor_phrase_says_how_far_every_neural_method_is_below():
    k = {"best_neural_acc": 71.25, "tfidf_acc": 74.0, "best_neural_label": "LoRA (peft)"}
    assert pb.anchor_phrase(k) == "every neural method here is at least 2.8 points below it"
    assert pb.anchor_phrase({**k, "tfidf_acc": 71.25}) == "the best neural method here, LoRA (peft), is level with it"


def test_target_phrase_states_the_book_target():
    assert pb.target_phrase() == (f"within {PEFT_TARGET_POINTS:g} percentage point"
                                  f"{'' if PEFT_TARGET_POINTS == 1 else 's'} of full fine-tuning's accuracy "
                                  f"while training at most {PEFT_TARGET_SHARE:g}% of the parameters")


@pytest.mark.parametrize("bitfit_acc, opening", [(0.80, "BitFit ends 2.0 points below the linear probe"),
                                                 (0.84, "BitFit ends 2.0 points above the linear probe"),
                                                 (0.82, "BitFit and the linear probe end level")])
def test_bitfit_phrase_follows_the_measured_order(bitfit_acc, opening):
    records = {"linear probe": {**_record("linear probe", "probe", 0.82, 66, seed=5), "lr": 5e-3, "steps": 63},
               "BitFit": {**_record("BitFit", "bitfit", bitfit_acc, 900, seed=6), "lr": 2e-3, "steps": 63}}
    text = pb.bitfit_phrase(records)
    assert text.startswith(opening)
    assert "…" not in text and "-0.0" not in text
    if "below" in opening:
        assert "learning rate of 0.002 against the probe's 0.005" in text and "63 optimisation steps" in text


def test_method_table_shows_whole_settings_and_exact_rates():
    table = pb.Playbook(pb.get_profile("book")).method_table()
    assert table.loc["LoRA (tap)", "settings"] == "r 8; alpha 16; targets query, value; dropout 0.0; init A copied from PEFT"
    assert table.loc["full fine-tuning", "learning rate"] == "0.0001" and table.loc["full fine-tuning", "settings"] == "—"


def test_frontier_series_names_the_book_encoder_by_how_it_was_trained():
    records = {"full fine-tuning": _record("full fine-tuning", "full", 0.85, 10_000_000)}
    scratch = {"from scratch": {"trainable_params": 900_000, "test_accuracy": 0.7},
               "AG News + full fine-tuning": {"trainable_params": 900_000, "test_accuracy": 0.75},
               "AG News + LoRA (ch. 05)": {"trainable_params": 9_000, "test_accuracy": 0.72}}
    series, _ = pb.frontier_series(records, scratch)
    by_name = {name: sorted(label for _, _, label in points) for name, points in series.items()}
    assert by_name["the book's encoder, from scratch (ch. 01)"] == ["from scratch"]
    assert by_name["the book's encoder pre-trained on AG News (ch. 01, 04, 05)"] == ["LoRA (ch. 05)", "full fine-tuning"]


def test_headline_runs_the_chapter_comparison_through_the_cache(monkeypatch):
    """The introduction computes what it shows (any execution order), through the chapter's
    cached runs: it asks for every run with ``compute=True`` and derives the chapter's numbers."""
    made = {m.label: _record(m.label, m.key, 0.8 + i / 100, 10_000_000 if m.key == "full" else 1_000, seed=i)
            for i, m in enumerate(pb.METHODS)}
    anchor = {"test_accuracy": 0.86, "test_size": 1000, "trainable_params": 5000, "wall_time_s": 2.0,
              "examples_per_s": 500.0, "peak_memory_mb": 800.0, "train_examples": 1000, "method_key": "tfidf"}
    asked = []

    def run(self, method, n_train=None, compute=True):
        asked.append(compute)
        return made[method.label]

    def tfidf(self, n_train, compute=True):
        asked.append(compute)
        return {**anchor, "train_examples": n_train or 25_000}

    monkeypatch.setattr(pb.Playbook, "run", run)
    monkeypatch.setattr(pb.Playbook, "tfidf", tfidf)
    found = pb.headline(pb.get_profile("smoke"))
    assert asked and all(asked)
    assert set(found.records) == {m.label for m in pb.Playbook(pb.get_profile("smoke")).methods()} | {
        pb.TFIDF_SAME, pb.TFIDF_ALL}
    assert found.numbers == pb.key_numbers(found.records)
    assert pb.headline_figure_inputs(found)[0]
