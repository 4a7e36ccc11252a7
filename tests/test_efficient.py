import pytest
from torch import nn

from tap.efficient import freeze_base, match_modules, parameter_row, replace_module
from tap.encoder import EncoderSize, TransformerClassifier

SIZE = EncoderSize(vocab_size=30, d_model=8, num_heads=2, d_ff=16, num_layers=2, max_len=10)


def test_match_by_suffix_and_by_regex():
    model = TransformerClassifier(SIZE, 2)
    assert match_modules(model, ["query", "value"]) == [
        "layers.0.attention.query",
        "layers.0.attention.value",
        "layers.1.attention.query",
        "layers.1.attention.value",
    ]
    assert match_modules(model, r"layers\.1\.feed_forward\.(up|down)") == [
        "layers.1.feed_forward.up",
        "layers.1.feed_forward.down",
    ]


def test_no_match_lists_the_candidates():
    with pytest.raises(ValueError, match=r"qkv.*layers\.\*\.attention\.query"):
        match_modules(TransformerClassifier(SIZE, 2), ["qkv"])


def test_freeze_base_keeps_only_the_head_and_replace_module():
    model = freeze_base(TransformerClassifier(SIZE, 2))
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"head.weight", "head.bias"}
    row = parameter_row("probe", model)
    assert row["trainable params"] == 8 * 2 + 2
    replace_module(model, "layers.0.feed_forward.up", nn.Identity())
    assert isinstance(model.layers[0].feed_forward.up, nn.Identity)
