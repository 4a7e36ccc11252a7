"""The provenance box: what it counts and what it names."""

from __future__ import annotations

from tap.core.profiles import get_profile
from tap.pages.provenance import provenance


def _run(lr: float, seconds: float, **extra) -> dict:
    return {"lr": lr, "wall_time_s": seconds, "test_time_s": 0.0, **extra}


def test_search_runs_count_once_each():
    chosen = _run(1e-3, 100.0)
    pilots = [_run(3e-4, 10.0), _run(1e-3, 10.0), _run(3e-3, 10.0)]
    box = provenance(get_profile("smoke"), [chosen], search={"LoRA": pilots}).data
    assert "4 runs, 130 s of training and testing" in box


def test_a_chosen_run_that_is_also_a_search_run_is_not_counted_twice():
    runs = [_run(3e-4, 10.0), _run(1e-3, 20.0)]
    box = provenance(get_profile("smoke"), [dict(runs[1])], search={"LoRA": runs}).data
    assert "2 runs, 30 s" in box


def test_names_precision_instruction_set_and_stand_ins():
    box = provenance(get_profile("smoke"), [_run(1e-3, 1.0, mixed_precision="bf16")], stand_ins={"a/b": "c"}).data
    assert "bf16 mixed precision" in box and "instruction set" in box and "a/b → c" in box
