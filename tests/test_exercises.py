"""The implement-it checks accept the book's own code (or a minimal correct version) and name
typical mistakes in words."""

import math
from functools import partial

import pytest
import torch
from torch import nn

from tap.methods.adapters import Adapter
from tap.methods.freezing import freeze_base
from tap.methods.lora import LoRALayer
from tap.pages.exercises import check_adapter, check_lora_layer, check_masking, check_probe_freezing

# --- LoRA ---------------------------------------------------------------------------------------------


class MyLoRA(nn.Module):
    """A correct LoRA layer, with knobs for the usual mistakes."""

    scale_by_alpha = random_B = skip_B = detach_A = transpose_A = zero_A = False

    def __init__(self, in_features: int, out_features: int, rank: int, alpha: float) -> None:
        super().__init__()
        self.A = nn.Parameter(torch.empty(rank, in_features))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        if self.transpose_A:
            self.A = nn.Parameter(torch.randn(in_features, rank))
        if self.zero_A:
            nn.init.zeros_(self.A)
        self.B = nn.Parameter(torch.randn(out_features, rank) if self.random_B else torch.zeros(out_features, rank))
        self.scaling = alpha if self.scale_by_alpha else alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        A = self.A.detach() if self.detach_A else self.A
        h = x @ A.T
        return h * self.scaling if self.skip_B else h @ self.B.T * self.scaling


def variant(base: type, **flags: bool) -> type:
    return type(base.__name__, (base,), flags)


@pytest.mark.parametrize("layer", [LoRALayer, MyLoRA])
def test_lora_check_accepts_a_correct_layer(layer):
    assert check_lora_layer(layer).startswith("Correct: A is [rank, in] and random, B is [out, rank]")


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"scale_by_alpha": True}, r"scaled by alpha / rank = 2; yours is scaled by 8 \(alpha, without dividing"),
        ({"random_B": True}, "B must start at zero so the update is a no-op before training; yours has 40 nonzero"),
        ({"skip_B": True}, r"yours returned \[3, 5, 4\] \(did you leave out B\?\)"),
        ({"detach_A": True}, "no gradient reached A"),
        ({"transpose_A": True}, r"A must have shape \[rank, in_features\] = \[4, 12\] .*; yours is \[12, 4\]"),
        ({"zero_A": True}, "A must start random"),
    ],
)
def test_lora_check_names_the_mistake(flags, message):
    with pytest.raises(AssertionError, match=message):
        check_lora_layer(variant(MyLoRA, **flags))


def test_a_check_leaves_the_global_random_state_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check_lora_layer(LoRALayer)
    assert torch.equal(torch.rand(3), expected)


# --- Adapter ------------------------------------------------------------------------------------------


class MyAdapter(nn.Module):
    """A correct adapter, with knobs for the usual mistakes."""

    residual = zero_up = activation = True
    extra_parameter = False

    def __init__(self, hidden: int, bottleneck: int) -> None:
        super().__init__()
        self.down = nn.Linear(hidden, bottleneck)
        self.up = nn.Linear(bottleneck, hidden)
        if self.zero_up:
            nn.init.zeros_(self.up.weight)
            nn.init.zeros_(self.up.bias)
        if self.extra_parameter:
            self.gate = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.down(x)
        change = self.up(torch.relu(h) if self.activation else h)
        return x + change if self.residual else change


@pytest.mark.parametrize("adapter", [Adapter, MyAdapter])
def test_adapter_check_accepts_a_correct_adapter(adapter):
    assert check_adapter(adapter).startswith("Correct: x + up(ReLU(down(x))) with 2dm + m + d = 148 parameters")


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"residual": False}, r"yours returns zeros: the residual connection \(x \+ up\(...\)\) is missing"),
        ({"zero_up": False}, "the up-projection .* must start at zero so a new adapter is the identity"),
        ({"activation": False}, "without the non-linearity between the projections"),
        ({"extra_parameter": True}, r"has 2dm \+ m \+ d = 148 parameters .*; yours has 149"),
    ],
)
def test_adapter_check_names_the_mistake(flags, message):
    with pytest.raises(AssertionError, match=message):
        check_adapter(variant(MyAdapter, **flags))


