"""What a run costs: wall time, peak memory, and the machine it ran on (parameter counts:
``parameter_counts.count_parameters``). The book's one timer: ``timer`` for a block, ``benchmark``
and ``time_calls`` (warm-up, interleaved repeats, median) for code timed against itself,
``time_steps`` for the steps of a loop. A GPU runs asynchronously: every clock reading
waits for the work already queued on it (``synchronize``), so a time is the work's, not the
time it took to queue it."""

from __future__ import annotations

import ctypes
import gc
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


def cuda_in_use() -> bool:
    """Whether this process has put work on a GPU (asking never starts CUDA)."""
    return torch.cuda.is_available() and torch.cuda.is_initialized()


def synchronize() -> None:
    """Wait for the work queued on the GPU, if one is in use: call before reading a clock."""
    if cuda_in_use():
        torch.cuda.synchronize()


def release_memory() -> None:
    """Return what earlier work freed to the system (glibc keeps freed memory in the process, and
    a block that reuses it would grow no resident memory), so that a block's peak is its own."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@contextmanager
def track_peak_memory() -> Iterator[dict]:
    """Peak memory during the block, in MB. ``peak_memory_mb`` is always the process's resident
    memory, sampled every 20 ms (it includes data already loaded, and so depends on what ran
    before in the process). With a GPU in use, ``peak_gpu_memory_mb`` is the peak of memory
    allocated on it, a quantity of its own, never mixed with the first. ``memory_used_mb``, the
    one measure the pages compare, is the peak (on the GPU when one is in use) above what was
    held when the block began: what the block itself needed, not the model built before it, the
    data already loaded or what earlier work left behind (``release_memory`` first)."""
    release_memory()
    result: dict = {}
    gpu = cuda_in_use()
    if gpu:
        torch.cuda.reset_peak_memory_stats()
        gpu_start = torch.cuda.memory_allocated()
    proc, done = psutil.Process(), threading.Event()
    start = proc.memory_info().rss
    peak = [start]

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
        result["memory_used_mb"] = result["peak_memory_mb"] - start / 2**20
        result["peak_memory_kind"] = "process RSS"
        if gpu:
            synchronize()
            result["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
            result["peak_gpu_memory_kind"] = "GPU allocated"
            result["memory_used_mb"] = result["peak_gpu_memory_mb"] - gpu_start / 2**20


@contextmanager
def timer() -> Iterator[dict]:
    """Wall time of the block in seconds, as ``result['seconds']`` (GPU work included: the clock
    is read after the GPU has finished what the block queued)."""
    result: dict = {}
    synchronize()
    start = time.perf_counter()
    yield result
    synchronize()
    result["seconds"] = time.perf_counter() - start


def benchmark(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> dict:
    """Time ``fn()``: ``warmup`` untimed calls (first-call costs: allocation, kernel
    selection, caches), then ``repeats`` timed calls. Reports the median, which one slow
    call on a shared machine does not move, with the minimum and maximum beside it."""
    return time_calls({"fn": fn}, repeats, warmup)["fn"]


def time_calls(fns: dict[str, Callable[[], object]], repeats: int = 3, warmup: int = 1) -> dict[str, dict]:
    """``benchmark`` for several variants at once, interleaved: every round times each
    variant once, so a burst of load on a shared machine hits all of them alike instead of
    skewing whichever happened to be running. Returns ``{name: benchmark-style result}``."""

    def seconds(fn: Callable[[], object]) -> float:
        with timer() as clock:
            fn()
        return clock["seconds"]

    return {
        name: {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t), "repeats": repeats, "times_s": t}
        for name, t in _rounds(fns, seconds, repeats, warmup).items()
    }


def time_steps(
    fns: dict[str, Callable[[Callable[[], None]], object]], repeats: int = 3, warmup: int = 1
) -> dict[str, list[float]]:
    """``time_calls`` for loops whose every step matters (a decoding loop's tokens): each variant
    is called with a ``lap`` function that it calls at the end of each step. Returns, per
    variant, the median time of each step over the timed rounds, in seconds."""

    def step_seconds(fn: Callable[[Callable[[], None]], object]) -> list[float]:
        synchronize()
        laps, last = [], [time.perf_counter()]

        def lap() -> None:
            synchronize()
            now = time.perf_counter()
            laps.append(now - last[0])
            last[0] = now

        fn(lap)
        return laps

    return {
        name: [statistics.median(step) for step in zip(*runs)]
        for name, runs in _rounds(fns, step_seconds, repeats, warmup).items()
    }


def _rounds(
    fns: dict[str, Callable], measure: Callable[[Callable], object], repeats: int, warmup: int
) -> dict[str, list]:
    """``measure(fn)`` for every variant in turn, round after round: ``warmup`` rounds whose
    measurements are dropped, then ``repeats`` rounds whose measurements are returned."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    kept: dict[str, list] = {name: [] for name in fns}
    for round_ in range(warmup + repeats):
        for name, fn in fns.items():
            result = measure(fn)
            if round_ >= warmup:
                kept[name].append(result)
    return kept
