import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tap import lora
from tap.cnn import TextCNN, WindowConv
from tap.encoder import TransformerClassifier
from tap.efficient import count_parameters
from tap.encoder import EncoderSize

SIZE = EncoderSize(vocab_size=40, d_model=16, num_heads=2, d_ff=32, num_layers=2, max_len=20)


def batch(n: int = 4, t: int = 12, vocab: int = 40, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, vocab, (n, t), generator=g)
    mask = torch.ones(n, t, dtype=torch.bool)
    mask[1, t // 2:] = False
    return {"input_ids": ids.masked_fill(~mask, 0), "attention_mask": mask}


def encoder(seed: int = 0) -> TransformerClassifier:
    torch.manual_seed(seed)
    return TransformerClassifier(SIZE, 2).eval()


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
        lora.LoRALayer(4, 4, rank=rank, alpha=8)
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
    assert names == ["layers.0.attention.query", "layers.0.attention.value",
                     "layers.1.attention.query", "layers.1.attention.value"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"{n}.lora.{m}" for n in names for m in "AB"} | {"head.weight", "head.bias"}
    assert count_parameters(model)["trainable_params"] == 4 * 2 * (16 + 16) + 16 * 2 + 2
    other = encoder()
    assert lora.apply_lora(other, r"layers\.1\.feed_forward\.(up|down)", rank=2, alpha=4) == [
        "layers.1.feed_forward.up", "layers.1.feed_forward.down"]


def test_wrapped_model_equals_base_model_at_initialisation():
    base = encoder()
    model = encoder()
    lora.apply_lora(model, lora.ATTENTION + lora.FEED_FORWARD, rank=4, alpha=8)
    assert torch.equal(model(**batch()), base(**batch()))


def randomise_b(model: nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora.lora_layers(model).values():
            layer.lora.B.copy_(torch.randn(layer.lora.B.shape, generator=g) * 0.1)


def test_merge_unmerge_round_trip():
    model = encoder()
    lora.apply_lora(model, lora.ATTENTION + lora.FEED_FORWARD, rank=4, alpha=8)
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


def test_equivalence_with_peft_on_taps_encoder():
    result = lora.compare_with_peft(encoder(), batch(), lora.ATTENTION + lora.FEED_FORWARD, rank=4, alpha=8,
                                    head=("head",))
    assert result["layers"] == 12 and result["lora_effect"] > 1e-3  # the adapters really change the output
    assert max(result["max_abs_diff"].values()) <= 1e-5, result
    assert result["trainable_tap"] == result["trainable_peft"] == 8 * 4 * (16 + 16) + 4 * 4 * (16 + 32) + 34


@pytest.fixture(scope="module")
def minilm():
    from tap import models
    try:
        return models.load_classifier("bert-base-uncased", 2)
    except RuntimeError as err:  # neither the Hub nor the offline copy
        pytest.skip(str(err))


@pytest.mark.parametrize("rslora", [False, True])
def test_equivalence_with_peft_on_bert(minilm, rslora):
    model, tokenizer = minilm
    inputs = dict(tokenizer(["a wonderful, moving film", "dull and far too long"], padding=True, return_tensors="pt"))
    targets = ["query", "value", "attention.output.dense"]
    result = lora.compare_with_peft(model, inputs, targets, rank=4, alpha=8, rslora=rslora)
    layers = model.config.num_hidden_layers
    assert result["layers"] == 3 * layers and result["lora_effect"] > 1e-4
    assert max(result["max_abs_diff"].values()) <= 1e-5, result
    hidden = model.config.hidden_size
    assert result["trainable_tap"] == result["trainable_peft"] == 3 * layers * 4 * 2 * hidden + 2 * hidden + 2


def test_step_time_comparison_runs(minilm):
    model, tokenizer = minilm
    inputs = dict(tokenizer(["a wonderful film", "dull"], padding="max_length", max_length=16, return_tensors="pt"))
    result = lora.step_time_vs_peft(model, inputs, torch.tensor([1, 0]), ["query", "value"], repeats=2, warmup=1)
    assert result["tap_s"] > 0 and result["peft_s"] > 0 and math.isclose(result["ratio"], result["tap_s"] / result["peft_s"])


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
    padded = {"input_ids": torch.cat([batch()["input_ids"], torch.zeros(4, 3, dtype=torch.long)], 1),
              "attention_mask": torch.cat([batch()["attention_mask"], torch.zeros(4, 3, dtype=torch.bool)], 1)}
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


def test_equivalence_with_peft_on_the_embedding_table():
    result = lora.compare_with_peft(encoder(), batch(), ["embedding", "query"], rank=3, alpha=6, head=("head",))
    assert result["layers"] == 3 and result["lora_effect"] > 1e-3
    assert max(result["max_abs_diff"].values()) <= 1e-5, result
    assert result["trainable_tap"] == result["trainable_peft"] == 3 * (40 + 16) + 2 * 3 * (16 + 16) + 34


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


def test_balanced_subset_and_length_order_keep_the_examples():
    from tap.text import EncodedDataset

    data = EncodedDataset([[1] * n for n in (5, 3, 8, 2, 6, 4)], [0, 0, 0, 1, 1, 1])
    half = lora.balanced_subset(data, 0.5)
    assert sorted(half.labels) == [0, 0, 1, 1] and half.ids[0] == [1] * 5
    ordered = lora.by_length(data)
    assert [len(x) for x in ordered.ids] == [2, 3, 4, 5, 6, 8]
    assert sorted(zip(map(len, ordered.ids), ordered.labels)) == sorted(zip(map(len, data.ids), data.labels))


class _Run:
    def __init__(self, record):
        self.record = record


def _history(losses, batch=10, per_epoch=2):
    return [{"step": i + 1, "epoch": (i + 1) / per_epoch, "examples": batch * (i + 1), "train_loss": t,
             "val_loss": v, "val_accuracy": 0.5} for i, (t, v) in enumerate(losses)]


def test_within_budget_is_the_share_of_the_models_own_parameters():
    runs = {"small": _Run({"trainable_params": 9, "total_params": 1_000}),     # 0.9%
            "edge": _Run({"trainable_params": 10, "total_params": 1_000}),     # 1.0%
            "large": _Run({"trainable_params": 29, "total_params": 1_000})}    # 2.9%
    assert set(lora.within_budget(runs, share=1.0)) == {"small", "edge"}
    assert lora.trainable_share(runs["large"].record) == pytest.approx(2.9)


def test_training_curves_are_drawn_against_training_examples_seen():
    import matplotlib
    matplotlib.use("Agg")
    records = {"short run": {"history": _history([(0.7, 0.69), (0.6, 0.65)], batch=10), "train_config": {"batch_size": 10}},
               "long run": {"history": _history([(0.7, 0.7)] * 4, batch=20), "train_config": {"batch_size": 20}}}
    fig = lora.training_curves(records, title="t")
    loss_ax = fig.axes[0]
    assert loss_ax.get_xlabel() == "training examples seen"
    xs = sorted({x for line in loss_ax.get_lines() for x in line.get_xdata()})
    assert xs[-1] == 80 and 20 in xs  # the long run's 4 × 20 examples; the short run ends at 20


def test_overfitting_reads_the_validation_curve():
    rec = {"history": _history([(0.6, 0.5), (0.4, 0.45), (0.2, 0.55)])}
    o = lora.overfitting(rec)
    assert o["rose"] and o["min_val_loss"] == 0.45 and o["min_val_examples"] == 20
    assert o["final_val_loss"] == 0.55 and o["final_train_loss"] == 0.2
    assert not lora.overfitting({"history": _history([(0.6, 0.5), (0.4, 0.45)])})["rose"]


def test_equivalence_table_shows_tiny_differences_legibly():
    check = {"max_abs_diff": {"before merging": 0.0, "after merging": 2.4e-7, "after unmerging": 1e-8},
             "layers": 12, "trainable_tap": 74_498, "trainable_peft": 74_498}
    row = lora.equivalence_table({"BERT": check}).loc["BERT"]
    assert row["max |Δ| before merging"] == "0" and row["max |Δ| after merging"] == "2.4e-07"
    assert row["trainable params (tap)"] == 74_498
