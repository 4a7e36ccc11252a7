import pytest
from torch import nn

from tap.methods.freezing import freeze_base
from tap.methods.parameter_counts import count_parameters, parameter_row
from tap.models.encoder import EncoderSize, TransformerClassifier

SIZE = EncoderSize(vocab_size=30, d_model=8, num_heads=2, d_ff=16, num_layers=2, max_len=10)


def test_a_shared_tensor_is_counted_once():
    first = nn.Linear(3, 2)
    second = nn.Linear(3, 2)
    second.weight = first.weight
    second.bias.requires_grad = False
    assert count_parameters(nn.Sequential(first, second)) == {"trainable_params": 6 + 2, "total_params": 6 + 2 + 2}


def test_parameter_row_of_a_probe():
    model = freeze_base(TransformerClassifier(SIZE, 2))
    row = parameter_row("probe", model)
    total = sum(p.numel() for p in model.parameters())
    assert row["method"] == "probe" and row["trainable params"] == 8 * 2 + 2 and row["total params"] == total
    assert row["trainable (%)"] == pytest.approx(100 * 18 / total)
