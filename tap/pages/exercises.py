"""Checks for the book's implement-it exercises: the reader writes a mechanism (a LoRA layer, an
adapter, the masking rule, the probe's freezing) and one call runs it beside the book's own
implementation on small random inputs, so a mistake is named in words rather than found ten
minutes into training.

The convention, for every ``check_*``: it returns a one-line verdict starting ``"Correct: "``
when the reader's code does what the chapter describes, and raises ``AssertionError`` with a
one-line message naming the first problem it finds and what to do about it (so a notebook cell
stops there, and a solution that broke fails the book's build). The checks leave the global
random state as they found it.

- ``check_probe_freezing`` (chapter 01): only the classification head trains;
- ``check_masking`` (chapter 03): BERT's 15% / 80-10-10 rule, checked on its statistics;
- ``check_adapter`` (chapter 04): ``x + up(ReLU(down(x)))``, starting as the identity;
- ``check_lora_layer`` (chapter 05): ``(alpha / rank) · B A x`` with ``B`` starting at zero.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core.profiles import get_profile
from ..methods.adapters import Adapter
from ..methods.lora import LoRALayer
from ..methods.parameter_counts import count_parameters
from ..methods.submodules import collapse_indices
from ..models.encoder import EncoderSize, TransformerClassifier


def _require(condition: bool, message: str) -> None:
    """Fail with ``message`` (not ``assert``, which ``python -O`` would skip)."""
    if not condition:
        raise AssertionError(message)


def _call(what: str, fn: Callable, *args: Any) -> Any:
    """``fn(*args)``, with an error of the reader's code reported as one line that says which call failed."""
    try:
        return fn(*args)
    except AssertionError:
        raise
    except Exception as err:  # the reader's code may fail in any way; say where
        raise AssertionError(f"{what} raised {type(err).__name__}: {err}") from err


def _names(names: list[str], most: int = 4) -> str:
    """A few parameter names, repeated layers collapsed (``layers.*.attention.query.weight``)."""
    unique = list(dict.fromkeys(collapse_indices(n) for n in names))
    return ", ".join(unique[:most]) + (f" and {len(unique) - most} more" if len(unique) > most else "")


def _seeded(check: Callable[..., str]) -> Callable[..., str]:
    """Run ``check`` on a private random state: the same verdict every time, the caller's state untouched."""

    @functools.wraps(check)
    def seeded(*args: Any, **kwargs: Any) -> str:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return check(*args, **kwargs)

    return seeded


def _forward_output(
    what: str,
    module: nn.Module,
    x: torch.Tensor,
    shape: tuple[int, ...],
    expected: str,
    hints: dict[int, str] | None = None,
) -> torch.Tensor:
    """``module(x)`` without gradients, which must be a tensor of ``shape``: what the reader's
    forward returns is checked before anything is compared with it. ``expected`` says which shape
    and why; ``hints`` name a likely mistake by the last size of a wrong shape."""
    with torch.no_grad():
        out = _call(what, module, x)
    _require(isinstance(out, torch.Tensor), f"forward must return a tensor; yours returned {type(out).__name__}")
    if tuple(out.shape) != shape:
        hint = (hints or {}).get(out.shape[-1], "") if out.dim() else ""
        raise AssertionError(f"{expected}; yours returned {list(out.shape)}{hint}")
    return out


# --- Chapter 05: a LoRA layer -----------------------------------------------------------------------

# alpha / rank = 2 differs from every usual slip (alpha, rank / alpha, alpha / √rank, 1), and
# in != out tells A's shape from B's.
LORA_IN, LORA_OUT, LORA_RANK, LORA_ALPHA = 12, 10, 4, 8.0


def _factor(layer: nn.Module, name: str) -> torch.Tensor:
    """The layer's factor ``name`` (``A`` or ``B``), which must be a trainable tensor."""
    factor = getattr(layer, name, None)
    _require(
        isinstance(factor, torch.Tensor),
        f"the layer needs its factors as attributes A and B (self.{name} = nn.Parameter(...)), as in the book; "
        f"yours has no tensor called {name}",
    )
    _require(
        isinstance(factor, nn.Parameter) and factor.requires_grad,
        f"{name} must be a trainable nn.Parameter (requires_grad=True), or training cannot move it",
    )
    return factor


