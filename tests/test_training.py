import pytest
import torch

from tap.data.text import EncodedDataset
from tap.models.encoder import EncoderSize, TransformerClassifier
from tap.training.loop import TrainConfig, evaluate, train, warmup_linear_decay

SIZE = EncoderSize(vocab_size=20, d_model=16, num_heads=2, d_ff=32, num_layers=1, max_len=16)


def toy_task(n: int = 48) -> EncodedDataset:
    """Class 1 reviews contain token 3, class 0 reviews token 4: learnable in a few steps."""
    g = torch.Generator().manual_seed(0)
    ids, labels = [], []
    for i in range(n):
        y = i % 2
        ids.append(torch.randint(5, 20, (8,), generator=g).tolist() + [3 if y else 4])
        labels.append(y)
    return EncodedDataset(ids, labels)


def test_loss_falls_and_the_record_states_the_cost():
    torch.manual_seed(0)
    data = toy_task()
    model = TransformerClassifier(SIZE, num_classes=2)
    before = evaluate(model, data)["loss"]
    record, model = train(model, data, data, TrainConfig(epochs=12, lr=5e-3, batch_size=8, evals_per_epoch=1))
    assert evaluate(model, data)["loss"] < 0.5 * before
    assert record["best_val_accuracy"] == max(h["val_accuracy"] for h in record["history"])
    for field in ("wall_time_s", "examples_per_s", "peak_memory_mb", "trainable_params", "total_params", "hardware"):
        assert record[field]


def test_training_is_deterministic():
    def once():
        torch.manual_seed(0)
        model = TransformerClassifier(SIZE, num_classes=2)
        return train(model, toy_task(), toy_task(), TrainConfig(epochs=1, batch_size=8))[0]["history"]

    assert once() == once()


def test_frozen_model_is_a_clear_error():
    model = TransformerClassifier(SIZE, num_classes=2).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(model, toy_task(), toy_task(), TrainConfig(epochs=1))


def test_warmup_then_linear_decay():
    assert [round(warmup_linear_decay(s, 10, 2), 2) for s in range(10)] == [
        0.5,
        1.0,
        1.0,
        0.88,
        0.75,
        0.62,
        0.5,
        0.38,
        0.25,
        0.12,
    ]


def test_the_schedule_is_transformers_linear_warmup_without_its_idle_first_step():
    from transformers import get_linear_schedule_with_warmup

    total, warmup = 50, 5
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    theirs = get_linear_schedule_with_warmup(optimizer, warmup, total).lr_lambdas[0]
    assert theirs(0) == 0.0 and warmup_linear_decay(0, total, warmup) == 1 / warmup
    assert all(warmup_linear_decay(s, total, warmup) == theirs(s + 1) for s in range(warmup))
    assert all(warmup_linear_decay(s, total, warmup) == theirs(s) for s in range(warmup, total + 3))


def test_bf16_training_returns_a_plain_float32_model():
    """Mixed precision changes how the forward pass computes, not the model handed back: its
    weights stay float32 and its forward method is its own again (accelerate's autocast
    wrapper is removed)."""
    torch.manual_seed(0)
    model = TransformerClassifier(SIZE, num_classes=2)
    record, model = train(model, toy_task(), toy_task(), TrainConfig(epochs=1, batch_size=8, mixed_precision="bf16"))
    assert record["train_config"]["mixed_precision"] == "bf16"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model.forward.__func__ is type(model).forward
    from accelerate import Accelerator

    Accelerator(mixed_precision="no")  # as Trainer does next: the run left no bf16 state behind


def test_an_unknown_precision_is_a_clear_error():
    with pytest.raises(ValueError, match="use one of no, bf16, fp16"):
        train(
            TransformerClassifier(SIZE, num_classes=2),
            toy_task(),
            toy_task(),
            TrainConfig(epochs=1, mixed_precision="fp8"),
        )


def test_on_one_process_in_float32_accelerate_changes_no_bit():
    """The plain PyTorch loop chapter 06 shows, and ``train`` run through ``accelerate``: on one
    process in float32 every ``acc`` call does what the line it replaces did, so one epoch gives
    the same weights, bit for bit (one validation, at the end, so the kept weights are the last)."""
    import torch.nn.functional as F

    from tap.training.loop import warmup_linear_decay

    cfg = TrainConfig(epochs=1, batch_size=7, evals_per_epoch=1)
    torch.manual_seed(0)
    plain = TransformerClassifier(SIZE, num_classes=2)
    ours = TransformerClassifier(SIZE, num_classes=2)
    ours.load_state_dict(plain.state_dict())
    torch.manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(plain.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = -(-len(toy_task()) // cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_linear_decay(s, total, int(cfg.warmup_ratio * total))
    )
    for inputs, labels in toy_task().batches(cfg.batch_size, shuffle=True, seed=cfg.seed):
        plain.train()
        loss = F.cross_entropy(plain(**inputs), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(plain.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    _, ours = train(ours, toy_task(), toy_task(), cfg)
    for (name, a), b in zip(plain.state_dict().items(), ours.state_dict().values()):
        assert torch.equal(a, b), name
