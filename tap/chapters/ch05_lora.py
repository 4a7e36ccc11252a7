"""Chapter 05's experiment: LoRA (``tap.methods.lora``) on chapter 01's AG-News-pre-trained encoder for
IMDB (which layers to adapt, at rank 8; how much rank, swept on the layers that did best by
validation accuracy; what merging saves at inference) and a convolutional classifier
(``tap.models.cnn``) adapted with the same code. Also the check of ``tap.methods.lora`` against Hugging Face
PEFT, the reference implementation, which the page runs on a pre-trained BERT."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedTokenizerBase

from ..core import measure
from ..core.cache import source_digest
from ..core.devices import device
from ..core.profiles import Profile, as_profile
from ..core.report import format_table, gap, results_table, shown_difference
from ..data.datasets import Splits
from ..data.text import EncodedDataset
from ..methods import lora
from ..methods.freezing import freeze_base
from ..methods.lora import apply_lora, merge, unmerge
from ..methods.parameter_counts import count_parameters
from ..methods.registry import PEFT_MACHINERY, peft_lora
from ..models import cnn
from ..pages import plots
from ..playbook.verdict import PEFT_TARGET_POINTS, PEFT_TARGET_SHARE
from ..training.loop import TrainConfig, logits_of
from . import ch01_transfer as ch01
from . import ch05_word_vectors
from .ch01_transfer import TransferSetup
from .harness import Outcome, Run, run_classifier

# --- On a pre-trained BERT: LoRA against full fine-tuning and the probe -----------------------------


# --- Checked against the reference implementation, Hugging Face PEFT -------------------------------


@torch.no_grad()
def compare_with_peft(
    model: nn.Module,
    inputs: dict,
    targets: list[str],
    rank: int = 8,
    alpha: float = 16,
    rslora: bool = False,
    head: Iterable[str] = ("classifier",),
    seed: int = 0,
) -> dict:
    """Give one copy of ``model`` PEFT's LoRA and another ``apply_lora``; set PEFT's
    zero-initialised factor to random values (at initialisation the update is zero and the two
    would agree trivially), copy A and B across, and compare outputs before merging, after
    merging and after unmerging, and the trainable-parameter counts. ``model`` is untouched."""
    torch.manual_seed(seed)
    theirs = peft_lora(copy.deepcopy(model), targets, rank, alpha, rslora=rslora, head=head).eval()
    for name, p in theirs.named_parameters():
        if "lora_B" in name or "lora_embedding_A" in name:  # the factors that start at zero
            nn.init.normal_(p, std=0.05)
    ours = copy.deepcopy(model).eval()
    apply_lora(ours, targets, rank, alpha, rslora=rslora, keep=head)
    layers = lora.copy_from_peft(ours, theirs)
    before = logits_of(ours, inputs)
    diffs = {"before merging": (before - logits_of(theirs, inputs)).abs().max().item()}
    merge(ours)
    theirs.merge_adapter()
    diffs["after merging"] = (logits_of(ours, inputs) - logits_of(theirs, inputs)).abs().max().item()
    unmerge(ours)
    theirs.unmerge_adapter()
    after = logits_of(ours, inputs)
    diffs["after unmerging"] = (after - logits_of(theirs, inputs)).abs().max().item()
    return {
        "max_abs_diff": diffs,
        "layers": layers,
        "round_trip_diff": (after - before).abs().max().item(),
        "lora_effect": (before - logits_of(model.eval(), inputs)).abs().max().item(),
        "trainable_tap": count_parameters(ours)["trainable_params"],
        "trainable_peft": theirs.get_nb_trainable_parameters()[0],
    }


def step_time_vs_peft(
    model: nn.Module,
    inputs: dict,
    labels: torch.Tensor,
    targets: list[str],
    rank: int = 8,
    alpha: float = 16,
    head: Iterable[str] = ("classifier",),
    repeats: int = 10,
    warmup: int = 2,
) -> dict:
    """Median seconds of one training step (forward, backward, AdamW) of ``apply_lora`` and
    of PEFT on copies of the same model and the same batch, timed in turns in one process
    (``measure.time_calls``), so that load from elsewhere on the machine slows both alike."""
    ours = copy.deepcopy(model)
    apply_lora(ours, targets, rank, alpha, keep=head)
    theirs = peft_lora(copy.deepcopy(model), targets, rank, alpha, head=head)

    def stepper(m: nn.Module) -> Callable[[], None]:
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
        m.train()

        def step() -> None:
            loss = F.cross_entropy(logits_of(m, inputs), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    timed = measure.time_calls({"tap": stepper(ours), "peft": stepper(theirs)}, repeats, warmup)
    tap_s, peft_s = timed["tap"]["median_s"], timed["peft"]["median_s"]
    return {
        "tap_s": tap_s,
        "peft_s": peft_s,
        "ratio": tap_s / peft_s,
        "repeats": repeats,
        "batch": list(labels.shape) + [inputs["input_ids"].shape[1]],
    }


def text_batch(
    tokenizer: PreTrainedTokenizerBase, splits: Splits, n: int, max_length: int
) -> tuple[dict, torch.Tensor]:
    """``n`` training reviews, half of each class, tokenised to exactly ``max_length`` tokens."""
    chosen = splits.train.select(
        list(range(n // 2)) + list(range(len(splits.train) - (n - n // 2), len(splits.train)))
    )
    inputs = tokenizer(
        list(chosen["text"]), padding="max_length", truncation=True, max_length=max_length, return_tensors="pt"
    )
    return dict(inputs), torch.tensor(chosen["label"])


def equivalence_table(results: dict[str, dict]) -> pd.DataFrame:
    """One row per model compared with PEFT: the largest output difference at each stage (shown
    in scientific notation, "0" when the outputs are bit-for-bit equal: fixed decimals would
    round these differences of 1e-7 to zero) and the trainable-parameter counts of both."""
    rows = [
        {
            "model": name,
            **{f"max |Δ| {k}": "0" if v == 0 else f"{v:.1e}" for k, v in r["max_abs_diff"].items()},
            "LoRA layers": r["layers"],
            "trainable params (tap)": r["trainable_tap"],
            "trainable params (PEFT)": r["trainable_peft"],
        }
        for name, r in results.items()
    ]
    return pd.DataFrame(rows).set_index("model")


# --- LoRA on chapter 01's AG-News-pre-trained encoder -------------------------------------------

ATTENTION = ["attention.query", "attention.key", "attention.value", "attention.output"]
FEED_FORWARD = ["feed_forward.up", "feed_forward.down"]
TARGETS = {
    "attention": ATTENTION,
    "feed-forward": FEED_FORWARD,
    "attention + feed-forward": ATTENTION + FEED_FORWARD,
    "embedding": ["embedding"],
}
RANKS = (1, 2, 4, 8, 16)
FULL, PROBE, LATENCY = "full fine-tuning (chapter 01)", "linear probe (chapter 01)", "merge latency"
# The two trained models timed before and after merging: label -> their targets.
MERGED = {"LoRA on attention + FF": "attention + feed-forward", "LoRA on embedding": "embedding"}


@dataclass(frozen=True)
class LoRASettings:
    """One LoRA run: which layers, rank, alpha (fixed while the rank varies, as Hu et al.
    do, so the update's scaling alpha/rank shrinks as the rank grows), learning rate, and
    the training budget: one epoch over a balanced share of the training reviews, so that a
    targets × ranks comparison fits the book's time budget on a CPU."""

    targets: str = "attention + feed-forward"
    rank: int = 8
    alpha: float = 16
    lr: float = 5e-3
    epochs: int = 1
    train_share: float = 0.5
    evals_per_epoch: int = 2

    def name(self) -> str:
        """The run's name in the run cache: its targets and rank."""
        slug = {
            "attention": "attn",
            "feed-forward": "ffn",
            "attention + feed-forward": "attn-ffn",
            "embedding": "emb",
        }[self.targets]
        return f"imdb-lora-{slug}-r{self.rank}"


def balanced_subset(data: EncodedDataset, share: float) -> EncodedDataset:
    """The first ``share`` of each class's examples (same classes, same balance)."""
    if share >= 1:
        return data
    rows = []
    for label in sorted(set(data.labels)):
        of_class = [i for i, y in enumerate(data.labels) if y == label]
        rows += of_class[: max(1, round(share * len(of_class)))]
    rows.sort()
    return EncodedDataset([data.ids[i] for i in rows], [data.labels[i] for i in rows])


def train_lora(setup: TransferSetup, source: Run, settings: LoRASettings = LoRASettings()) -> Run:
    """Train LoRA + head on IMDB with everything else frozen, or reuse the cached run."""

    def build() -> nn.Module:  # the pre-trained encoder, a new 2-class head, LoRA on the targets
        model = ch01.from_source(setup, source)
        apply_lora(model, TARGETS[settings.targets], settings.rank, settings.alpha)
        return model

    cfg = TrainConfig(
        epochs=settings.epochs,
        lr=settings.lr,
        batch_size=setup.profile.batch_size,
        evals_per_epoch=settings.evals_per_epoch,
    )
    task = replace(setup.imdb, train=balanced_subset(setup.imdb.train, settings.train_share))
    key = {
        **setup.key(),
        "source": source.record["config"],
        "lora": asdict(settings),
        "lora_code": source_digest(*PEFT_MACHINERY, lora),
    }
    return run_classifier(settings.name(), key, build, task, cfg)


@torch.inference_mode()
def merge_latency(
    setup: TransferSetup, source: Run, trained: dict[str, nn.Module], batch_size: int = 16, repeats: int = 15
) -> dict:
    """Inference time of one batch of test reviews through the base model (the pre-trained
    encoder and head, no LoRA) and through each trained LoRA model before and after merging,
    all timed in turns on this process's device (a trained model may come from the run cache, on
    the CPU, or from training, on a GPU); and the largest logit difference that merging made."""
    dev = device()
    base = ch01.from_source(setup, source, freeze_encoder=True).eval().to(dev)
    inputs = {k: v.to(dev) for k, v in next(setup.imdb.test.batches(batch_size, shuffle=False))[0].items()}
    fns, diffs = {"base model": lambda: base(**inputs)}, {}
    for name, model in trained.items():
        unmerged = copy.deepcopy(model).eval().to(dev)
        merged = merge(copy.deepcopy(unmerged)).eval()
        fns[f"{name}, not merged"] = lambda m=unmerged: m(**inputs)
        fns[f"{name}, merged"] = lambda m=merged: m(**inputs)
        diffs[name] = (unmerged(**inputs) - merged(**inputs)).abs().max().item()
    timed = measure.time_calls(fns, repeats=repeats, warmup=2)
    return {
        "median_ms": {k: 1000 * t["median_s"] for k, t in timed.items()},
        "batch": list(inputs["input_ids"].shape),
        "repeats": repeats,
        "max_abs_diff": diffs,
    }


def within_budget(runs: dict[str, Run], share: float = PEFT_TARGET_SHARE) -> dict[str, Run]:
    """The runs that train at most ``share`` percent of their model's parameters, adapters included
    (the "trainable (%)" of ``tap.core.report.results_table``)."""
    return {k: r for k, r in runs.items() if 100 * r.record["trainable_params"] / r.record["total_params"] <= share}


def overfitting(record: dict) -> dict:
    """What a run's validation curve says about overfitting: the lowest validation loss and the
    training examples seen when it was reached, the validation and training loss at the end."""
    h = record["history"]
    low = min(h, key=lambda p: p["val_loss"])
    return {
        "min_val_loss": low["val_loss"],
        "min_val_examples": low.get("examples", low["step"]),
        "final_val_loss": h[-1]["val_loss"],
        "final_train_loss": h[-1]["train_loss"],
        "rose": h[-1]["val_loss"] > low["val_loss"],
    }


# --- LoRA beyond Transformers: the convolutional classifier of tap.models.cnn --------------------------

CNN_RANK = 4
CNN_METHODS = {
    "source": "AG News source task",
    "full": "full fine-tuning",
    "lora": f"LoRA r={CNN_RANK} on the filters",
    "lora-emb": f"LoRA r={CNN_RANK} on the filters and the embedding",
    "probe": "linear probe",
}


def cnn_runs(setup: TransferSetup, alpha: float = 2 * CNN_RANK, epochs: int = 2, lr: float = 1e-2) -> dict[str, Run]:
    """A ``TextCNN`` pre-trained on AG News (like chapter 01's encoder), then on IMDB: fully
    fine-tuned, LoRA on its convolution filters (and on its embedding table too), or linearly
    probed; LoRA runs also train the head. Cached runs, by ``CNN_METHODS`` key."""
    p, vocab = setup.profile, len(setup.vocab)
    key = {**setup.key(), "cnn_code": source_digest(cnn, *PEFT_MACHINERY, lora)}

    def cfg(n_epochs: int, lr: float) -> TrainConfig:
        return TrainConfig(epochs=n_epochs, lr=lr, batch_size=p.batch_size, evals_per_epoch=p.evals_per_epoch)

    source = run_classifier(
        "ag-news-cnn",
        key,
        lambda: cnn.TextCNN(vocab, setup.ag_news.num_classes),
        setup.ag_news,
        cfg(p.source_epochs, 2e-3),
    )

    def adapted(method: str) -> nn.Module:
        model = cnn.TextCNN(vocab, setup.ag_news.num_classes)
        model.load_state_dict(source.model.state_dict())
        model.replace_head(setup.imdb.num_classes)
        if method.startswith("lora"):
            apply_lora(model, ["filters", "embedding"] if method == "lora-emb" else ["filters"], CNN_RANK, alpha)
        elif method == "probe":
            freeze_base(model)
        return model

    key = {**key, "source": source.record["config"], "rank": CNN_RANK, "alpha": alpha}
    return {
        "source": source,
        **{
            method: run_classifier(f"imdb-cnn-{method}", key, lambda m=method: adapted(m), setup.imdb, cfg(epochs, lr))
            for method in ("full", "lora", "lora-emb", "probe")
        },
    }


@dataclass
class LoRAContext:
    """What chapter 05's page shows beyond the records: the trained runs, the tables, and the study's outcome."""

    study: Outcome  # ch05_word_vectors.study: the original study's experiment
    setup: TransferSetup
    source: Run  # chapter 01's encoder pre-trained on AG News, the base of every LoRA run
    by_target: dict[str, Run]  # LoRA at rank 8, by ``TARGETS``' keys
    sweep: dict[int, Run]  # LoRA on ``best_target``, by rank
    runs: dict[str, Run]  # every LoRA run, by its name in the records
    best_target: str  # the targets whose rank-8 run did best on validation
    best_name: str  # the LoRA run that did best on validation
    small_name: str | None  # the best of the runs within PEFT_TARGET_SHARE; None when none is
    cnn: dict[str, Run]  # cnn_runs, by ``CNN_METHODS``' keys
    tables: dict[str, pd.DataFrame]  # the page's results tables: "targets", "results", "cnn"


def lora_runs(setup: TransferSetup, source: Run, base: LoRASettings = LoRASettings()) -> dict[str, Run]:
    """The page's LoRA runs on chapter 01's AG-News encoder, by name: rank ``base.rank`` on each
    set of targets, then the other ranks on the targets whose validation accuracy was best."""
    runs = {f"LoRA r={base.rank}: {t}": train_lora(setup, source, replace(base, targets=t)) for t in TARGETS}
    best = max(TARGETS, key=lambda t: runs[f"LoRA r={base.rank}: {t}"].record["best_val_accuracy"])
    for r in RANKS:
        if r != base.rank:
            runs[f"LoRA r={r}: {best}"] = train_lora(setup, source, replace(base, targets=best, rank=r))
    return runs


def experiment(profile: Profile | None = None, setup: TransferSetup | None = None) -> Outcome:
    """Everything chapter 05 trains (from the run cache when it is there): LoRA on four sets of targets
    at rank 8, the rank sweep on the best of them by validation accuracy, merging's effect on latency, the
    CNN; chapter 01's runs as references. ``setup`` saves preparing the data twice when the page has it."""
    setup = setup or ch01.prepare(as_profile(profile))
    source = ch01.pretrain_on_ag_news(setup)
    finetuned, probe = ch01.full_fine_tune(setup, source), ch01.linear_probe(setup, source)
    base = LoRASettings()
    runs = lora_runs(setup, source, base)
    by_target = {t: runs[f"LoRA r={base.rank}: {t}"] for t in TARGETS}
    best_target = max(by_target, key=lambda t: by_target[t].record["best_val_accuracy"])
    sweep = {r: runs[f"LoRA r={r}: {best_target}"] for r in RANKS}
    best_name = max(runs, key=lambda k: runs[k].record["best_val_accuracy"])
    small = within_budget(runs)
    small_name = max(small, key=lambda k: small[k].record["best_val_accuracy"]) if small else None
    latency = merge_latency(
        setup,
        source,
        {name: by_target[t].model for name, t in MERGED.items()},
        repeats=5 if setup.profile.name == "smoke" else 15,
    )
    cnns = cnn_runs(setup)
    study = ch05_word_vectors.study(setup.profile)  # the original study's own model

    def point(record: dict) -> tuple[float, float]:
        return record["trainable_params"], 100 * record["test_accuracy"]

    figures = {
        "rank_sweep": plots.parameter_sweep(
            {f"LoRA on the {best_target}, r = 1 … 16": [(*point(run.record), f"r={r}") for r, run in sweep.items()]},
            references={
                "full fine-tuning": point(finetuned.record),
                "linear probe": point(probe.record),
                **{f"LoRA r=8 on {t}": point(run.record) for t, run in by_target.items() if t != best_target},
            },
            title="IMDB test accuracy against trainable parameters",
        ),
        "training_curves": plots.training_curves_by_examples(
            {
                "full fine-tuning": finetuned.record,
                "linear probe": probe.record,
                **{name: runs[name].record for name in dict.fromkeys([best_name, small_name]) if name},
            },
            title="IMDB: training curves of LoRA against chapter 01's strategies",
        ),
        "latency": plots.comparison_bars(
            latency["median_ms"],
            ylabel="median time per batch (ms)",
            title="Inference latency before and after merging",
        ),
    }
    lora_records = {FULL: finetuned.record, PROBE: probe.record, **{name: run.record for name, run in runs.items()}}
    tables = {
        "targets": results_table({f"LoRA r={base.rank}: {t}": run.record for t, run in by_target.items()}),
        "results": results_table(lora_records),
        "cnn": results_table({CNN_METHODS[k]: run.record for k, run in cnns.items() if k != "source"}),
    }
    records = {
        "AG News source task": source.record,
        **lora_records,
        **{f"CNN: {CNN_METHODS[k]}": run.record for k, run in cnns.items()},
        LATENCY: latency,
        **study.records,
    }
    return Outcome(
        records,
        {**figures, **study.figures},
        LoRAContext(
            study=study,
            setup=setup,
            source=source,
            by_target=by_target,
            sweep=sweep,
            runs=runs,
            best_target=best_target,
            best_name=best_name,
            small_name=small_name,
            cnn=cnns,
            tables=tables,
        ),
    )


def _acc(record: dict) -> float:
    return 100 * record["test_accuracy"]


def facts(outcome: Outcome) -> dict:
    """The numbers and verdicts the page's prose states, computed from this build's records."""
    c, ft, probe = outcome.context, outcome.records[FULL], outcome.records[PROBE]
    runs, by_target, sweep, best_name, small_name = c.runs, c.by_target, c.sweep, c.best_name, c.small_name
    shown = format_table(c.tables["results"])  # the prose quotes a share exactly as the table shows it
    best, chosen = runs[best_name].record, (runs[small_name].record if small_name else None)
    ft_acc = _acc(ft)
    if chosen:
        small_sentence = (
            f"Among the runs that train at most {PEFT_TARGET_SHARE:g}% of their model's parameters, "
            f"the best by validation, {small_name}, reaches {_acc(chosen):.1f}% with "
            f"{chosen['trainable_params']:,} trainable parameters ({shown.loc[small_name, 'trainable (%)']}%), "
            f"{gap(_acc(chosen), ft_acc, ahead='above', behind='below')} full fine-tuning."
        )
    else:
        smallest = min(runs, key=lambda k: c.tables["results"].loc[k, "trainable (%)"])
        small_sentence = (
            f"No LoRA run here trains as little as {PEFT_TARGET_SHARE:g}% of its model's parameters: "
            f"the smallest, {smallest}, trains {shown.loc[smallest, 'trainable (%)']}%."
        )
    seen = {key: r["history"][-1]["examples"] for key, r in (("lora", best), ("ft", ft))}
    rank_accs = {r: _acc(run.record) for r, run in sweep.items()}
    values = {
        "ft_acc": ft_acc,
        "ft_params": ft["trainable_params"],
        "probe_acc": _acc(probe),
        "best_target": c.best_target,
        "best_name": best_name,
        "best_acc": _acc(best),
        "best_params": best["trainable_params"],
        "best_share": shown.loc[best_name, "trainable (%)"],
        "best_compare": gap(_acc(best), ft_acc, ahead="above", behind="below"),
        "target_points": PEFT_TARGET_POINTS,
        "target_share": PEFT_TARGET_SHARE,
        "target_points_unit": "point" if PEFT_TARGET_POINTS == 1 else "points",
        "small_sentence": small_sentence,
        "target_met": "meets" if chosen and shown_difference(ft_acc, _acc(chosen)) <= PEFT_TARGET_POINTS else "misses",
        "embedding_share": 100 * c.source.model.embedding.weight.numel() / ft["total_params"],
        "test_size": best["test_size"],
        "lora_train": best["train_examples"],
        "ft_train": ft["train_examples"],
        "lora_seen": seen["lora"],
        "ft_seen": seen["ft"],
        "seen_share": 100 * seen["lora"] / seen["ft"],
        "lora_time": sum(run.record["wall_time_s"] for run in runs.values()) / len(runs),
        "ft_time": ft["wall_time_s"],
        "rank_low": min(rank_accs.values()),
        "rank_high": max(rank_accs.values()),
        **{f"rank{r}_acc": rank_accs[r] for r in (1, 4, 16)},
        "rank_growth": sweep[16].record["trainable_params"] / sweep[1].record["trainable_params"],
        "linear_best": max(
            _acc(by_target[t].record) for t in ("attention", "feed-forward", "attention + feed-forward")
        ),
    }
    for key, record in (("lora", best), ("ft", ft)):
        n = record["train_config"]["epochs"]
        values |= {f"{key}_epochs": n, f"{key}_epochs_unit": "epoch" if n == 1 else "epochs"}
    for t, run in by_target.items():
        slug = t.replace(" + ", "_").replace("-", "_")
        values |= {f"{slug}_acc": _acc(run.record), f"{slug}_params": run.record["trainable_params"]}
    latency = outcome.records[LATENCY]
    ms = latency["median_ms"]  # per batch; the overheads are against the base model
    values |= {"lat_base": ms["base model"], "merge_diff": max(latency["max_abs_diff"].values())}
    for key, name in zip(("linear", "emb"), MERGED):
        values |= {
            f"lat_{key}_unmerged": ms[f"{name}, not merged"],
            f"lat_{key}_merged": ms[f"{name}, merged"],
            f"lat_{key}_overhead": 100 * (ms[f"{name}, not merged"] / ms["base model"] - 1),
            # rounded as shown, plus 0.0, so that a tiny negative reads "+0.0", not "-0.0"
            f"lat_{key}_merged_overhead": round(100 * (ms[f"{name}, merged"] / ms["base model"] - 1), 1) + 0.0,
        }
    return {**values, **_cnn_facts(c.cnn, c.tables["cnn"]), **ch05_word_vectors.facts(c.study)}


def _cnn_facts(runs: dict[str, Run], table: pd.DataFrame) -> dict:
    """The CNN's accuracies and sizes, and two verdicts worded from the measured order: where LoRA
    goes (the filters, or the embedding table too), and LoRA against full fine-tuning, with the
    reason the curves give."""
    r = {k: run.record for k, run in runs.items()}
    ft, filters, emb = r["full"], r["lora"], r["lora-emb"]
    emb_share = format_table(table).loc[CNN_METHODS["lora-emb"], "trainable (%)"]  # as shown
    emb_gain = gap(_acc(emb), _acc(filters))  # the verdicts follow the accuracies as the page shows them
    placement = (
        "and here too, adapting the embedding table as well as the filters did better than the filters "
        f"alone ({emb_gain} them)."
        if emb_gain.endswith("ahead of")
        else "though here adapting the embedding table as well as the filters did not beat the filters alone "
        f"({emb_gain} them)."
    )
    lead, curve, rank = gap(_acc(emb), _acc(ft)), overfitting(ft), CNN_RANK
    table_share = 100 * runs["full"].model.embedding.weight.numel() / ft["total_params"]
    n_epochs, lr = ft["train_config"]["epochs"], ft["train_config"]["lr"]
    params = (
        f"{ft['trainable_params']:,} parameters, {table_share:.0f}% of them the embedding table (a vector per word)"
    )
    moves = f"every word vector may move only within the same {rank} directions"
    training = f"training {emb_share}% of its parameters."
    if lead.endswith("ahead of"):
        remark = f"LoRA on the filters and the embedding is {lead} full fine-tuning on this network, while {training}"
        rise = curve["final_val_loss"] - curve["min_val_loss"]
        if rise > 0.02:  # full fine-tuning's validation loss turned up: it fitted the training reviews too closely
            remark += (
                f" Full fine-tuning overfits: its validation loss was lowest, {curve['min_val_loss']:.2f}, after "
                f"{curve['min_val_examples']:,} training examples and ended at {curve['final_val_loss']:.2f}, "
                f"while its training loss fell to {curve['final_train_loss']:.2f} (keeping the checkpoint with "
                "the best validation accuracy limits the damage but does not undo it). It fits all "
                f"{params}, to {ft['train_examples']:,} reviews; LoRA's update has rank {rank}, so {moves}, a "
                "restriction that acts as a regulariser when examples are few."
            )
        else:
            climbing = ft["best_step"] >= 0.9 * ft["steps"]
            remark += (
                " Overfitting is not the reason: full fine-tuning's validation loss "
                + (
                    "was at its lowest at the end of training"
                    if rise <= 0
                    else f"ended within {rise:.2f} of its lowest"
                )
                + f" ({curve['final_val_loss']:.2f})"
                + (", and its validation accuracy was still climbing" if climbing else "")
                + f". All four runs share one budget, {n_epochs} {'epoch' if n_epochs == 1 else 'epochs'}, and one "
                f"learning rate, {lr:g}. In that budget full fine-tuning must move all {params}, on "
                f"{ft['train_examples']:,} reviews, while LoRA's update has rank {rank}: {moves}, a far smaller "
                "problem for the same number of steps."
            )
        remark += (
            " This is one run per method with one seed; trained longer, or at a learning rate chosen for it, "
            "full fine-tuning may catch up."
        )
    elif lead == "level with":
        remark = (
            f"LoRA on the filters and the embedding is level with full fine-tuning on this network, while {training}"
        )
    else:
        remark = f"Full fine-tuning stays ahead: LoRA on the filters and the embedding is {lead} it, while {training}"
    return {
        "cnn_source_acc": _acc(r["source"]),
        "cnn_lora_acc": _acc(filters),
        "cnn_lora_emb_acc": _acc(emb),
        "cnn_ft_acc": _acc(ft),
        "cnn_probe_acc": _acc(r["probe"]),
        "cnn_lora_params": filters["trainable_params"],
        "cnn_lora_emb_params": emb["trainable_params"],
        "cnn_total_params": ft["trainable_params"],
        "cnn_placement": placement,
        "cnn_remark": remark,
    }