def _lora_scaling_words(scaling: float) -> str:
    """What a wrong scaling factor most likely is, in words."""
    slips = {
        LORA_ALPHA: "alpha, without dividing by the rank",
        LORA_RANK / LORA_ALPHA: "rank / alpha, upside down",
        LORA_ALPHA / math.sqrt(LORA_RANK): "alpha / √rank, rank-stabilised LoRA's factor",
        1.0: "1, no scaling at all",
        1 / LORA_RANK: "1 / rank, without alpha",
    }
    for value, words in slips.items():
        if math.isclose(scaling, value, rel_tol=1e-3):
            return f"{scaling:.3g} ({words})"
    return f"{scaling:.3g}"


@_seeded
def check_lora_layer(cls: Callable[..., nn.Module]) -> str:
    """Check a LoRA layer class built like ``tap.methods.lora.LoRALayer(in_features, out_features, rank,
    alpha)``: the factors' shapes, ``B`` at zero and ``A`` random at the start, the output's shape,
    the scaling ``alpha / rank`` (against the book's layer holding the same random ``A`` and ``B``)
    and gradients reaching both factors."""
    call = f"{getattr(cls, '__name__', 'your class')}({LORA_IN}, {LORA_OUT}, rank={LORA_RANK}, alpha={LORA_ALPHA:g})"
    layer = _call(call, cls, LORA_IN, LORA_OUT, LORA_RANK, LORA_ALPHA)
    _require(isinstance(layer, nn.Module), f"{call} must build a torch nn.Module; it gave {type(layer).__name__}")
    layer.eval()
    A, B = _factor(layer, "A"), _factor(layer, "B")
    for name, factor, shape, words in (
        ("A", A, (LORA_RANK, LORA_IN), "[rank, in_features]"),
        ("B", B, (LORA_OUT, LORA_RANK), "[out_features, rank]"),
    ):
        _require(
            tuple(factor.shape) == shape,
            f"{name} must have shape {words} = {list(shape)} so that B A has nn.Linear's weight shape "
            f"[out, in]; yours is {list(factor.shape)}",
        )
    _require(
        not B.detach().any(),
        f"B must start at zero so the update is a no-op before training; yours has "
        f"{int(B.detach().count_nonzero())} nonzero entries of {B.numel()}",
    )
    _require(
        bool(A.detach().any()),
        "A must start random (Kaiming-uniform, like an nn.Linear weight), not at zero: with A and B both zero "
        "no gradient reaches either, and the update never trains",
    )
    x = torch.randn(3, 5, LORA_IN)  # [batch, tokens, in]
    out = _forward_output(
        "your layer's forward",
        layer,
        x,
        (3, 5, LORA_OUT),
        f"forward must map [..., in_features] to [..., out_features]: [3, 5, {LORA_IN}] to [3, 5, {LORA_OUT}]",
        hints={LORA_RANK: " (did you leave out B?)"},
    )
    _require(
        not out.any(),
        "the layer's output is the update alone, scaling · B A x, which is zero while B is zero; yours is not: "
        "does it add the input, a bias or the frozen layer? (LinearWithLoRA adds the frozen layer)",
    )

    book = LoRALayer(LORA_IN, LORA_OUT, LORA_RANK, LORA_ALPHA)
    with torch.no_grad():
        book.B.normal_()  # trained-looking factors, the same in both layers
        A.copy_(book.A)
        B.copy_(book.B)
        expected, got = book(x), _call("your layer's forward", layer, x)
    if not torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
        ratio = float((got * expected).sum() / (expected * expected).sum())
        if torch.allclose(got, ratio * expected, rtol=1e-3, atol=1e-5):
            raise AssertionError(
                f"the update must be scaled by alpha / rank = {book.scaling:g}; "
                f"yours is scaled by {_lora_scaling_words(ratio * book.scaling)}"
            )
        raise AssertionError(
            f"with the same A and B, your output differs from (alpha / rank) · B A x by up to "
            f"{(got - expected).abs().max():.3g}: compute x Aᵀ first, then multiply by Bᵀ, and add nothing else"
        )

    _call("backward through your layer", lambda: (layer(x) * torch.randn(3, 5, LORA_OUT)).sum().backward())
    for name, factor in (("A", A), ("B", B)):
        _require(
            factor.grad is not None and bool(factor.grad.any()),
            f"no gradient reached {name}: forward must compute with the parameter itself "
            f"(no .detach(), .data or torch.no_grad())",
        )
    return (
        f"Correct: A is [rank, in] and random, B is [out, rank] and starts at zero, the update is "
        f"(alpha / rank) · B A x (scaling {book.scaling:g} here), and gradients reach both factors."
    )


