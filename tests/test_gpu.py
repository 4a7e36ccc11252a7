"""``pytest -m gpu``: every chapter's ``smoke`` experiment on a CUDA device, from an empty run cache
so that every run is trained there. Skipped, with its reason, where there is no CUDA device. Data
come from ``TAP_DATA_DIR`` or the Hub, as on the pages."""

import dataclasses

import pytest
import torch
from torch import nn

from tap.chapters import EXPERIMENTS, chapter
from tap.core.profiles import get_profile

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

# The chapters whose smoke context holds no model, and why; every other chapter's must hold one,
# so that "the models are on the GPU" cannot pass by finding none. Their records still say where
# each run trained (``hardware``).
WITHOUT_MODELS = {
    "ch06": "the multi-class runs and the instruction-tuning runs return records; no model is kept",
    "ch07": "the playbook's runs return records (and the Playbook that ran them), not models",
    "ch08": "its context is the playbook command's report, written from the runs' records",
}


def models_in(context: object) -> list[nn.Module]:
    """The models an experiment's context (a dataclass) holds in its fields, directly or as a run's
    ``.model``, and in the dicts among them (a chapter's runs by name), at any depth of dicts."""

    def walk(value: object) -> list[nn.Module]:
        if isinstance(value, dict):
            return [m for v in value.values() for m in walk(v)]
        found = getattr(value, "model", value)
        return [found] if isinstance(found, nn.Module) else []

    return [m for f in dataclasses.fields(context) for m in walk(getattr(context, f.name))]


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_the_chapter_runs_on_the_gpu(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path / "cache"))
    outcome = chapter(name).experiment(get_profile("smoke"))
    used = [r["hardware"] for r in outcome.records.values() if isinstance(r, dict) and "hardware" in r]
    assert used and all("GPU:" in h for h in used), used
    models = [m for m in models_in(outcome.context) if any(True for _ in m.parameters())]
    if name in WITHOUT_MODELS:
        assert not models, f"{name} now keeps models in its context: take it out of WITHOUT_MODELS"
    else:
        assert models, f"{name}: the context holds no model, so nothing shows that its models ran on the GPU"
        on = {next(m.parameters()).device.type for m in models}
        assert "cuda" in on, f"{name}: every model in the context is on {on}"
    assert torch.cuda.max_memory_allocated() > 0