# --- Masking ------------------------------------------------------------------------------------------


def mask_tokens(input_ids, special_mask, mask_id, vocab_size, generator, *, mistake=None):
    """BERT's rule as transformers' DataCollatorForLanguageModeling applies it, or one mistake."""
    labels = input_ids.clone()
    chosen = torch.bernoulli(torch.full(input_ids.shape, 0.15), generator=generator).bool()
    if mistake != "special":
        chosen &= ~special_mask
    if mistake != "labels everywhere":
        labels[~chosen] = -100
    inputs = input_ids.clone()
    share = 1.0 if mistake == "all masked" else 0.8
    to_mask = torch.bernoulli(torch.full(input_ids.shape, share), generator=generator).bool() & chosen
    inputs[to_mask] = mask_id
    to_random = torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=generator).bool() & chosen & ~to_mask
    inputs[to_random] = torch.randint(vocab_size, input_ids.shape, generator=generator)[to_random]
    if mistake == "labels after corruption":
        labels[chosen] = inputs[chosen]
    return inputs, labels


def thirty_percent(input_ids, special_mask, mask_id, vocab_size, generator):
    """Masks twice BERT's share of the positions, all with [MASK]."""
    chosen = (torch.rand(input_ids.shape, generator=generator) < 0.3) & ~special_mask
    inputs = input_ids.masked_fill(chosen, mask_id)
    return inputs, input_ids.masked_fill(~chosen, -100)


def test_masking_check_accepts_the_rule():
    verdict = check_masking(mask_tokens)
    assert verdict.startswith("Correct: ") and "% [MASK]" in verdict


@pytest.mark.parametrize(
    "mask, message",
    [
        (
            partial(mask_tokens, mistake="special"),
            r"special tokens \(\[CLS\], \[SEP\], \[PAD\]\) must never be chosen; yours chose \d+",
        ),
        (partial(mask_tokens, mistake="labels everywhere"), "labels must be -100 everywhere except the chosen"),
        (
            partial(mask_tokens, mistake="all masked"),
            r"80% must become \[MASK\], .*; yours: 100.0% \[MASK\], 0.0% a random token, 0.0% unchanged",
        ),
        (
            partial(mask_tokens, mistake="labels after corruption"),
            "the label of a chosen position must be its original token id",
        ),
        (thirty_percent, r"about 15% of the non-special positions .*; yours chose 30\.\d%"),
        (lambda *args: undefined_name, "your masking function raised NameError"),  # noqa: F821
    ],
)
def test_masking_check_names_the_mistake(mask, message):
    with pytest.raises(AssertionError, match=message):
        check_masking(mask)


# --- Probe freezing ---------------------------------------------------------------------------------


def freeze_by_hand(model: nn.Module) -> None:
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith("head.")


def freeze_and_reinitialise(model: nn.Module) -> None:
    freeze_base(model, keep=("head",))
    nn.init.zeros_(model.layers[0].feed_forward.up.weight)


@pytest.mark.parametrize("freeze", [partial(freeze_base, keep=("head",)), freeze_by_hand])
def test_probe_check_accepts_freezing_all_but_the_head(freeze):
    assert check_probe_freezing(freeze).startswith("Correct: only the head's 66 weights (d·C + C) train")


@pytest.mark.parametrize(
    "freeze, message",
    [
        (lambda model: model.requires_grad_(False), "the head must stay trainable.*froze head.bias, head.weight"),
        (
            lambda model: model.head.requires_grad_(True),
            r"the encoder must be frozen .* trainable: embedding.weight, layers\.\*\.",
        ),
        (lambda model: model.eval(), "the encoder must be frozen"),  # eval() turns off dropout, it freezes nothing
        (freeze_and_reinitialise, r"freezing must not change any weight; yours changed layers\.\*\.feed"),
    ],
)
def test_probe_check_names_the_mistake(freeze, message):
    with pytest.raises(AssertionError, match=message):
        check_probe_freezing(freeze)
