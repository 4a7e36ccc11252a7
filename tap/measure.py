"""What a run costs: wall time, peak memory, and the machine it ran on (parameter counts:
``efficient.count_parameters``)."""
from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import psutil
import torch


def hardware() -> str:
    """CPU model and the threads torch uses, plus the GPU if one is used."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    text = f"{cpu}, {torch.get_num_threads()} threads ({os.cpu_count()} logical CPUs)"
    if torch.cuda.is_available():
        text += f"; GPU: {torch.cuda.get_device_name(0)}"
    return text


def device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def track_peak_memory() -> Iterator[dict]:
    """Peak memory during the block, in MB: GPU allocations on a GPU, otherwise the
    process's resident memory sampled every 20 ms (includes data already loaded)."""
    result: dict = {}
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        yield result
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["peak_memory_kind"] = "GPU allocated"
        return
    proc, peak, done = psutil.Process(), [psutil.Process().memory_info().rss], threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], proc.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        done.set()
        thread.join()
        result["peak_memory_mb"] = max(peak[0], proc.memory_info().rss) / 2**20
        result["peak_memory_kind"] = "process RSS"


@contextmanager
def timer() -> Iterator[dict]:
    """Wall time of the block in seconds, as ``result['seconds']``."""
    result: dict = {}
    start = time.perf_counter()
    yield result
    result["seconds"] = time.perf_counter() - start


def benchmark(fn, repeats: int = 3, warmup: int = 1) -> dict:
    """Time ``fn()``: ``warmup`` untimed calls (first-call costs: allocation, kernel
    selection, caches), then ``repeats`` timed calls. Reports the median, which one slow
    call on a shared machine does not move, with the minimum and maximum beside it."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "repeats": repeats, "times_s": times}


def compare(fns: dict, repeats: int = 3, warmup: int = 1) -> dict[str, dict]:
    """``benchmark`` for several variants at once, interleaved: every round times each
    variant once, so a burst of load on a shared machine hits all of them alike instead of
    skewing whichever happened to be running. Returns ``{name: benchmark-style result}``."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t), "repeats": repeats,
                   "times_s": t} for name, t in times.items()}
