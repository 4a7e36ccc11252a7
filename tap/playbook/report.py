"""What ``python -m tap playbook`` leaves behind: ``results.json`` (every record, the plan, the
data's digest, versions, hardware), two figures, ``report.md`` and a self-contained
``report.html``, and the best parameter-efficient method's weights in PEFT's format."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ..core.intervals import accuracy_interval
from ..core.measure import hardware
from ..core.report import format_table
from ..methods import lora_io
from ..methods.registry import METHOD
from ..models.pretrained import quiet_transformers
from ..pages import plots
from ..pages.provenance import library_versions
from . import verdict
from .command import PEFT_FORMAT, Comparison, summary_rows


def output_folder(out: str | Path | None, name: str) -> Path:
    """``out``, else ``playbook-<data name>``; refused when it is a file."""
    folder = Path(out) if out else Path(f"playbook-{name}")
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder} is a file; name a folder (it is created if missing).")
    return folder


def search_table(search: dict[str, list[dict]], records: dict[str, dict]) -> pd.DataFrame:
    """Each method's learning-rate search: the validation accuracy at every rate, the rate
    chosen, and how much the choice mattered (best minus worst validation accuracy)."""
    rows = []
    for label, runs in search.items():
        chosen = records[label]
        vals = [100 * r["best_val_accuracy"] for r in runs]
        rows.append(
            {
                "method": label,
                **{f"rate {i + 1}": f"{r['lr']:.1e}: {100 * r['best_val_accuracy']:.1f}%" for i, r in enumerate(runs)},
                "chosen rate": f"{chosen['lr']:.1e}",
                "spread (points)": max(vals) - min(vals),
            }
        )
    return pd.DataFrame(rows).set_index("method")


def results_table(result: Comparison) -> pd.DataFrame:
    return pd.DataFrame(summary_rows(result)).set_index("method")


def figures(result: Comparison) -> dict[str, Figure]:
    """Accuracy against trainable parameters and against training time, both on log axes,
    each with the Pareto front marked."""
    points = {label: (100 * r["test_accuracy"], *accuracy_interval(r)) for label, r in result.records.items()}
    name, n = result.task.name, result.plan.test
    return {
        "accuracy_vs_parameters": plots.tradeoff(
            {k: (result.records[k]["trainable_params"], *v) for k, v in points.items()},
            xlabel="trainable parameters (log scale)",
            title=f"{name}: test accuracy ({n:,} examples) against what each method trains",
        ),
        "accuracy_vs_time": plots.tradeoff(
            {k: (result.records[k]["wall_time_s"], *v) for k, v in points.items()},
            xlabel="training time on this machine (s, log scale)",
            title=f"{name}: test accuracy against training time",
        ),
    }


def best_adapter(result: Comparison) -> str | None:
    """The parameter-efficient method PEFT can load with the best *validation* accuracy."""
    found = [l for l, r in result.records.items() if r.get("method_key") in PEFT_FORMAT]
    return max(found, key=lambda l: result.records[l]["best_val_accuracy"]) if found else None


def save_adapter(result: Comparison, folder: Path) -> Path | None:
    """The best PEFT-loadable method's trained weights in PEFT's format, with a model card."""
    label = best_adapter(result)
    if label is None:
        return None
    record = result.records[label]
    key = record["method_key"]
    with quiet_transformers():  # the base model's load report: the card below says what loads
        model = result.playbook.trained(key, result.plan.train, lr=record["lr"])
    target = folder / "adapter"
    if key == "lora":
        lora_io.save_as_peft(model, target, result.model, task_type=None, heads=["head"])
    else:
        model.save_pretrained(str(target))
    names = result.task.splits.label_names
    (target / "README.md").write_text(
        f"# {label} for {result.task.name}\n\n"
        f"Trained by `python -m tap playbook` on {result.plan.train:,} examples at learning rate {record['lr']:.1e} "
        f"(chosen on validation: {100 * record['best_val_accuracy']:.1f}%); test accuracy "
        f"{100 * record['test_accuracy']:.1f}% on {record['test_size']:,} examples.\n\n"
        f"Base model: {result.model}. Classes, in order: {', '.join(names)}.\n\n"
        "Load it on the same base, under the same mean-pooling head:\n\n"
        "```python\nfrom peft import PeftModel\nfrom tap.models.pooled import MeanPooledClassifier\n"
        "from transformers import AutoModel\n\n"
        f"base = MeanPooledClassifier(AutoModel.from_pretrained(BASE, add_pooling_layer=False), {len(names)})\n"
        "model = PeftModel.from_pretrained(base, 'adapter').eval()\n```\n"
    )
    return target


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def markdown(result: Comparison, words: dict, adapter: Path | None, image=lambda name: f"{name}.png") -> str:
    """The report: data, plan against actual time, results, the rate search, figures, decision."""
    task, plan = result.task, result.plan
    sizes = task.splits.sizes()
    warnings = "".join(f"\n- **Warning:** {w}" for w in task.warnings)
    saved = (
        f"\n\nThe weights of {best_adapter(result)} are saved in PEFT's format in `adapter/` (with a model card)."
        if adapter
        else ""
    )
    return (
        f"# The playbook on {task.name}\n\n"
        f"## Decision\n\n{words['decision']}\n\n"
        f"## Data\n\n- Source: `{task.source}` (content digest `{task.digest}`)\n"
        f"- Classes: {', '.join(task.splits.label_names)}\n"
        f"- Available: {sizes['train']:,} training, {sizes['val']:,} validation, {sizes['test']:,} test examples "
        f"({task.splits.note}){warnings}\n\n"
        f"## Plan and time\n\nA budget of {plan.budget_s / 60:.1f} minutes bought {plan.train:,} training examples "
        f"({plan.steps:,} steps of {plan.batch_size}), {plan.val:,} validation and {plan.test:,} test examples, "
        f"for {plan.runs} neural runs (three learning rates per method). Planned {plan.estimate_s:.0f} s; "
        f"took {result.actual_s:.0f} s. Model: {result.model}; precision: {result.precision}; profile "
        f"`{result.profile}`; {hardware()}.\n\n"
        f"## Results\n\n{format_table(results_table(result)).to_markdown()}\n\n"
        f"## Learning rates, chosen on validation\n\n{format_table(search_table(result.search, result.records)).to_markdown()}\n\n"
        f"{words['search']}\n\n"
        f"![accuracy against trainable parameters]({image('accuracy_vs_parameters')})\n\n"
        f"![accuracy against training time]({image('accuracy_vs_time')}){saved}\n"
    )


def write(result: Comparison, out: str | Path | None = None) -> Path:
    """Every output file of a finished comparison, in ``out`` (default ``playbook-<name>``)."""
    from markdown_it import MarkdownIt

    folder = output_folder(out, result.task.name)
    folder.mkdir(parents=True, exist_ok=True)
    words = verdict.task_words(result.records, result.search, result.task.name)
    figs = figures(result)
    pngs = {name: _png(fig) for name, fig in figs.items()}
    for name, data in pngs.items():
        (folder / f"{name}.png").write_bytes(data)
    adapter = save_adapter(result, folder)
    (folder / "report.md").write_text(markdown(result, words, adapter))
    inline = markdown(
        result, words, adapter, image=lambda n: "data:image/png;base64," + base64.b64encode(pngs[n]).decode()
    )
    body = MarkdownIt("commonmark").enable("table").render(inline)
    (folder / "report.html").write_text(
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>The playbook on {result.task.name}</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}img{max-width:100%}</style></head>"
        f"<body>{body}</body></html>\n"
    )
    (folder / "results.json").write_text(
        json.dumps(
            {
                "data": result.task.summary(),
                "plan": result.plan.to_dict(),
                "actual_s": result.actual_s,
                "model": result.model,
                "precision": result.precision,
                "profile": result.profile,
                "hardware": hardware(),
                "versions": library_versions(),
                "decision": words,
                "adapter": best_adapter(result) if adapter else None,
                "records": result.records,
                "search": result.search,
                "methods": {
                    label: METHOD[r["method_key"]].trains
                    for label, r in result.records.items()
                    if r.get("method_key") in METHOD
                },
            },
            indent=1,
            default=str,
        )
    )
    return folder
