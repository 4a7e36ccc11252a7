"""Training throughput measured on this machine, for ``tap.plan``: a randomly initialised model
of a given shape (nothing downloaded), one warm-up training step, then a few timed ones, in
float32 with AdamW as the book trains. One measurement per shape and size, per process."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .core.devices import device
from .core.measure import timer
from .models.encoder import EncoderSize
from .models.pretrained import quiet_transformers

WARMUP, STEPS = 1, 2  # training steps per measurement: untimed, then timed
CPU_STEP_FLOPS = 1e11  # on a CPU, a measured step is cut to about this much work (a few seconds)


@dataclass(frozen=True)
class Shape:
    """A model's architecture: enough to build it with random weights. ``kind``: ``encoder``
    (``tap.models.encoder``), ``cnn`` (``tap.models.cnn``), ``bert`` (a classifier), ``bert-mlm``, ``gpt2``, ``opt``."""

    name: str
    kind: str
    config: tuple[tuple[str, object], ...]

    @classmethod
    def of(cls, name: str, kind: str, **config) -> Shape:
        return cls(name, kind, tuple(sorted(config.items())))


@dataclass
class Throughput:
    """Training speed of one shape, measured on this machine: the forward and backward passes
    (which grow with the tokens of a batch) apart from the optimiser's step (which does not)."""

    shape: str
    params: int
    batch_size: int  # as measured: on a CPU, large models are measured on fewer rows
    seq_len: int
    steps: int
    tokens_per_s: float  # forward + backward
    optimizer_s: float  # one AdamW step

    def seconds(self, tokens: float, steps: int) -> float:
        """Training ``tokens`` in ``steps`` optimiser steps."""
        return tokens / self.tokens_per_s + steps * self.optimizer_s


def build(shape: Shape) -> torch.nn.Module:
    """A randomly initialised model of ``shape`` (no download)."""
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        BertForSequenceClassification,
        GPT2Config,
        GPT2LMHeadModel,
        OPTConfig,
        OPTForCausalLM,
    )

    from .models.cnn import TextCNN
    from .models.encoder import TransformerClassifier

    c = dict(shape.config)
    makers = {
        "encoder": lambda: TransformerClassifier(EncoderSize(**c), 2),
        "cnn": lambda: TextCNN(c["vocab_size"], 2),
        "bert": lambda: BertForSequenceClassification(BertConfig(**c, num_labels=2)),
        "bert-mlm": lambda: BertForMaskedLM(BertConfig(**c)),
        "gpt2": lambda: GPT2LMHeadModel(GPT2Config(**c)),
        "opt": lambda: OPTForCausalLM(OPTConfig(**c)),
    }
    torch.manual_seed(0)
    return makers[shape.kind]()


def _step(
    model: torch.nn.Module, opt: torch.optim.Optimizer, shape: Shape, batch: int, seq: int
) -> tuple[float, float]:
    """One training step on random token ids; seconds of forward + backward, and of AdamW."""
    dev = next(model.parameters()).device
    ids = torch.randint(5, 1_000, (batch, seq), device=dev)
    mask = torch.ones(batch, seq, dtype=torch.bool if shape.kind in ("encoder", "cnn") else torch.long, device=dev)
    with timer() as passes:
        if shape.kind in ("encoder", "cnn"):
            loss = F.cross_entropy(model(ids, mask), torch.zeros(batch, dtype=torch.long, device=dev))
        else:
            labels = torch.zeros(batch, dtype=torch.long, device=dev) if shape.kind == "bert" else ids
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
    with timer() as update:
        opt.step()
        opt.zero_grad(set_to_none=True)
    return passes["seconds"], update["seconds"]


_MEASURED: dict[Shape, Throughput] = {}  # one measurement per shape, per process


def throughput(shape: Shape, batch_size: int, seq_len: int) -> Throughput:
    """The training speed of ``shape`` on this process's device, measured once per process at the
    first ``batch_size`` × ``seq_len`` asked for (forward and backward passes are timed per token,
    the optimiser's step apart, so one measurement serves every length): ``WARMUP`` untimed steps,
    then the median of ``STEPS`` timed ones. On a CPU the batch (then the sequence) is cut so that
    a step stays near ``CPU_STEP_FLOPS``: fewer tokens per step use the cores less well, so the
    estimate errs long."""
    if shape in _MEASURED:
        return _MEASURED[shape]
    dev = device()
    with quiet_transformers():
        model = build(shape).to(dev).train()
        params = sum(p.numel() for p in model.parameters())
        if dev.type == "cpu":
            fits = max(1, int(CPU_STEP_FLOPS // (6 * params)))  # tokens per step within the budget
            batch_size = max(1, min(batch_size, fits // seq_len))
            seq_len = max(8, min(seq_len, fits // batch_size))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        timed = [_step(model, opt, shape, batch_size, seq_len) for _ in range(WARMUP + STEPS)][WARMUP:]
    _MEASURED[shape] = Throughput(
        shape.name,
        params,
        batch_size,
        seq_len,
        STEPS,
        batch_size * seq_len / statistics.median(t for t, _ in timed),
        statistics.median(u for _, u in timed),
    )
    return _MEASURED[shape]


def measurements() -> list[dict]:
    """Every throughput measured in this process, one per shape."""
    return [asdict(t) for t in _MEASURED.values()]
