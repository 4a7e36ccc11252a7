"""Chapter 07's comparison: parameter counts against independent formulas, the tap and PEFT
LoRA rows training the same parameters (and training them identically), the confidence
intervals on hand-checked examples, and the headline numbers and decision table."""
import math

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel

from tap import playbook as pb
from tap.measure import count_parameters

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
    assert k["gap"] == pytest.approx(100 * (records["full fine-tuning"]["test_accuracy"]
                                            - records["LoRA (peft)"]["test_accuracy"]))
    assert k["gap_lo"] < k["gap"] < k["gap_hi"]
    assert k["target_met"] == (k["gap"] <= 1.0)
    assert k["best_neural_label"] == "adapters (tap)"
    table = pb.decision_table(records)
    choices = table["choose"].tolist()
    assert choices[0] == pb.TFIDF_SAME  # 86.0% vs the best neural within the noise
    assert choices[2] == "LoRA (peft)"
    assert choices[3] == "(IA)³ (peft)"  # fewest parameters within the noise of the best efficient one
    assert choices[4] == "(IA)³ (peft)"  # fastest
    frame = pb.comparison_table(records)
    assert frame.loc["LoRA (peft)", "trainable (%)"] == pytest.approx(0.5)
    assert frame.loc[pb.TFIDF_SAME, "95% interval (%)"] == "83.7–88.0"


def test_headline_reads_the_cache_and_never_computes(tmp_path, monkeypatch):
    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_data(*args, **kwargs):
        raise AssertionError("headline() must not load data or train")

    monkeypatch.setattr(pb, "imdb_splits", no_data)
    monkeypatch.setattr(pb.Playbook, "load_model", no_data)
    found = pb.headline(pb.get_profile("smoke"))
    assert not found.complete and found.records == {} and found.numbers == {}
    assert pb.METHOD["full"].label in found.missing and pb.TFIDF_ALL in found.missing
