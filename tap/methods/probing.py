"""Linear probing: a frozen encoder's features, computed once, and a linear head fitted to them
to convergence (logistic regression). Chapter 01 explains why a probe is fitted this way and
not with the fine-tuning loop's small steps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The probe's L2 penalty on the head's weights, added to the mean cross-entropy as PROBE_L2/2·‖W‖²:
# light, about scikit-learn's default (C = 1) at a few thousand examples.
PROBE_L2 = 1e-4
PROBE_MAX_ITER = 1_000  # L-BFGS iterations at most; the fit stops earlier once it has converged


@torch.no_grad()  # not inference_mode: the features then feed an autograd fit
def frozen_features(model: nn.Module, data, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features, labels)``: the frozen encoder's review vectors (``model.encode``, the masked
    mean that feeds the head) for every batch of ``data`` (an ``EncodedDataset``), computed once,
    in eval mode (no dropout), in the split's order."""
    model.eval()
    dev = next(model.parameters()).device
    features, labels = [], []
    for inputs, y in data.batches(batch_size, shuffle=False):
        features.append(model.encode(**{k: v.to(dev) for k, v in inputs.items()}).cpu())
        labels.append(y)
    return torch.cat(features), torch.cat(labels)


def fit_linear_head(
    head: nn.Linear, features: torch.Tensor, labels: torch.Tensor, l2: float = PROBE_L2, max_iter: int = PROBE_MAX_ITER
) -> int:
    """Fit ``head`` by logistic regression on fixed ``features``, to convergence: full-batch
    L-BFGS (in float64) on the mean cross-entropy plus ``l2``/2·‖W‖² (the bias is not penalised).
    The problem is convex, so the result does not depend on the starting point or on a learning
    rate. Returns the number of L-BFGS iterations it took."""
    x, y = features.double(), labels
    weight = head.weight.detach().double().clone().requires_grad_(True)
    bias = head.bias.detach().double().clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def objective() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, y) + 0.5 * l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(objective)
    with torch.no_grad():
        head.weight.copy_(weight.to(head.weight.dtype))
        head.bias.copy_(bias.to(head.bias.dtype))
    return opt.state[weight]["n_iter"]
