import pytest
from torch import nn

from tap.methods.submodules import collapse_indices, match_modules, replace_module
from tap.models.encoder import EncoderSize, TransformerClassifier

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


def test_collapse_indices_names_a_kind_of_layer_once():
    assert collapse_indices("layers.3.attention.query") == "layers.*.attention.query"
    assert collapse_indices("head") == "head"


def test_replace_module_puts_the_new_module_in_place():
    model = TransformerClassifier(SIZE, 2)
    replace_module(model, "layers.0.feed_forward.up", nn.Identity())
    replace_module(model, "head", nn.Identity())
    assert isinstance(model.layers[0].feed_forward.up, nn.Identity) and isinstance(model.head, nn.Identity)
