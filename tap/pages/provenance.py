"""The provenance box every chapter shows: how its numbers were produced."""

from __future__ import annotations

import html
import json
from importlib.metadata import PackageNotFoundError, version

import torch
from IPython.display import HTML

from ..core.measure import hardware
from ..core.profiles import Profile
from ..data.datasets import data_source

LIBRARIES = ("torch", "transformers", "datasets", "peft", "trl")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries whose behaviour the numbers depend on."""
    found = {}
    for lib in LIBRARIES:
        try:
            found[lib] = version(lib)
        except PackageNotFoundError:
            found[lib] = "not installed"
    return found


def _arithmetic(records: list[dict]) -> str:
    """The precision the runs computed in, and the instruction set PyTorch used: the same profile
    gives the same numbers where both are the same."""
    names = {"no": "float32", "bf16": "bf16 mixed precision", "fp16": "fp16 mixed precision"}
    used = sorted({names.get(r.get("mixed_precision", "no"), "float32") for r in records}) or ["float32"]
    where = f"GPU ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "CPU"
    return f"{' and '.join(used)} on the {where}; PyTorch's CPU instruction set: {torch.backends.cpu.get_cpu_capability()}"


def provenance(
    profile: Profile,
    records: list[dict],
    stand_ins: dict[str, str] | None = None,
    search: dict[str, list[dict]] | None = None,
) -> HTML:
    """A compact note: profile, hardware, library versions, data source, what the
    chapter's runs cost, and which stand-in models replaced Hub models. ``search``: the runs of
    each method's learning-rate search, which cost time too; a run listed twice counts once."""
    searched = [r for runs in (search or {}).values() for r in runs]
    records = list({json.dumps(r, sort_keys=True, default=str): r for r in [*records, *searched]}.values())
    train_s = sum(r.get("wall_time_s", 0) + r.get("test_time_s", 0) for r in records)
    cached = sum(bool(r.get("from_cache")) for r in records)
    rows = {
        "profile": f"<code>{profile.name}</code> (set <code>TAP_PROFILE</code> to change)",
        "hardware": hardware(),
        "arithmetic": _arithmetic(records),
        "libraries": ", ".join(f"{k} {v}" for k, v in library_versions().items()),
        "data": data_source(),
        "runs": f"{len(records)} runs, {train_s:,.0f} s of training and testing"
        + (f" ({cached} reused from the run cache; times are from when they ran)" if cached else ""),
        "stand-in models": "; ".join(f"{hub} → {local}" for hub, local in (stand_ins or {}).items()) or "none",
    }
    items = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows.items())
    return HTML(
        '<div class="admonition note tap-provenance"><p class="admonition-title">'
        f"How the numbers on this page were produced</p><table>{items}</table></div>"
    )


def loaded_name(hub_id: str, stand_ins: dict[str, str] | None = None) -> str:
    """The name of the model that ran when the code asked for ``hub_id``: its stand-in's name
    (``pretrained.STAND_INS``, "all-MiniLM-L6-v2 (the book profile's stand-in ...)" → "all-MiniLM-L6-v2")
    when one replaced it in this process, else ``hub_id`` itself. Pages label a run with it, so a
    table never says "BERT" for a MiniLM."""
    if stand_ins is None:
        from ..models.pretrained import STAND_INS as stand_ins
    return stand_ins[hub_id].split(" (")[0] if hub_id in stand_ins else hub_id
