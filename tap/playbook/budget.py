"""How much of a comparison a time budget buys on this machine: ``python -m tap playbook``
measures the model's training and scoring speed here (a warm-up step, then timed ones, as
``tap.throughput`` does for ``python -m tap plan``), then chooses the training, validation and
test sizes so that every method, at every learning rate of its search, fits the budget."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.devices import accelerating
from ..core.measure import timer

RATE_FACTORS = (1 / 3, 1.0, 3.0)  # each method's search: its usual rate, a third of it and three times it
TIMED_STEPS = 2


@dataclass(frozen=True)
class Speed:
    """The model's speed here, measured on real batches at the run's length and precision."""

    step_s: float  # one full fine-tuning step (forward, backward, AdamW) of one batch
    scored_per_s: float  # examples scored per second
    load_s: float  # loading the pre-trained model once


@dataclass(frozen=True)
class Plan:
    """Sizes and time of one comparison; ``estimate_s`` is the whole comparison's predicted time."""

    budget_s: float
    train: int
    val: int
    test: int
    batch_size: int
    steps: int  # optimiser steps of every neural run
    runs: int  # neural runs: methods × rates
    rates: dict  # method key -> the rates searched
    estimate_s: float
    speed: Speed
    pinned: bool = False  # sizes fixed by the caller, not bought with the budget
    pilot: int = 0  # training examples of each rate's pilot run (0: every rate trains on ``train``)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        """The plan ``to_dict`` wrote (as stored in the run cache and in ``results.json``)."""
        return cls(**{**data, "speed": Speed(**data["speed"])})


def parse_budget(text: str) -> float:
    """``"10m"``, ``"90s"``, ``"1h"``, ``"1h30m"`` or plain seconds, as seconds."""
    parts = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text or "")
    if not parts or not any(parts.groups()):
        raise ValueError(f"--budget {text!r}: write a duration such as 90s, 10m or 1h30m.")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in parts.groups())
    total = 3600 * hours + 60 * minutes + seconds
    if total <= 0:
        raise ValueError(f"--budget {text!r}: the budget must be longer than zero.")
    return total


def measure_speed(
    model: nn.Module, inputs: dict[str, torch.Tensor], labels: torch.Tensor, precision: str, load_s: float
) -> Speed:
    """Time full fine-tuning steps and scoring on one real batch (after an untimed warm-up step);
    ``load_s``: how long loading the model took."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    with accelerating(precision) as acc:
        model.train()
        step_times = []
        for i in range(1 + TIMED_STEPS):
            with timer() as clock:
                with acc.autocast():
                    loss = F.cross_entropy(model(**inputs), labels)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
            if i:
                step_times.append(clock["seconds"])
        model.eval()
        with torch.inference_mode(), acc.autocast(), timer() as clock:
            model(**inputs)
    return Speed(step_s=sum(step_times) / len(step_times), scored_per_s=len(labels) / clock["seconds"], load_s=load_s)


def cost_s(speed: Speed, runs: int, train: int, val: int, test: int, batch_size: int, epochs: int) -> float:
    """Predicted time of ``runs`` neural runs: loading, training steps, validation after each
    epoch and one pass over the test set each."""
    steps = epochs * math.ceil(train / batch_size)
    scored = epochs * val + test
    return runs * (speed.load_s + steps * speed.step_s + scored / speed.scored_per_s)


def make_plan(
    budget_s: float,
    speed: Speed,
    available: dict[str, int],
    rates: dict[str, list[float]],
    batch_size: int,
    epochs: int,
    caps: dict[str, int],
    num_classes: int,
    fixed_s: float = 0.0,
    sizes: dict[str, int] | None = None,
) -> Plan:
    """The largest training set that fits ``budget_s`` once validation and test sets are set
    (at most ``caps``, at least enough to tell classes apart), for ``rates`` (method key -> the
    rates its search tries, one run each). ``fixed_s``: time already spent or committed
    (loading the data, measuring the speed, the TF-IDF anchor). ``sizes`` pins the train, val
    and test sizes instead (a book page, whose numbers must not depend on the machine's speed),
    and may add a ``pilot`` size: the rates are then tried on that many training examples and
    only each method's chosen rate trains on all of them; the plan then only estimates the time."""
    runs = sum(len(r) for r in rates.values())
    smallest = max(2 * batch_size, 8 * num_classes)
    if sizes:
        train, val, test = (min(available[k], sizes[k]) for k in ("train", "val", "test"))
        pilot = sizes.get("pilot", 0) if 0 < sizes.get("pilot", 0) < train else 0
        steps = epochs * math.ceil(train / batch_size)
        if pilot:  # every rate on the pilot set, unscored; then each method's chosen rate on all of it
            estimate = cost_s(speed, runs, pilot, val, 0, batch_size, epochs)
            estimate += cost_s(speed, len(rates), train, val, test, batch_size, epochs)
        else:
            estimate = cost_s(speed, runs, train, val, test, batch_size, epochs)
        return Plan(budget_s, train, val, test, batch_size, steps, runs, rates, fixed_s + estimate, speed, True, pilot)
    for scale in (1.0, 0.5, 0.25, 0.1):  # shrink validation and test sets before giving up
        val = min(available["val"], max(20 * num_classes, round(scale * caps["val"])))
        test = min(available["test"], max(50 * num_classes, round(scale * caps["test"])))
        left = budget_s - fixed_s - cost_s(speed, runs, 0, val, test, batch_size, epochs)
        per_example = runs * epochs * speed.step_s / batch_size
        train = min(available["train"], caps["train"], int(left / per_example) if left > 0 else 0)
        train = train // batch_size * batch_size if train >= batch_size else train
        if train >= smallest or train == available["train"]:
            break
    else:
        needed = fixed_s + cost_s(speed, runs, smallest, val, test, batch_size, epochs)
        raise ValueError(
            f"A budget of {budget_s:.0f} s is too small for {runs} runs ({len(rates)} methods × "
            f"{len(RATE_FACTORS)} learning rates) on this machine: even {smallest} training examples need about "
            f"{needed:.0f} s. Pass --budget {math.ceil(needed / 60)}m or more, or fewer --methods."
        )
    steps = epochs * math.ceil(train / batch_size)
    estimate = fixed_s + cost_s(speed, runs, train, val, test, batch_size, epochs)
    return Plan(budget_s, train, val, test, batch_size, steps, runs, rates, estimate, speed)
