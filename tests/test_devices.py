"""The precision chapter 07's runs take: bf16 only where the hardware computes it (the CPU's
flags and the instruction set PyTorch runs with, both faked here), float32 elsewhere; and the
precision a run used is part of its cache key."""

from dataclasses import replace

import pytest
import torch
from datasets import Dataset

from tap.core import devices
from tap.core.cache import config_key
from tap.core.profiles import get_profile
from tap.data.datasets import Splits
from tap.data.task_data import TaskData
from tap.methods.registry import METHOD
from tap.playbook.runs import SIZES, Playbook


@pytest.fixture
def cpu(monkeypatch):
    """Set the faked CPU: ``cpu(capability, *flags)``; no GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def fake(capability: str, *flags: str) -> None:
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
        monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2", "fma", *flags})

    return fake


@pytest.mark.parametrize(
    "capability, flags, chosen, reason",
    [
        ("AVX2", ("avx512f", "avx512_bf16"), "no", "PyTorch runs on this CPU with AVX2 instructions"),
        ("AVX2", (), "no", "this CPU has no bfloat16 instructions (instruction set: AVX2)"),
        ("AVX512", ("avx512f",), "no", "this CPU has no bfloat16 instructions (instruction set: AVX512)"),
        ("AVX512", ("avx512f", "avx512_bf16"), "bf16", "this CPU computes bfloat16 in hardware (AVX-512 BF16)"),
        ("AVX512", ("avx512f", "amx_bf16"), "bf16", "this CPU computes bfloat16 in hardware (AMX)"),
    ],
)
def test_bf16_only_where_the_cpu_and_pytorch_compute_it(cpu, capability, flags, chosen, reason):
    cpu(capability, *flags)
    assert devices.native_bf16() == (chosen == "bf16")
    assert devices.fitting_precision() == chosen
    sentence = devices.precision_reason()
    assert sentence.startswith("bf16: " if chosen == "bf16" else "float32: ") and reason in sentence
    assert sentence.endswith(".") and ("many times slower" in sentence) == (chosen == "no")


def two_class_playbook() -> Playbook:
    """The smoke profile's playbook on a task of two classes (no rows: nothing here reads them)."""
    empty = Dataset.from_dict({"text": [], "label": []})
    task = TaskData("toy", "toy.csv", Splits(empty, empty, empty, ["neg", "pos"], ""), "0")
    return Playbook(task, SIZES["smoke"], get_profile("smoke"))


def test_the_playbook_runs_in_the_fitting_precision_and_repeats_only_bf16_in_float32(cpu, monkeypatch):
    def run(self, method, n_train=None, mixed_precision=None, lr=None):
        return {"mixed_precision": self.train_config(METHOD[method], mixed_precision, lr).mixed_precision}

    monkeypatch.setattr(Playbook, "run", run)
    monkeypatch.setattr(Playbook, "chosen_rate", lambda self, method: 1e-4)
    book = two_class_playbook()
    cpu("AVX2", "avx512_bf16")
    assert book.train_config(METHOD["lora"]).mixed_precision == "no"
    assert book.precision_check() == {"float32": {"mixed_precision": "no"}}
    cpu("AVX512", "avx512_bf16")
    assert book.train_config(METHOD["lora"]).mixed_precision == "bf16"
    assert book.precision_check() == {"bf16": {"mixed_precision": "bf16"}, "float32": {"mixed_precision": "no"}}


def test_the_precision_is_part_of_a_runs_cache_key():
    book, full = two_class_playbook(), METHOD["full"]
    configs = {p: book.train_config(full, p) for p in ("bf16", "no")}
    assert replace(configs["bf16"], mixed_precision="no") == configs["no"]  # nothing else differs
    keys = {p: book.config(full, 32, cfg) for p, cfg in configs.items()}
    assert keys["bf16"]["train"]["mixed_precision"] == "bf16" and keys["no"]["train"]["mixed_precision"] == "no"
    assert config_key(keys["bf16"]) != config_key(keys["no"])
