"""Chapter 05's mechanism: ``tap.methods.lora``'s layers, ``apply_lora`` and merging, and ``tap.models.cnn`` adapted with it
(the checks against PEFT and the experiment: ``test_ch05_lora.py``)."""

import pytest
import torch
import torch.nn.functional as F
from tiny_encoder import batch, encoder
from torch import nn

from tap.methods import lora
from tap.methods.parameter_counts import count_parameters
from tap.models.cnn import TextCNN, WindowConv

PROJECTIONS = [
    "attention.query",
    "attention.key",
    "attention.value",
    "attention.output",
    "feed_forward.up",
    "feed_forward.down",
]  # every linear layer of tap's encoder


def test_parameter_count_of_the_original_example():
    layer = lora.LinearWithLoRA(nn.Linear(100, 128, bias=False), rank=2, alpha=4)
    assert layer.linear.weight.numel() == 12_800
    assert count_parameters(layer)["trainable_params"] == 2 * (100 + 128) == 456


def test_wrapped_layer_equals_base_at_initialisation_and_differs_after_b_moves():
    base = nn.Linear(7, 5)
    x = torch.randn(3, 7)
    layer = lora.LinearWithLoRA(base, rank=3, alpha=6, dropout=0.5).eval()
    assert torch.equal(layer(x), base(x))
    assert layer.lora.A.abs().sum() > 0 and layer.lora.B.abs().sum() == 0  # A random, B zero
    assert not base.weight.requires_grad and layer.lora.A.requires_grad
    with torch.no_grad():
        layer.lora.B.fill_(0.1)
    assert not torch.allclose(layer(x), base(x))
    expected = base(x) + x @ (layer.lora.B @ layer.lora.A).T * 2.0  # alpha / rank = 2
    assert torch.allclose(layer(x), expected, atol=1e-6)


def test_scaling_plain_and_rank_stabilised():
    assert lora.LoRALayer(4, 4, rank=4, alpha=8).scaling == 2.0
    assert lora.LoRALayer(4, 4, rank=4, alpha=8, rslora=True).scaling == 4.0


def test_dropout_acts_on_the_adapter_input_only_and_only_in_training():
    base = nn.Linear(6, 6)
    layer = lora.LinearWithLoRA(base, rank=2, alpha=2, dropout=0.9)
    x = torch.randn(50, 6)
    assert torch.equal(layer(x), base(x))  # B = 0: dropout cannot change anything yet
    with torch.no_grad():
        layer.lora.B.fill_(1.0)
    layer.train()
    assert not torch.allclose(layer(x), layer(x))  # random masks on the adapter path
    layer.eval()
    assert torch.equal(layer(x), layer(x))


@pytest.mark.parametrize("rank", [0, -1, 2.5, True, "8"])
def test_invalid_rank_fails_clearly(rank):
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        lora.LinearWithLoRA(nn.Linear(4, 4), rank=rank, alpha=8)
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        lora.apply_lora(encoder(), ["query"], rank=rank, alpha=8)


@pytest.mark.parametrize("alpha", [0, -2, float("nan"), float("inf"), None])
def test_invalid_alpha_fails_clearly(alpha):
    with pytest.raises(ValueError, match="alpha must be a positive finite number"):
        lora.apply_lora(encoder(), ["query"], rank=4, alpha=alpha)


def test_unmatched_targets_fail_loudly_listing_candidates():
    model = encoder()
    with pytest.raises(ValueError, match=r"qkv.*layers\.\*\.attention\.query.*Embedding tables: embedding"):
        lora.apply_lora(model, ["qkv"], rank=4, alpha=8)
    assert not lora.lora_layers(model)  # nothing was changed


def test_apply_lora_by_list_and_by_regex_freezes_the_rest():
    model = encoder()
    names = lora.apply_lora(model, ["query", "value"], rank=2, alpha=4)
    assert names == [
        "layers.0.attention.query",
        "layers.0.attention.value",
        "layers.1.attention.query",
        "layers.1.attention.value",
    ]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"{n}.lora.{m}" for n in names for m in "AB"} | {"head.weight", "head.bias"}
    assert count_parameters(model)["trainable_params"] == 4 * 2 * (16 + 16) + 16 * 2 + 2
    other = encoder()
    assert lora.apply_lora(other, r"layers\.1\.feed_forward\.(up|down)", rank=2, alpha=4) == [
        "layers.1.feed_forward.up",
        "layers.1.feed_forward.down",
    ]


def test_wrapped_model_equals_base_model_at_initialisation():
    base = encoder()
    model = encoder()
    lora.apply_lora(model, PROJECTIONS, rank=4, alpha=8)
    assert torch.equal(model(**batch()), base(**batch()))