# --- Chapter 04: a bottleneck adapter ---------------------------------------------------------------

ADAPTER_HIDDEN, ADAPTER_BOTTLENECK = 16, 4


def _projection(adapter: nn.Module, name: str, maps: tuple[int, int]) -> nn.Linear:
    """The adapter's ``down`` or ``up`` projection, an ``nn.Linear`` mapping ``maps[0]`` to ``maps[1]``."""
    linear = getattr(adapter, name, None)
    _require(
        isinstance(linear, nn.Linear),
        f"the adapter needs its projections as nn.Linear attributes down and up, as in the book; "
        f"yours has no nn.Linear called {name}",
    )
    _require(
        (linear.in_features, linear.out_features) == maps and linear.bias is not None,
        f"{name} must be nn.Linear({maps[0]}, {maps[1]}) with a bias (hidden {ADAPTER_HIDDEN}, bottleneck "
        f"{ADAPTER_BOTTLENECK}); yours maps {linear.in_features} to {linear.out_features}"
        + ("" if linear.bias is not None else " without a bias"),
    )
    return linear


@_seeded
def check_adapter(cls: Callable[..., nn.Module]) -> str:
    """Check an adapter class built like ``tap.methods.adapters.Adapter(hidden, bottleneck)``: its
    projections and parameter count (2dm + m + d), the output's shape, that it starts as the identity
    (up-projection zero), and, with the book's adapter's random weights copied in, the residual
    connection and the non-linearity."""
    d, m = ADAPTER_HIDDEN, ADAPTER_BOTTLENECK
    call = f"{getattr(cls, '__name__', 'your class')}({d}, {m})"
    adapter = _call(call, cls, d, m)
    _require(isinstance(adapter, nn.Module), f"{call} must build a torch nn.Module; it gave {type(adapter).__name__}")
    adapter.eval()
    down, up = _projection(adapter, "down", (d, m)), _projection(adapter, "up", (m, d))
    count = count_parameters(adapter)["total_params"]
    _require(
        count == 2 * d * m + m + d,
        f"an adapter of width d = {d} and bottleneck m = {m} has 2dm + m + d = {2 * d * m + m + d} parameters "
        f"(two projections with their biases, nothing else); yours has {count}",
    )
    nonzero = int(up.weight.detach().count_nonzero() + up.bias.detach().count_nonzero())
    _require(
        nonzero == 0,
        f"the up-projection (weight and bias) must start at zero so a new adapter is the identity and inserting "
        f"it changes nothing; yours has {nonzero} nonzero entries",
    )
    _require(
        bool(down.weight.detach().any()),
        "the down-projection must start random (nn.Linear's default), not at zero: with both projections at "
        "zero no gradient reaches either, and the adapter never trains",
    )
    x = torch.randn(2, 5, d)  # [batch, tokens, hidden]
    out = _forward_output(
        "your adapter's forward", adapter, x, tuple(x.shape), f"an adapter returns its input's shape, [2, 5, {d}]"
    )
    if not torch.allclose(out, x, atol=1e-6):
        _require(
            not torch.allclose(out, torch.zeros_like(out)),
            "a new adapter must be the identity, returning x; yours returns zeros: the residual connection "
            "(x + up(...)) is missing",
        )
        raise AssertionError(
            f"a new adapter must be the identity (its up-projection is zero); yours changes x by up to "
            f"{(out - x).abs().max():.3g}"
        )

    book = Adapter(d, m)
    with torch.no_grad():
        for p in book.up.parameters():
            p.normal_(std=0.5)  # a trained-looking adapter, the same in both
        down.load_state_dict(book.down.state_dict())
        up.load_state_dict(book.up.state_dict())
        expected, got = book(x), _call("your adapter's forward", adapter, x)
    if not torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
        if torch.allclose(got, expected - x, rtol=1e-4, atol=1e-5):
            raise AssertionError(
                "with the book's weights your adapter returns up(ReLU(down(x))) without x: the residual "
                "connection (x + ...) is missing, so the adapter replaces the layer's output instead of adjusting it"
            )
        if torch.allclose(got, x + book.up(book.down(x)), rtol=1e-4, atol=1e-5):
            raise AssertionError(
                "with the book's weights your adapter computes x + up(down(x)): without the non-linearity "
                "between the projections it is only a low-rank linear map"
            )
        raise AssertionError(
            f"with the book's weights your output differs from x + up(ReLU(down(x))) by up to "
            f"{(got - expected).abs().max():.3g}: the book's adapter uses ReLU between the projections"
        )

    _call("backward through your adapter", lambda: (adapter(x) * torch.randn_like(x)).sum().backward())
    for name, p in (("down.weight", down.weight), ("up.weight", up.weight)):
        _require(
            p.grad is not None and bool(p.grad.any()),
            f"no gradient reached {name}: forward must compute with the projections themselves "
            f"(no .detach() or torch.no_grad())",
        )
    return (
        f"Correct: x + up(ReLU(down(x))) with 2dm + m + d = {count} parameters, starting as the identity "
        f"(up-projection zero), with gradients reaching both projections."
    )


