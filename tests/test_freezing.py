from tap.methods.freezing import freeze_base
from tap.models.encoder import EncoderSize, TransformerClassifier

SIZE = EncoderSize(vocab_size=30, d_model=8, num_heads=2, d_ff=16, num_layers=2, max_len=10)


def trainable(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_freeze_base_keeps_only_the_head():
    assert trainable(freeze_base(TransformerClassifier(SIZE, 2))) == {"head.weight", "head.bias"}


def test_freeze_base_keeps_any_parameter_with_a_kept_name_part():
    model = freeze_base(TransformerClassifier(SIZE, 2), keep=("head", "up"))
    assert trainable(model) == {"head.weight", "head.bias"} | {
        f"layers.{i}.feed_forward.up.{w}" for i in range(2) for w in ("weight", "bias")
    }
