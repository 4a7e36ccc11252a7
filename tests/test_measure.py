"""Timing and memory that mean something on a GPU, checked on a CPU with CUDA's functions
replaced: every clock reading waits for the GPU, and GPU memory is reported apart from the
process's resident memory, never mixed with it."""

import time

import pytest
import torch

from tap.core import measure


@pytest.fixture
def fake_gpu(monkeypatch):
    """A GPU that is in use: synchronisations are counted, 1 MB was allocated when a block began
    and 3 MB were its peak allocation."""
    calls = {"synchronize": 0, "reset": 0}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(
        torch.cuda, "synchronize", lambda *a: calls.__setitem__("synchronize", calls["synchronize"] + 1)
    )
    monkeypatch.setattr(
        torch.cuda, "reset_peak_memory_stats", lambda *a: calls.__setitem__("reset", calls["reset"] + 1)
    )
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a: 3 * 2**20)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: 2**20)
    return calls


def test_timers_wait_for_the_gpu(fake_gpu):
    with measure.timer() as clock:
        pass
    assert fake_gpu["synchronize"] == 2 and clock["seconds"] >= 0  # before starting and before stopping the clock
    measure.benchmark(lambda: None, repeats=2, warmup=1)
    assert fake_gpu["synchronize"] == 2 + 2 * 3
    laps = measure.time_steps({"loop": lambda lap: [lap() for _ in range(4)]}, repeats=1, warmup=0)
    assert len(laps["loop"]) == 4 and fake_gpu["synchronize"] == 8 + 1 + 4  # once at the start, once per lap


def test_no_synchronisation_without_a_gpu_in_use(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)  # CUDA present but never used
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: pytest.fail("synchronised an unused GPU"))
    with measure.timer():
        pass
    assert not measure.cuda_in_use()


def test_gpu_memory_has_its_own_key_and_resident_memory_keeps_its_meaning(fake_gpu):
    with measure.track_peak_memory() as mem:
        torch.zeros(1000)
    assert fake_gpu["reset"] == 1
    assert mem["peak_gpu_memory_mb"] == 3.0 and mem["peak_gpu_memory_kind"] == "GPU allocated"
    assert mem["peak_memory_kind"] == "process RSS" and mem["peak_memory_mb"] > 3.0  # a process is larger
    assert mem["memory_used_mb"] == 2.0  # on the GPU, above what it held when the block began


def test_memory_used_is_what_the_block_needed_not_what_the_process_held():
    if measure.cuda_in_use():
        pytest.skip("a GPU is in use in this process")
    held = bytearray(200 * 2**20)  # loaded before the block: not the block's
    with measure.track_peak_memory() as mem:
        needed = bytearray(100 * 2**20)
        needed[::4096] = b"x" * len(needed[::4096])  # touch every page, so it is resident
        time.sleep(0.1)  # held long enough for the 20-ms sampler to see it
        del needed
    assert 90 < mem["memory_used_mb"] < 150 < mem["peak_memory_mb"]
    del held


def test_on_a_cpu_there_is_no_gpu_number():
    if measure.cuda_in_use():
        pytest.skip("a GPU is in use in this process")
    with measure.track_peak_memory() as mem:
        pass
    assert "peak_gpu_memory_mb" not in mem and mem["peak_memory_kind"] == "process RSS"