# --- Chapter 03: the masking rule of masked-LM pre-training ------------------------------------------

MASK_VOCAB, MASK_ID, SPECIAL_IDS = 1_000, 4, {"[PAD]": 0, "[CLS]": 2, "[SEP]": 3}
# Shares a correct rule must land near, and how far a sample of this size may stray: about six
# standard errors for a batch of 256 × 256 positions (~40,000 candidates, ~6,000 chosen), so a
# correct rule passes whatever its random draws, and a rule off by a few points fails.
CHOSEN, CHOSEN_TOLERANCE = 0.15, 0.012
SPLIT, SPLIT_TOLERANCE = {"[MASK]": 0.8, "a random token": 0.1, "unchanged": 0.1}, 0.03


def _masking_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """256 sequences of 256 ids: ``[CLS]`` words ``[SEP]`` then ``[PAD]`` to a random length; and
    where the special tokens are."""
    rows, width = 256, 256
    ids = torch.randint(5, MASK_VOCAB, (rows, width))  # ordinary words: ids 5 and up
    lengths = torch.randint(width // 4, width + 1, (rows,))
    positions = torch.arange(width)
    ids[positions >= lengths[:, None]] = SPECIAL_IDS["[PAD]"]
    ids[:, 0] = SPECIAL_IDS["[CLS]"]
    ids[torch.arange(rows), lengths - 1] = SPECIAL_IDS["[SEP]"]
    return ids, torch.isin(ids, torch.tensor(list(SPECIAL_IDS.values())))


@_seeded
def check_masking(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> str:
    """Check a masking rule called as ``fn(input_ids, special_mask, mask_id, vocab_size, generator)
    -> (inputs, labels)`` on a large random batch: special tokens never chosen, about 15% of the others
    chosen, labels the original ids there and -100 elsewhere, and of the chosen about 80% ``[MASK]``,
    10% a random token, 10% unchanged. Statistics, because the rule is random."""
    original, special = _masking_batch()
    result = _call(
        "your masking function",
        fn,
        original.clone(),
        special.clone(),
        MASK_ID,
        MASK_VOCAB,
        torch.Generator().manual_seed(1234),
    )
    _require(
        isinstance(result, tuple) and len(result) == 2 and all(isinstance(t, torch.Tensor) for t in result),
        "the function must return two tensors, (inputs, labels)",
    )
    inputs, labels = result
    for name, t in (("inputs", inputs), ("labels", labels)):
        _require(
            t.shape == original.shape,
            f"{name} must have input_ids' shape {list(original.shape)}; yours has {list(t.shape)}",
        )
    chosen = labels != -100
    _require(
        chosen.float().mean() < 0.5,
        f"labels must be -100 everywhere except the chosen positions, so the loss counts only those; yours "
        f"label {100 * chosen.float().mean():.0f}% of the positions",
    )
    _require(
        not (chosen & special).any(),
        f"special tokens ([CLS], [SEP], [PAD]) must never be chosen; yours chose {int((chosen & special).sum())} "
        f"of them: leave out the positions where special_mask is True",
    )
    wrong = int((labels[chosen] != original[chosen]).sum())
    _require(
        wrong == 0,
        f"the label of a chosen position must be its original token id, what the model has to recover; "
        f"{wrong} of yours are not (labels taken after corrupting the inputs?)",
    )
    changed_unchosen = int((inputs != original)[~chosen].sum())
    _require(
        changed_unchosen == 0,
        f"only chosen positions may change; yours changed {changed_unchosen} positions whose label is -100 "
        f"(a changed position the loss ignores teaches nothing)",
    )
    share = float(chosen.sum() / (~special).sum())
    _require(
        abs(share - CHOSEN) < CHOSEN_TOLERANCE,
        f"about 15% of the non-special positions must be chosen as targets; yours chose {100 * share:.1f}%",
    )
    picked, kept = inputs[chosen], original[chosen]
    shares = {
        "[MASK]": float((picked == MASK_ID).float().mean()),
        "a random token": float(((picked != MASK_ID) & (picked != kept)).float().mean()),
        "unchanged": float((picked == kept).float().mean()),
    }
    _require(
        all(abs(shares[k] - SPLIT[k]) < SPLIT_TOLERANCE for k in SPLIT),
        "of the chosen positions 80% must become [MASK], 10% a random token and 10% stay unchanged (so the "
        "model cannot count on seeing [MASK]); yours: " + ", ".join(f"{100 * v:.1f}% {k}" for k, v in shares.items()),
    )
    randoms = picked[(picked != MASK_ID) & (picked != kept)]
    _require(
        bool(((randoms >= 0) & (randoms < MASK_VOCAB)).all()),
        f"random tokens must be ids of the vocabulary, 0 to vocab_size - 1 = {MASK_VOCAB - 1}",
    )
    distinct = randoms.unique().numel()
    _require(
        distinct > randoms.numel() / 2,
        f"random replacements must be drawn uniformly from the vocabulary; yours use only {distinct} "
        f"different ids for {randoms.numel()} replacements",
    )
    return (
        f"Correct: {100 * share:.1f}% of the non-special positions chosen, labels -100 elsewhere; of the chosen "
        + ", ".join(f"{100 * v:.1f}% {k}" for k, v in shares.items())
        + "."
    )


# --- Chapter 01: freezing for the linear probe -------------------------------------------------------


@_seeded
def check_probe_freezing(
    fn: Callable[[nn.Module], nn.Module | None], size: EncoderSize | None = None, num_classes: int = 2
) -> str:
    """Check a function that prepares chapter 01's ``TransformerClassifier`` for a linear probe
    (``fn(model)``, in place; it may return the model): only ``head`` trainable, no gradient
    reaching the encoder on a backward pass, as many trainable weights as the head holds, and no
    weight changed. ``size`` defaults to the smoke profile's encoder."""
    size = size or get_profile("smoke").encoder
    model = TransformerClassifier(size, num_classes).eval()  # eval: no dropout, a deterministic check
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    returned = _call("your function", fn, model)
    if isinstance(returned, TransformerClassifier):  # a frozen copy; anything else: the model, frozen in place
        model = returned
    params = dict(model.named_parameters())
    head = {n for n in params if n.split(".")[0] == "head"}
    _require(bool(head), "the model must keep its classification head, model.head")
    frozen_head = sorted(n for n in head if not params[n].requires_grad)
    _require(
        not frozen_head,
        f"the head must stay trainable, since a probe fits the head on frozen features; yours froze "
        f"{', '.join(frozen_head)}",
    )
    trainable = [n for n, p in params.items() if n not in head and p.requires_grad]
    _require(
        not trainable,
        f"the encoder must be frozen (requires_grad=False) so that only the head learns; yours leaves "
        f"{len(trainable)} of its parameters trainable: {_names(trainable)}",
    )
    changed = [n for n, p in params.items() if n in before and not torch.equal(p.detach(), before[n])]
    _require(not changed, f"freezing must not change any weight; yours changed {_names(changed)}")

    ids = torch.randint(1, size.vocab_size, (4, min(16, size.max_len)))
    loss = F.cross_entropy(model(ids, torch.ones_like(ids, dtype=torch.bool)), torch.arange(4) % num_classes)
    _call("a backward pass through your frozen model", loss.backward)
    reached = [n for n, p in params.items() if n not in head and p.grad is not None and p.grad.any()]
    _require(not reached, f"a backward pass left gradients in the encoder: {_names(reached)}")
    _require(
        all(params[n].grad is not None for n in head),
        "no gradient reached the head: it must be computed from the encoder's features, not detached",
    )
    head_size = size.d_model * num_classes + num_classes
    counted = count_parameters(model)["trainable_params"]
    _require(
        counted == head_size,
        f"a probe trains exactly the head's d·C + C = {head_size} weights; yours trains {counted}",
    )
    return (
        f"Correct: only the head's {head_size} weights (d·C + C) train; the encoder's "
        f"{count_parameters(model)['total_params'] - head_size:,} are frozen and receive no gradient."
    )
