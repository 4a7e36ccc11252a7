"""``python -m tap playbook``: the book's comparison on any labelled texts (chapter 07 calls it on
IMDB, chapter 08 on AG News). Every method gets
the same training examples and steps; each one's learning rate is chosen on the validation set
from three rates around its usual one; the sizes come from a time budget and this machine's
measured speed (``tap.playbook.budget``). Runs are cached like the book's, so the same command run again
resumes where it stopped and recomputes nothing finished.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace

import numpy as np
from tqdm.auto import tqdm

from ..core.cache import cached_folder, source_digest
from ..core.intervals import accuracy_interval, paired_difference
from ..core.measure import hardware, timer
from ..core.profiles import Profile, get_profile
from ..core.report import shown_difference
from ..data.task_data import InputError, TaskData, load_task, subset
from ..methods.registry import METHOD
from ..models.pretrained import quiet_transformers
from . import budget as budget_code
from . import runs as runs_code
from .budget import RATE_FACTORS, Plan, make_plan, measure_speed, parse_budget
from .runs import BERT_BASE_RATES, TFIDF_SAME, Playbook, PlaybookSize, below_probe
from .runs import SIZES as BOOK_SIZES

METHOD_KEYS = {  # the command's names -> tap.methods.registry' keys (None: the TF-IDF anchor)
    "tfidf": None,
    "probe": "probe",
    "bitfit": "bitfit",
    "adapters": "adapters",
    "lora": "lora",
    "ia3": "ia3-peft",
    "full": "full",
}
IMDB = "stanfordnlp/imdb"  # the book's own task, read through the same loader as a reader's Hub dataset
PEFT_FORMAT = ("lora", "ia3-peft")  # methods whose trained weights PEFT's from_pretrained loads


@dataclass(frozen=True)
class CommandSize:
    """A profile's model and the largest sets the command plans for."""

    model: str
    max_len: int
    batch_size: int
    epochs: int
    caps: dict = field(default_factory=dict)  # most train / val / test examples a budget may buy
    lr: dict = field(default_factory=dict)  # per-method usual rates, where the profile's model needs its own


SIZES = {
    "smoke": CommandSize("bert-base-uncased", 48, 16, 1, {"train": 64, "val": 32, "test": 48}),
    "book": CommandSize("bert-base-uncased", 128, 8, 1, {"train": 20_000, "val": 300, "test": 1_000}),
    "full": CommandSize(
        "bert-base-uncased", 256, 32, 2, {"train": 100_000, "val": 2_000, "test": 10_000}, BERT_BASE_RATES
    ),
}


