"""Chapter 07's methods (``tap.methods.registry``): parameter counts against independent formulas, and
the tap and PEFT LoRA rows training the same parameters (and training them identically)."""

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel

from tap.methods import registry as pb
from tap.methods.parameter_counts import count_parameters
from tap.models.pooled import MeanPooledClassifier

H, L, FF, V, P = 32, 2, 48, 100, 40  # a tiny BERT: hidden, layers, feed-forward, vocabulary, positions


def tiny_bert(seed: int = 0) -> MeanPooledClassifier:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=V,
        hidden_size=H,
        num_hidden_layers=L,
        num_attention_heads=2,
        intermediate_size=FF,
        max_position_embeddings=P,
    )
    return MeanPooledClassifier(BertModel(config, add_pooling_layer=False), 2)


HEAD = 2 * H + 2  # the head: [2, H] weight + 2 biases
M = H // 16  # the adapters' bottleneck (reduction factor 16)
R = pb.LORA["r"]
FORMULAS = {
    "full": (
        V * H
        + P * H
        + 2 * H
        + 2 * H  # word, position, token-type embeddings; LayerNorm
        + L * (4 * (H * H + H) + 2 * H + (H * FF + FF) + (FF * H + H) + 2 * H)  # attention, FFN, 2 LayerNorms
        + HEAD
    ),  # the mean-pooling head: no pooler layer
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
    models, batch = (
        {},
        {"input_ids": torch.randint(1, V, (4, 12)), "attention_mask": torch.ones(4, 12, dtype=torch.long)},
    )
    labels = torch.tensor([0, 1, 1, 0])
    for key in ("lora", "lora-peft"):
        base = tiny_bert()  # same seed: same weights and head
        hosts = {n for n, _ in base.named_modules() if n}
        torch.manual_seed(1)  # the seeded state the LoRA A matrices are drawn from
        models[key] = (pb.build(key, base), hosts)
    sets = {k: pb.trainable_by_module(m, hosts) for k, (m, hosts) in models.items()}
    assert sets["lora"] == sets["lora-peft"]
    assert set(sets["lora"]) == {
        f"bert.encoder.layer.{i}.attention.self.{t}" for i in range(L) for t in ("query", "value")
    } | {"head"}
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
    assert found["head"] == HEAD
    assert found["bert.encoder.layer.0.output.dense"] == FF  # (IA)³ rescales the FFN-down input
    assert found["bert.encoder.layer.0.attention.self.key"] == H
