"""Chapter 01: the linear probe (logistic regression on frozen features, fitted to convergence)
and partial unfreezing."""

import numpy as np
import pytest
import torch
from torch import nn

from tap.chapters import ch01_transfer as ch01
from tap.methods import probing
from tap.models.encoder import TransformerClassifier


def test_the_probe_head_reaches_the_logistic_regression_optimum():
    sklearn = pytest.importorskip("sklearn.linear_model")
    g = torch.Generator().manual_seed(0)
    x = 0.3 * torch.randn(400, 16, generator=g)  # small features with a weak signal: large weights needed
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * torch.randn(400, generator=g) > 0).long()
    torch.manual_seed(0)
    head = nn.Linear(16, 2)
    l2 = 1e-3
    iterations = probing.fit_linear_head(head, x, y, l2)
    assert 0 < iterations <= probing.PROBE_MAX_ITER
    # Two-class softmax with penalty l2/2 on both rows is binary logistic regression on w1 - w0 with
    # penalty l2/4·‖w1 - w0‖², i.e. scikit-learn's C = 2 / (l2 · n).
    reference = sklearn.LogisticRegression(C=2 / (l2 * len(y)), tol=1e-12, max_iter=100_000).fit(x.numpy(), y.numpy())
    w = head.weight.detach()
    assert np.allclose((w[1] - w[0]).numpy(), reference.coef_[0], atol=1e-3)
    assert abs((head.bias[1] - head.bias[0]).item() - reference.intercept_[0]) < 1e-3


def test_frozen_features_are_the_vector_the_head_reads_without_dropout():
    from tap.data.text import EncodedDataset, Vocabulary
    from tap.models.encoder import EncoderSize

    vocab = Vocabulary.build(["a good film", "a bad film", "good", "bad"], max_size=20, min_freq=1)
    data = EncodedDataset.from_texts(["a good film", "a bad film", "good good"], [1, 0, 1], vocab, 8)
    torch.manual_seed(0)
    model = TransformerClassifier(EncoderSize(len(vocab), 8, 2, 16, 1, 8), 2)
    model.train()  # frozen_features must switch dropout off itself
    x, y = probing.frozen_features(model, data)
    assert x.shape == (3, 8) and y.tolist() == [1, 0, 1] and not model.training
    inputs, _ = next(data.batches(3, shuffle=False))
    assert torch.allclose(model.head(x), model(**inputs), atol=1e-6)
    assert torch.equal(x, probing.frozen_features(model, data)[0])  # deterministic


def test_top_layer_fine_tuning_trains_only_the_top_layer_and_the_head(mirror):
    from tap.core.profiles import get_profile

    setup = ch01.prepare(get_profile("smoke"))
    source = ch01.pretrain_on_ag_news(setup)
    run = ch01.top_layers_fine_tune(setup, source)
    top = f"layers.{len(run.model.layers) - 1}."
    changed = {
        n
        for n, p in run.model.state_dict().items()
        if n in source.model.state_dict()
        and not n.startswith("head.")
        and not torch.equal(p.cpu(), source.model.state_dict()[n].cpu())
    }
    assert changed and all(n.startswith(top) for n in changed)
    expected = sum(p.numel() for n, p in run.model.named_parameters() if n.startswith((top, "head.")))
    assert run.record["trainable_params"] == expected
    with pytest.raises(ValueError, match="top_layers"):
        ch01.top_layers_fine_tune(setup, source, top_layers=0)


def test_the_experiment_is_one_entry_point_for_the_page_and_the_command_line(mirror):
    from tap import __main__ as cli
    from tap.chapters import chapter
    from tap.core.profiles import get_profile

    assert cli.chapter("ch01").experiment is chapter("ch01").experiment is ch01.experiment
    outcome = ch01.experiment(get_profile("smoke"))
    assert set(ch01.STRATEGIES.values()) < set(outcome.records)
    facts = ch01.facts(outcome)
    assert facts["ft_acc"] == 100 * outcome.records[ch01.STRATEGIES["ft"]]["test_accuracy"]
    assert facts["test_size"] == 64 and set(outcome.figures) == {"training_curves", "test_accuracy"}