def parse_methods(text: str | list[str]) -> list[str]:
    """``"tfidf,lora,full"`` as the command's method names, checked; the anchor always runs."""
    names = [m.strip() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    unknown = [m for m in names if m not in METHOD_KEYS]
    if unknown:
        raise InputError(f"--methods: unknown {', '.join(unknown)}; choose from {','.join(METHOD_KEYS)}.")
    if "full" not in names or not set(names) - {"full", "tfidf"}:
        raise InputError(
            "--methods must include full and at least one other neural method: each is judged against full fine-tuning."
        )
    return ["tfidf", *(m for m in METHOD_KEYS if m in names and m != "tfidf")]


@dataclass
class Comparison:
    """A finished comparison: the chosen run of every method (keys: method labels, as chapter
    07's records), every run of the learning-rate search, the plan, and the time it took."""

    task: TaskData
    plan: Plan
    records: dict[str, dict]
    search: dict[str, list[dict]]
    precision: str
    model: str
    profile: str
    actual_s: float
    playbook: Playbook


def _speed(book: Playbook, precision: str):
    """This machine's speed for the task's model, on one real training batch."""
    book.load_model()  # the first load also imports the model's code: time the second
    with timer() as clock:
        model = book.load_model()
    batch = book.tokenized(subset(book.task.splits.train, book.size.batch_size))
    inputs, labels = next(batch.batches(book.size.batch_size, shuffle=False))
    speed = measure_speed(model, inputs, labels, precision, clock["seconds"])
    del model
    return speed


def _plan(
    book: Playbook,
    caps: dict[str, int],
    budget_s: float,
    sizes: dict[str, int] | None,
    neural: list[str],
    precision: str,
    start: float,
) -> tuple[Plan, bool]:
    """The comparison's plan, kept in the run cache under the command's inputs (the data's
    digest, the budget or pinned sizes, the methods, model, profile, this machine, and the code
    that sets caps, rates and batch size): the same command run again plans the same sizes, and
    so finds its finished runs, where a new speed measurement would buy a few examples more or
    less and start over. The seed is not an input: every seed runs the same plan. Returns the
    plan and whether it was reused."""
    task, size = book.task, book.size
    available = {"train": len(task.splits.train), "val": len(task.splits.val), "test": len(task.splits.test)}
    config = {
        "data": task.digest,
        "budget_s": None if sizes else budget_s,
        "sizes": sizes,
        "methods": neural,
        "model": book.hub_id,
        "profile": book.profile.name,
        "precision": precision,
        "machine": hardware(),
        "code": source_digest(budget_code, runs_code, sys.modules[__name__]),
    }

    def compute(_folder) -> dict:
        speed = _speed(book, precision)
        rates = {k: book.rates(k) for k in neural}
        plan = make_plan(
            budget_s,
            speed,
            available,
            rates,
            size.batch_size,
            size.epochs,
            caps,
            task.num_classes,
            fixed_s=time.perf_counter() - start,
            sizes=sizes,
        )
        return {"plan": plan.to_dict()}

    _, record = cached_folder("playbook-plan", config, compute)
    return Plan.from_dict(record["plan"]), record["from_cache"]


def render_plan(plan: Plan, task: TaskData, methods: list[str], precision: str, model: str) -> str:
    """The plan as the table printed before any training."""
    rates = "\n".join(
        f"  {METHOD[METHOD_KEYS[m]].label:<22} " + ", ".join(f"{lr:.1e}" for lr in plan.rates[METHOD_KEYS[m]])
        for m in methods
        if METHOD_KEYS[m]
    )
    s = plan.speed
    chosen = f" after pilots on {plan.pilot:,} training examples, then the chosen rate on all" if plan.pilot else ""
    return (
        f"Plan for {task.name} ({task.num_classes} classes: {', '.join(task.splits.label_names)}); model {model}, {precision}\n"
        f"  measured here: {s.step_s:.2f} s per training step of {plan.batch_size} examples, "
        f"{s.scored_per_s:.0f} examples/s scored, {s.load_s:.1f} s to load the model\n"
        f"  training examples  {plan.train:>7,} (of {len(task.splits.train):,})   steps per run {plan.steps:,}\n"
        f"  validation         {plan.val:>7,} (of {len(task.splits.val):,})\n"
        f"  test               {plan.test:>7,} (of {len(task.splits.test):,})\n"
        f"  neural runs        {plan.runs:>7} ({len(RATE_FACTORS)} learning rates per method, chosen on validation{chosen})\n"
        f"{rates}\n"
        f"  estimated time     {plan.estimate_s / 60:>7.1f} min "
        + (
            "(sizes fixed in advance: no budget applies)"
            if plan.pinned
            else f"of the {plan.budget_s / 60:.1f}-minute budget"
        )
    )


def run_playbook(
    data: str,
    text: str = "text",
    label: str = "label",
    test: str | None = None,
    model: str | None = None,
    budget: str = "10m",
    methods: str | list[str] = tuple(METHOD_KEYS),
    seed: int = 0,
    dry_run: bool = False,
    profile: Profile | str | None = None,
    config: str | None = None,
    split: str = "train",
    drop_empty: bool = False,
    sizes: dict[str, int] | None = None,
    echo=print,
) -> Comparison | Plan:
    """Check the data, plan the comparison within ``budget`` (or at fixed ``sizes``: train, val,
    test), print the plan, and (unless ``dry_run``) run every method at every searched rate,
    keeping each one's best on validation."""
    start = time.perf_counter()
    p = profile if isinstance(profile, Profile) else get_profile(profile)
    budget_s = parse_budget(budget)
    names = parse_methods(methods)
    task = load_task(data, text, label, test, config, split, drop_empty)
    for warning in task.warnings:
        echo(f"warning: {warning}")
    size = SIZES[p.name]
    hub_id = model or size.model
    book = Playbook(
        task,
        PlaybookSize(
            train=len(task.splits.train),
            val=len(task.splits.val),
            test=len(task.splits.test),
            max_len=size.max_len,
            batch_size=size.batch_size,
            epochs=size.epochs,
            curve=(),
            tfidf_curve=(),
            tfidf_all=0,
            lr=size.lr,
        ),
        p,
        hub_id,
        seed,
        keep_state=PEFT_FORMAT,
    )
    with quiet_transformers():  # loading reports and "newly initialised head" notes: the plan says what loads
        precision = book.train_config(METHOD["full"]).mixed_precision
        neural = [METHOD_KEYS[m] for m in names if METHOD_KEYS[m]]
        plan, reused = _plan(book, size.caps, budget_s, sizes, neural, precision, start)
        book.size = replace(book.size, train=plan.train, val=plan.val, test=plan.test, pilot=plan.pilot)
        loaded = book.model_key()["loaded"]  # resolved here: a plan from the cache loaded no model
        echo(render_plan(plan, task, names, precision, loaded))
        if reused:
            echo(
                "  (the plan this command made before, kept in the run cache with its runs: nothing finished is "
                "redone; to measure this machine and plan again, delete the cache's folders/playbook-plan-* entries)"
            )
        if dry_run:
            return plan
        search: dict[str, list[dict]] = {}
        records: dict[str, dict] = {}
        per_method = len(RATE_FACTORS) + (1 if plan.pilot else 0)  # the pilots, then the chosen rate's run
        with tqdm(total=len(neural) * per_method + 1, desc="playbook", unit="run") as overall:
            for key in neural:
                method = METHOD[key]
                overall.set_postfix_str(f"{method.label}, {len(RATE_FACTORS)} rates")
                records[method.label], search[method.label] = book.search(method, plan.train)
                overall.update(per_method)
            overall.set_postfix_str(TFIDF_SAME)
            records[TFIDF_SAME] = book.tfidf(plan.train)
            overall.update()
        return Comparison(task, plan, records, search, precision, loaded, p.name, time.perf_counter() - start, book)


def imdb_playbook(
    profile: Profile | str | None = None, methods: str | list[str] = tuple(METHOD_KEYS), echo=print
) -> Comparison:
    """The book's comparison on IMDB: this command's function on IMDB's own test split (validation
    carved from training), at the sizes the book pins (``tap.playbook.runs.SIZES``: train, val, test
    and the pilot the rates are tried on), so that its numbers do not depend on the speed of the
    machine that builds it, and chapters 04, 05 and 07 share their runs through the run cache."""
    p = profile if isinstance(profile, Profile) else get_profile(profile)
    s = BOOK_SIZES[p.name]
    sizes = {"train": s.train, "val": s.val, "test": s.test, "pilot": s.pilot}
    return run_playbook(IMDB, test="test", profile=p, sizes=sizes, methods=methods, echo=echo)


def imdb_against_probe_and_full(
    method: str, profile: Profile | str | None = None, echo=print
) -> tuple[Comparison, dict[str, dict]]:
    """One parameter-efficient ``method`` (a command name: ``adapters`` in chapter 04, ``lora`` in
    05) in the book's IMDB comparison, against full fine-tuning and the linear probe on the same
    pre-trained base, each at the rate chosen on validation; chapter 07 finds these runs in the
    run cache. With it, the method trained again for longer when it ended below the probe, the
    run that says whether it was only undertrained."""
    result = imdb_playbook(profile, ["probe", method, "full"], echo)
    return result, result.playbook.longer_runs(result.records, below_probe(result.records))


def summary_rows(result: Comparison) -> list[dict]:
    """One row per method: accuracy with its interval, macro-F1, the paired difference to the
    most accurate method, the chosen rate, and what the method costs."""
    from sklearn.metrics import f1_score

    gold = np.asarray(result.playbook.main.test["label"])
    best_label = max(result.records, key=lambda k: result.records[k]["test_accuracy"])
    best = result.records[best_label]
    rows = []
    for label, r in result.records.items():
        lo, hi = accuracy_interval(r)
        _, d_lo, d_hi = paired_difference(r["test_correct"], best["test_correct"])
        rows.append(
            {
                "method": label,
                "test accuracy (%)": 100 * r["test_accuracy"],
                "95% interval": f"{lo:.1f}–{hi:.1f}",
                "macro-F1 (%)": 100 * f1_score(gold, r["test_predicted"], average="macro"),
                f"vs {best_label} (points, paired 95%)": "—"
                if label == best_label
                else f"{shown_difference(100 * r['test_accuracy'], 100 * best['test_accuracy']):+.1f} "
                f"({100 * d_lo:+.1f} to {100 * d_hi:+.1f})",
                "learning rate": f"{r['lr']:.1e}" if "lr" in r else "",
                "validation accuracy (%)": 100 * r["best_val_accuracy"] if "best_val_accuracy" in r else None,
                "trainable params": r["trainable_params"],
                "stored per task (kB)": r["trainable_bytes"] / 1024 if "trainable_bytes" in r else None,
                "train time (s)": r["wall_time_s"],
                "examples/s": r["examples_per_s"],
                "memory used (MB)": r.get("memory_used_mb"),
            }
        )
    return rows
