"""Where the work runs. ``accelerate`` (the engine under ``Trainer`` and ``SFTTrainer``) places
models and batches on the device — a GPU when there is one — applies mixed precision and, under
``accelerate launch`` or ``torchrun``, runs one process per device. Every ``tap`` training loop goes through it,
so the same code runs on a laptop's CPU, on a GPU, and on several of either."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from accelerate import Accelerator, PartialState
from accelerate.state import AcceleratorState

PRECISIONS = ("no", "bf16", "fp16")  # accelerate's names: "no" is plain float32


def state() -> PartialState:
    """The processes and devices of this run, as accelerate sees them. Started by ``torchrun``
    (or ``accelerate launch --multi_gpu``) on a machine without a GPU, the processes are told
    to meet on the CPU (the gloo backend): accelerate looks for a GPU first, and would
    otherwise run each of them alone."""
    on_cpu = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
    return PartialState(cpu=on_cpu)


def device() -> torch.device:
    """This process's device: its own GPU under a multi-process launch, the GPU when there is
    one, else the CPU."""
    return state().device


def is_main_process() -> bool:
    """Whether this process writes files (the run cache, records, figures): the only one, or
    the first of a multi-process launch."""
    return state().is_main_process


@contextmanager
def accelerating(mixed_precision: str = "no") -> Iterator[Accelerator]:
    """An ``Accelerator`` at ``mixed_precision`` ("no", "bf16" or "fp16") for the block.

    accelerate holds one precision per process, and ``Trainer`` asks for its own: so the block
    starts from a fresh state when the process holds another precision, and leaves none behind
    (nor any reference to the models it prepared). The process group of a multi-process launch
    stays as it is."""
    if mixed_precision not in PRECISIONS:
        raise ValueError(f"mixed_precision={mixed_precision!r}: use one of {', '.join(PRECISIONS)}.")
    if mixed_precision == "fp16" and not torch.cuda.is_available():
        raise ValueError("fp16 mixed precision needs a GPU; on a CPU use 'bf16' or 'no'.")
    if AcceleratorState._shared_state.get("_mixed_precision") not in (None, mixed_precision):
        AcceleratorState._reset_state(reset_partial_state=False)
    state()  # before the Accelerator, so that it finds the processes started on a CPU
    acc = Accelerator(mixed_precision=mixed_precision)
    try:
        yield acc
    finally:
        acc.free_memory()
        AcceleratorState._reset_state(reset_partial_state=False)


BF16_UNITS = {"avx512_bf16": "AVX-512 BF16", "amx_bf16": "AMX"}  # CPU flags of bfloat16 arithmetic


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them (none where /proc/cpuinfo is missing)."""
    try:
        with open("/proc/cpuinfo") as f:
            return set(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        return set()


def _bf16_here() -> tuple[bool, str]:
    """Whether this machine computes bfloat16 in hardware, and why, in words. On a CPU it takes
    both the instructions and a PyTorch that uses them: ``get_cpu_capability()`` names the
    instruction set PyTorch's kernels run with (lowered by ``ATEN_CPU_CAPABILITY``)."""
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name()
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return True, f"this GPU ({gpu}) computes bfloat16 in hardware"
        return False, f"this GPU ({gpu}) has no bfloat16 arithmetic"
    capability = torch.backends.cpu.get_cpu_capability()
    units = " and ".join(name for flag, name in BF16_UNITS.items() if flag in cpu_flags())
    if not units:
        return False, f"this CPU has no bfloat16 instructions (instruction set: {capability})"
    if not capability.startswith("AVX512"):
        return False, f"PyTorch runs on this CPU with {capability} instructions, without its bfloat16 ones ({units})"
    return True, f"this CPU computes bfloat16 in hardware ({units})"


def native_bf16() -> bool:
    """Whether this machine computes bfloat16 in hardware: a GPU that supports it, or a CPU with
    AVX-512 BF16 or AMX that PyTorch runs with AVX-512 kernels. Elsewhere bf16 is emulated:
    far slower than float32, and numerically different."""
    return _bf16_here()[0]


def fitting_precision() -> str:
    """bf16 where the hardware computes it, else "no" (float32): emulated, bf16 costs many times float32's time."""
    return "bf16" if native_bf16() else "no"


def precision_reason() -> str:
    """Which precision ``fitting_precision`` chooses here and why, as one sentence for a page."""
    native, why = _bf16_here()
    if native:
        return f"bf16: {why}."
    return f"float32: {why}, and emulated bf16 would be many times slower than float32 and give other numbers."


def gather_rows(rows: torch.Tensor, acc: Accelerator) -> torch.Tensor:
    """Every process's ``rows`` (``[n, k]``, n may differ between processes) concatenated, on
    every process. Nothing is duplicated: each process holds only the items it computed, and
    the padding that makes the shapes equal for the collective is dropped again."""
    if acc.num_processes == 1:
        return rows
    counts = acc.gather(torch.tensor([len(rows)], device=acc.device)).tolist()
    padded = acc.pad_across_processes(rows.to(acc.device), dim=0)
    gathered = acc.gather_for_metrics(padded).cpu()
    width = len(gathered) // acc.num_processes
    return torch.cat([gathered[i * width : i * width + c] for i, c in enumerate(counts)])


def scored_in_shares(
    batches: Iterable[tuple[dict, torch.Tensor]],
    acc: Accelerator,
    score: Callable[[dict, torch.Tensor], torch.Tensor],
    width: int,
) -> torch.Tensor:
    """``[position in the split, *score(inputs, labels)]`` for every example (``width`` scores
    each), in the order the batches came. Each process scores every ``num_processes``-th batch
    and the rows of all are gathered (``gather_rows``): the work is shared, every process gets
    the whole result, and no example is counted twice however the last batch falls."""
    rows, start = [], 0
    for i, (inputs, labels) in enumerate(batches):
        if i % acc.num_processes == acc.process_index:  # this process's share of the batches
            positions = torch.arange(start, start + len(labels), dtype=torch.float64)[:, None]
            rows.append(torch.cat([positions, score(inputs, labels).double()], 1))
        start += len(labels)
    every = gather_rows(torch.cat(rows) if rows else torch.zeros(0, 1 + width, dtype=torch.float64), acc)
    return every[every[:, 0].argsort()]