def randomise_b(model: nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora.lora_layers(model).values():
            layer.lora.B.copy_(torch.randn(layer.lora.B.shape, generator=g) * 0.1)


def test_merge_unmerge_round_trip():
    model = encoder()
    lora.apply_lora(model, PROJECTIONS, rank=4, alpha=8)
    randomise_b(model)
    weights = {n: layer.linear.weight.clone() for n, layer in lora.lora_layers(model).items()}
    before = model(**batch())
    lora.merge(model)
    assert all(layer.merged for layer in lora.lora_layers(model).values())
    assert not torch.equal(model.layers[0].attention.query.linear.weight, weights["layers.0.attention.query"])
    assert torch.allclose(model(**batch()), before, atol=1e-5)
    lora.merge(model)  # merging twice is a no-op, not a double update
    assert torch.allclose(model(**batch()), before, atol=1e-5)
    lora.unmerge(model)
    assert torch.allclose(model(**batch()), before, atol=1e-5)
    for name, layer in lora.lora_layers(model).items():
        assert torch.allclose(layer.linear.weight, weights[name], atol=1e-6)


def test_merge_refuses_non_finite_weights_and_leaves_the_base_alone():
    layer = lora.LinearWithLoRA(nn.Linear(4, 4), rank=2, alpha=4)
    original = layer.linear.weight.clone()
    with torch.no_grad():
        layer.lora.B.fill_(float("inf"))
    with pytest.raises(ValueError, match="non-finite"):
        layer.merge()
    assert torch.equal(layer.linear.weight, original) and not layer.merged
    with pytest.raises(ValueError, match="no LoRA layers"):
        lora.merge(encoder())


def test_only_lora_and_head_parameters_change_after_training_steps():
    model = encoder().train()
    lora.apply_lora(model, ["query", "value", "up"], rank=2, alpha=4)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    inputs, labels = batch(8), torch.tensor([0, 1] * 4)
    losses = []
    for _ in range(5):
        loss = F.cross_entropy(model(**inputs), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(".lora." in n or n.startswith("head.") for n in changed)
    assert any(n.endswith("lora.B") for n in changed) and "head.weight" in changed


def test_window_conv_is_a_convolution():
    conv = WindowConv(d_in=3, num_filters=4, width=2)
    x = torch.randn(2, 6, 3)
    reference = nn.Conv1d(3, 4, 2)
    with torch.no_grad():  # Linear weight over [w0 features, w1 features] -> Conv1d [out, in, width]
        reference.weight.copy_(conv.filters.weight.view(4, 2, 3).transpose(1, 2))
        reference.bias.copy_(conv.filters.bias)
    assert torch.allclose(conv(x), reference(x.transpose(1, 2)).transpose(1, 2), atol=1e-6)


def test_lora_adapts_the_cnn_filters_with_the_same_code():
    torch.manual_seed(0)
    cnn = TextCNN(vocab_size=40, num_classes=2, d_embed=8, num_filters=6).eval()
    reference = cnn(**batch())
    names = lora.apply_lora(cnn, ["filters"], rank=2, alpha=4)
    assert names == ["convs.0.filters", "convs.1.filters", "convs.2.filters"]
    assert torch.equal(cnn(**batch()), reference)
    expected = sum(2 * (w * 8 + 6) for w in (3, 4, 5)) + 18 * 2 + 2
    assert count_parameters(cnn)["trainable_params"] == expected
    padded = {
        "input_ids": torch.cat([batch()["input_ids"], torch.zeros(4, 3, dtype=torch.long)], 1),
        "attention_mask": torch.cat([batch()["attention_mask"], torch.zeros(4, 3, dtype=torch.bool)], 1),
    }
    assert torch.allclose(cnn(**padded), reference, atol=1e-6)  # padding does not change the prediction


def test_embedding_lora_starts_as_the_table_and_merges():
    table = nn.Embedding(30, 6, padding_idx=0)
    layer = lora.EmbeddingWithLoRA(table, rank=2, alpha=4)
    ids = torch.tensor([[3, 7, 0], [29, 1, 2]])
    assert torch.equal(layer(ids), table(ids))  # A = 0 at initialisation (PEFT's convention for embeddings)
    assert layer.lora.A.abs().sum() == 0 and layer.lora.B.abs().sum() > 0
    assert count_parameters(layer)["trainable_params"] == 2 * (30 + 6)
    with torch.no_grad():
        layer.lora.A.normal_()
    out = layer(ids)
    expected = table.weight + (layer.lora.B @ layer.lora.A).T * 2.0
    assert torch.allclose(out, expected[ids], atol=1e-6)
    original = table.weight.clone()
    layer.merge()
    assert torch.allclose(layer(ids), out, atol=1e-6)
    layer.unmerge()
    assert torch.allclose(table.weight, original, atol=1e-6)


def test_apply_lora_to_embedding_trains_only_the_new_factors_and_head():
    model = encoder().train()
    assert lora.apply_lora(model, ["embedding"], rank=2, alpha=4) == ["embedding"]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for _ in range(3):
        loss = F.cross_entropy(model(**batch()), torch.tensor([0, 1, 0, 1]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"embedding.lora.A", "embedding.lora.B", "head.weight", "head.bias"}


def test_apply_lora_is_seeded_and_leaves_the_global_rng_alone():
    first, second, other = encoder(), encoder(), encoder()
    state = torch.get_rng_state()
    for model, seed in ((first, 3), (second, 3), (other, 4)):
        lora.apply_lora(model, ["query", "embedding"], rank=2, alpha=4, seed=seed)
    assert torch.equal(torch.get_rng_state(), state)
    factors = [[p for n, p in m.named_parameters() if ".lora." in n] for m in (first, second, other)]
    assert all(torch.equal(a, b) for a, b in zip(factors[0], factors[1]))
    assert not all(torch.equal(a, b) for a, b in zip(factors[0], factors[2]))
    table = first.get_submodule("embedding").lora
    assert not table.A.any() and table.B.abs().sum() > 0  # embedding tables: A starts at zero, B does not
