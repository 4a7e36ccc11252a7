import math

import pytest
import torch

from tap.models.encoder import EncoderSize, TransformerClassifier, sinusoidal_positions

SIZE = EncoderSize(vocab_size=50, d_model=16, num_heads=2, d_ff=32, num_layers=2, max_len=20)


def test_output_shape_and_stable_module_names():
    model = TransformerClassifier(SIZE, num_classes=3)
    logits = model(torch.randint(1, 50, (4, 7)), torch.ones(4, 7, dtype=torch.bool))
    assert logits.shape == (4, 3)
    names = {n for n, _ in model.named_modules()}
    for part in (
        "attention.query",
        "attention.key",
        "attention.value",
        "attention.output",
        "feed_forward.up",
        "feed_forward.down",
    ):
        assert f"layers.0.{part}" in names


def test_padding_does_not_change_the_prediction():
    torch.manual_seed(0)
    model = TransformerClassifier(SIZE, num_classes=2).eval()
    ids = torch.randint(1, 50, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 6), torch.zeros(1, 5)], dim=1).bool()
    short = model(ids, torch.ones(1, 6, dtype=torch.bool))
    assert torch.allclose(short, model(padded, mask), atol=1e-5)


def test_sinusoidal_positions_follow_the_formula():
    pe = sinusoidal_positions(10, 8)
    assert pe[0, 0] == 0 and pe[0, 1] == 1
    assert math.isclose(pe[3, 2].item(), math.sin(3 / 10_000 ** (2 / 8)), rel_tol=1e-5)


def test_too_long_input_is_a_clear_error():
    model = TransformerClassifier(SIZE, num_classes=2)
    with pytest.raises(ValueError, match="max_len=20"):
        model(torch.ones(1, 21, dtype=torch.long), torch.ones(1, 21, dtype=torch.bool))
