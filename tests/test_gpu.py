"""``pytest -m gpu``: every chapter's ``smoke`` experiment on a CUDA device, from an empty run cache
so that every run is trained there. Skipped, with its reason, where there is no CUDA device. Data
come from ``TAP_DATA_DIR`` or the Hub, as on the pages."""

import pytest
import torch
from torch import nn

from tap.chapters import EXPERIMENTS, chapter
from tap.profiles import get_profile

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def models_in(context: dict) -> list[nn.Module]:
    """The models an experiment's context holds, directly or as a run's ``.model``."""
    found = [getattr(v, "model", v) for v in context.values()]
    return [m for m in found if isinstance(m, nn.Module)]


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_the_chapter_runs_on_the_gpu(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path / "cache"))
    outcome = chapter(name).experiment(get_profile("smoke"))
    used = [r["hardware"] for r in outcome.records.values() if isinstance(r, dict) and "hardware" in r]
    assert used and all("GPU:" in h for h in used), used
    on = {next(m.parameters()).device.type for m in models_in(outcome.context) if any(True for _ in m.parameters())}
    assert not on or "cuda" in on, f"{name}: every model in the context is on {on}"
    assert torch.cuda.max_memory_allocated() > 0
