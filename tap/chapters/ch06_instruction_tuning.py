"""Chapter 06's experiment. Part 1: a pre-trained BERT fully fine-tuned on AG News's four topics
with the book's training loop (``tap.training.loop.train``), against the majority class and
TF-IDF + logistic regression. Part 2: a causal LM instruction-tuned with ``trl``'s
``SFTTrainer`` on a FLAN-style mixture (``instruct``), fully and with LoRA, against the untuned
model and each task's majority answer, on held-out phrasings and texts. The ``full`` profile
adds the original study's settings: Yelp reviews in part 1, ``facebook/opt-350m`` tuned with
openassistant-guanaco conversations (Dettmers et al., 2023) in part 2."""

from __future__ import annotations

import math
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from datasets import Dataset, concatenate_datasets, load_dataset

from ..core.cache import cached_run, source_digest
from ..core.hub import revision
from ..core.measure import hardware, timer, track_peak_memory
from ..core.profiles import Profile, as_profile
from ..core.report import MAX_DECIMALS, format_table, gap, results_table
from ..data import datasets, hf_data, text
from ..data.datasets import Splits
from ..methods.parameter_counts import count_parameters
from ..models import pretrained
from ..pages import plots
from ..pages.provenance import loaded_name
from ..training import instruct, lm, loop, multiclass
from ..training.baselines import cached_tfidf_logreg
from ..training.instruct import ANSWER, OPTIONS, TEMPLATES, InstructionData, InstructSize
from ..training.loop import TrainConfig
from .harness import Outcome

# --- part 1: multi-class fine-tuning -------------------------------------------------------


@dataclass
class MultiClassRun:
    """One finished (or cached) fine-tuning run and the rows it was trained and tested on."""

    task: str
    splits: Splits
    record: dict
    baseline: dict


def fine_tune_bert(task: str, profile: Profile, seed: int = 0) -> MultiClassRun:
    """Fine-tune the profile's BERT on ``task`` with the book's loop, test it once, or
    reuse the cached run with the same data, settings and code."""
    size = multiclass.size_of(profile)
    splits = multiclass.task_splits(task, profile, seed)
    num_classes = len(splits.label_names)
    cfg = TrainConfig(
        epochs=size.epochs,
        lr=size.lr,
        batch_size=size.batch_size,
        evals_per_epoch=size.evals_per_epoch,
        seed=seed,
        no_decay=multiclass.BERT_NO_DECAY,
    )
    where = pretrained.resolve(size.model)  # offline: records the stand-in in pretrained.STAND_INS

    def compute() -> tuple[dict, None]:
        torch.manual_seed(seed)  # the new head's initial weights, whatever ran before in this process
        model, tokenizer = pretrained.load_classifier(size.model, num_classes)
        enc = {
            name: multiclass.encode(tokenizer, ds, size.max_len)
            for name, ds in (("train", splits.train), ("val", splits.val), ("test", splits.test))
        }
        record, model = loop.train(
            model,
            enc["train"],
            enc["val"],
            cfg,
            desc=f"BERT on {task}",
            validate=multiclass.validation(enc["val"], num_classes),
        )
        return {**record, **multiclass.score_test_split(model, enc["test"], num_classes), "model": where}, None

    key = {
        "task": task,
        "size": size.to_dict(),
        "model": where.rsplit("/", 1)[-1],
        "train": cfg.to_dict(),
        "sizes": splits.sizes(),
        "code": source_digest(datasets, text, hf_data, loop, multiclass, sys.modules[__name__]),
    }
    record, _ = cached_run(f"ch06-{task}", key, compute)
    baseline = multiclass.majority_baseline(list(splits.train["label"]), list(splits.test["label"]), num_classes)
    return MultiClassRun(task, splits, record, baseline)


# --- part 2: instruction tuning ------------------------------------------------------------

BASE_ID = "facebook/opt-350m"  # the original study's base model (Zhang et al., 2022)
GUANACO_ID = "timdettmers/openassistant-guanaco"
HUMAN, ASSISTANT = "### Human:", "### Assistant:"  # openassistant-guanaco's turn markers

INSTRUCT_SIZES: dict[str, InstructSize] = {
    "smoke": InstructSize(
        BASE_ID,
        train_per_task=16,
        eval_per_task=4,
        text_tokens=24,
        max_length=64,
        epochs=1,
        batch_size=16,
        lr=2e-3,
        lora_lr=1e-2,
        lora_r=8,
        max_new_tokens=6,
        lora_also_train=("ln_f",),
    ),
    # Chapter 03's small GPT-2 stands in offline. Its final LayerNorm is trained beside LoRA: LoRA cannot
    # change the scale of the output logits, and this barely pre-trained model's logits are too flat.
    "book": InstructSize(
        BASE_ID,
        train_per_task=800,
        eval_per_task=120,
        text_tokens=32,
        max_length=128,
        epochs=2,
        batch_size=16,
        lr=2e-3,
        lora_lr=1e-2,
        lora_r=8,
        max_new_tokens=6,
        lora_also_train=("ln_f",),
    ),
    "full": InstructSize(
        BASE_ID,
        train_per_task=5_000,
        eval_per_task=500,
        text_tokens=256,
        max_length=512,
        epochs=2,
        batch_size=16,
        lr=2e-5,
        lora_lr=2e-4,
        lora_r=16,
        max_new_tokens=8,
        guanaco=10_000,
    ),
}


def guanaco_pairs(n: int, seed: int = 0) -> Dataset:
    """The first turn of ``n`` openassistant-guanaco conversations as prompt/completion pairs (Hub only)."""
    ds = load_dataset(GUANACO_ID, split="train", revision=revision(GUANACO_ID)).shuffle(seed=seed).select(range(n))
    rows = []
    for conversation in ds["text"]:
        human, _, rest = conversation.partition(ASSISTANT)
        answer = rest.split(HUMAN)[0].strip()
        if human.strip() and answer:
            rows.append(
                {
                    "prompt": human.strip() + "\n" + ASSISTANT,
                    "completion": " " + answer,
                    "task": "guanaco",
                    "template": "guanaco",
                    "answer": answer,
                    "source": "guanaco",
                    "text": human.strip(),
                }
            )
    return Dataset.from_list(rows)


@dataclass
class InstructSetup:
    """The base model (where to load it from), its tokenizer, and the instruction data."""

    profile: Profile
    size: InstructSize
    where: str
    tokenizer: object
    data: InstructionData

    def key(self) -> dict:
        """What the runs depend on, for the cache key."""
        return {
            "size": self.size.to_dict(),
            "base": Path(self.where).name,
            "ag_news": self.profile.ag_train,
            "code": source_digest(datasets, instruct, sys.modules[__name__]),
        }


def base_location(profile: Profile) -> str:
    """``facebook/opt-350m`` from the Hub; offline, chapter 03's causal LM pre-trained on IMDB."""
    return pretrained.resolve(
        INSTRUCT_SIZES[profile.name].base,
        stand_in=(
            "the small GPT-2-style causal LM pre-trained on IMDB reviews in chapter 03",
            lambda: lm.causal_lm(profile),
        ),
    )


def prepare(profile: Profile, seed: int = 0) -> InstructSetup:
    """Locate the base model and build the instruction data with its tokenizer."""
    size = INSTRUCT_SIZES[profile.name]
    where = base_location(profile)
    tokenizer = instruct.load_tokenizer(where)
    instructions = instruct.build_instructions(size, tokenizer, profile, seed)
    if size.guanaco:  # the original study's data, with the FLAN-style mixture kept for scoring
        guanaco = guanaco_pairs(size.guanaco, seed)
        instructions.train = concatenate_datasets([instructions.train, guanaco]).shuffle(seed=seed)
    return InstructSetup(profile, size, where, tokenizer, instructions)


def tune(setup: InstructSetup, lora: bool, seed: int = 0) -> dict:
    """Instruction-tune the base model (fully, or with LoRA) and score it on the held-out pairs."""
    model, tokenizer = instruct.load_base(setup.where)
    torch.manual_seed(seed)  # LoRA's initial A matrices, whatever ran before in this process
    with tempfile.TemporaryDirectory() as out:
        trainer = instruct.sft_trainer(
            model, tokenizer, setup.data.train, setup.size, lora, out, eval_dataset=setup.data.eval, seed=seed
        )
        before = trainer.evaluate()["eval_loss"]  # held-out completion loss of the untuned model
        with track_peak_memory() as memory, timer() as clock:
            trainer.train()
    log, epochs, n_train = trainer.state.log_history, setup.size.epochs, len(setup.data.train)
    steps_per_epoch = trainer.state.max_steps / epochs
    history = [
        {"step": h["step"], "epoch": h["step"] / steps_per_epoch, "train_loss": h["loss"]} for h in log if "loss" in h
    ]
    held_out = [{"step": 0, "epoch": 0.0, "val_loss": before}] + [
        {"step": h["step"], "epoch": h["step"] / steps_per_epoch, "val_loss": h["eval_loss"]}
        for h in log
        if "eval_loss" in h and h["step"] > 0
    ]
    scores = instruct.score(trainer.model, tokenizer, setup.data, setup.size)
    return {
        "history": history,
        "held_out_loss": held_out,
        "steps": trainer.state.max_steps,
        "train_examples": n_train,
        "wall_time_s": clock["seconds"],
        "examples_per_s": epochs * n_train / clock["seconds"],
        **memory,
        **count_parameters(trainer.model),
        "hardware": hardware(),
        "seed": seed,
        **scores,
    }


def run_untuned(setup: InstructSetup) -> dict:
    """The base model scored on the held-out pairs before any tuning, or the cached scores."""

    def compute() -> tuple[dict, None]:
        model, tokenizer = instruct.load_base(setup.where)
        return {
            "wall_time_s": 0.0,
            **count_parameters(model),
            "trainable_params": 0,
            "hardware": hardware(),
            **instruct.score(model, tokenizer, setup.data, setup.size),
        }, None

    return cached_run("ch06-untuned", setup.key(), compute)[0]


def run_tuning(setup: InstructSetup, lora: bool) -> dict:
    """Full instruction tuning or LoRA, or the cached run with the same data, settings and code."""
    return cached_run(
        "ch06-sft-lora" if lora else "ch06-sft-full", {**setup.key(), "lora": lora}, lambda: (tune(setup, lora), None)
    )[0]


def label_view(setup: InstructSetup, row: int = 0) -> pd.DataFrame:
    """One training pair as ``SFTTrainer`` tokenises it: each token, and whether the loss is
    computed on it (label = the token) or masked (label = -100)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(setup.where)
    with tempfile.TemporaryDirectory() as out:
        trainer = instruct.sft_trainer(model, setup.tokenizer, setup.data.train.select([row]), setup.size, False, out)
    example = trainer.train_dataset[0]
    return pd.DataFrame(
        {
            "token": [setup.tokenizer.decode([i]) for i in example["input_ids"]],
            "id": example["input_ids"],
            "label": example["labels"],
            "in the loss": [lab != -100 for lab in example["labels"]],
        }
    )


def showcase(setup: InstructSetup, records: dict[str, dict], per_task: int = 1, width: int = 90) -> pd.DataFrame:
    """The same held-out prompts answered by each model: the first ``per_task`` of every task."""
    ev = setup.data.eval
    rows = []
    for task in OPTIONS:
        for i in [i for i, t in enumerate(ev["task"]) if t == task][:per_task]:
            instruction = ev["prompt"][i][: -len(ANSWER) - 1].replace("\n", " ⏎ ")
            row = {
                "task": task,
                "held-out prompt": instruction
                if len(instruction) <= width
                else instruction[: width // 2] + " … " + instruction[-width // 2 :],
                "expected": ev["answer"][i],
            }
            row.update({name: repr(r["responses"][i].strip()[:40]) for name, r in records.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def template_table() -> pd.DataFrame:
    """Every template, its task, and whether it is held out for evaluation."""
    return pd.DataFrame(
        [
            {
                "task": t.task,
                "template": t.name,
                "phrasing": t.text.replace("\n", " ⏎ "),
                "held out": "yes" if t.held_out else "no",
            }
            for t in TEMPLATES
        ]
    ).set_index("template")


def _mean(scores: dict[str, float]) -> float:
    return float(np.mean(list(scores.values())))


def comparison_table(records: dict[str, dict], majority: dict[str, float]) -> pd.DataFrame:
    """Exact match per task on the held-out templates (greedy decoding), their mean with constrained
    decoding, the mean on the same texts with the training templates, and what each run cost."""
    rows = [
        {
            "model": "majority answer",
            **{f"{t} (%)": round(100 * a, 1) for t, a in majority.items()},
            "mean (%)": round(100 * _mean(majority), 1),
        }
    ]
    for name, r in records.items():
        em = r["exact_match"]
        rows.append(
            {
                "model": name,
                **{f"{t} (%)": round(100 * em[t], 1) for t in OPTIONS},
                "mean (%)": round(100 * _mean(em), 1),
                "constrained mean (%)": round(100 * _mean(r["constrained"]), 1),
                "training templates, mean (%)": round(100 * _mean(r["exact_match_seen"]), 1),
                "valid answers (%)": round(100 * _mean(r["valid"]), 1),
                "trainable params": r["trainable_params"],
                "trainable (%)": round(100 * r["trainable_params"] / r["total_params"], 2),
                "train time (s)": round(r["wall_time_s"], 1),
                "memory used (MB)": round(r["memory_used_mb"]) if r.get("memory_used_mb") is not None else None,
            }
        )
    return pd.DataFrame(rows).set_index("model")


# --- the chapter's experiment --------------------------------------------------------------

TASK_TEXTS = {"ag_news": ("AG News", "articles"), "yelp_review_full": ("Yelp", "reviews")}  # names on the page
TFIDF = "TF-IDF + logistic regression (ag_news)"
INSTRUCTIONS = "instructions: "  # the prefix of part 2's records
PER_PROMPT = ("responses", "responses_seen", "constrained_answers")  # kept in ``context``, not in the records


@dataclass
class InstructionTuningContext:
    """What chapter 06's page shows beyond the records: the runs with their test answers, and the instruction data."""

    bert: dict[str, MultiClassRun]  # part 1's fine-tuned BERT, by task (its record keeps ``test_probs``)
    setup: InstructSetup  # part 2's base model, tokenizer and instruction data
    sft: dict[str, dict]  # part 2's records with their answers: "untuned", "full tuning", "LoRA"


def experiment(profile: Profile | None = None) -> Outcome:
    """Everything chapter 06 trains (from the run cache when it is there), the baselines, and the
    chapter's figures. The records leave out each test example's probabilities and answers; the
    runs with them, and the instruction data, are in ``context``."""
    p = as_profile(profile)
    bert = {task: fine_tune_bert(task, p) for task in multiclass.size_of(p).tasks}
    records = {}
    for task, run in bert.items():
        records[f"BERT, fully fine-tuned ({task})"] = {k: v for k, v in run.record.items() if k != "test_probs"}
        records[f"majority class ({task})"] = run.baseline
    ag = bert["ag_news"].splits
    records[TFIDF] = cached_tfidf_logreg(ag.train["text"], ag.train["label"], ag.test["text"], ag.test["label"])
    setup = prepare(p)
    sft = {
        "untuned": run_untuned(setup),
        "full tuning": run_tuning(setup, lora=False),
        "LoRA": run_tuning(setup, lora=True),
    }
    for name, r in sft.items():
        records[INSTRUCTIONS + name] = {k: v for k, v in r.items() if k not in PER_PROMPT}

    figures = {
        "training_curves": plots.training_curves(
            {
                f"{loaded_name(multiclass.size_of(p).model)} on {TASK_TEXTS[task][0]}": r.record
                for task, r in bert.items()
            },
            title="Fine-tuning curves (validation several times per epoch)",
        )
    }
    for task, r in bert.items():
        name, texts = TASK_TEXTS[task]
        figures[f"{task}_confusion"] = plots.confusion_matrix(
            r.record["confusion"],
            r.splits.label_names,
            title=f"{name}: confusion matrix on {r.record['test_size']:,} test {texts}",
        )
    figures["instruction_loss"] = plots.loss_curves(
        {name: sft[name] for name in ("full tuning", "LoRA")},
        title="Instruction tuning: completion loss (held out: unseen templates and texts)",
    )
    majority = setup.data.majority_accuracy()
    figures["instruction_exact_match"] = plots.grouped_bars(
        {task: {name: 100 * r["exact_match"][task] for name, r in sft.items()} for task in OPTIONS},
        ylabel="exact match on held-out prompts (%)",
        reference=("majority answer", {t: 100 * a for t, a in majority.items()}),
        title=f"Held-out templates and texts ({setup.size.eval_per_task} per task), greedy decoding",
    )
    return Outcome(records, figures, InstructionTuningContext(bert, setup, sft))


def classification_table(outcome: Outcome) -> pd.DataFrame:
    """Part 1's results: test accuracy and macro-F1 of each classifier and baseline, and its cost."""
    records = {name: r for name, r in outcome.records.items() if not name.startswith(INSTRUCTIONS)}
    table = results_table(records)
    table.insert(1, "test macro-F1 (%)", [_macro_f1(outcome, name, r) for name, r in records.items()])
    return table


SCORE_COLUMNS = ["test accuracy (%)", "test macro-F1 (%)", "test examples"]
COST_COLUMNS = ["trainable params", "train time (s)", "examples/s", "memory used (MB)"]


def classification_tables(outcome: Outcome) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``classification_table`` as the page shows it, narrow enough for the page: ``(scores,
    costs)``, unrounded, each row named by what ran (``provenance.loaded_name``: the stand-in's
    name where one replaced BERT)."""
    table = classification_table(outcome)
    bert = loaded_name(multiclass.size_of(outcome.context.setup.profile).model)
    table.index = [
        name.replace("BERT, fully fine-tuned", f"{bert}, fully fine-tuned").replace(
            "logistic regression", "log. regression"
        )
        for name in table.index
    ]
    table.index.name = "method"
    trained = [name for name in table.index if not name.startswith("majority class")]  # the baseline trains nothing
    return table[SCORE_COLUMNS], table.loc[trained, COST_COLUMNS]


def _macro_f1(outcome: Outcome, name: str, record: dict) -> float:
    """A record's test macro-F1 in %: the recorded one, or, for TF-IDF (which records its
    predictions, not the F1), computed from those predictions as ``multiclass.macro_f1`` does."""
    if "test_macro_f1" in record:
        return 100 * record["test_macro_f1"]
    task = name.rpartition("(")[2].rstrip(")")
    splits = outcome.context.bert[task].splits
    predicted, gold = torch.tensor(record["test_predicted"]), torch.tensor(list(splits.test["label"]))
    return 100 * multiclass.macro_f1(predicted, gold, len(splits.label_names))


def facts(outcome: Outcome) -> dict:
    """The numbers and verdicts the page's prose states, computed from this build's records."""
    ag, setup = outcome.context.bert["ag_news"], outcome.context.setup
    size, rec, tfidf = multiclass.size_of(setup.profile), ag.record, outcome.records[TFIDF]
    vs_tfidf = gap(100 * rec["test_accuracy"], 100 * tfidf["test_accuracy"], ahead="above", behind="below")
    n_train = len(ag.splits.train)
    cm = np.array(rec["confusion"])
    off = cm - np.diag(np.diag(cm))  # the most frequent confusion between two different classes
    i, j = np.unravel_index(off.argmax(), off.shape)
    worst = multiclass.misclassified(rec["test_probs"], ag.splits.test, ag.splits.label_names, k=5)
    (mis_true, mis_pred), mis_n = Counter(zip(worst["true"], worst["predicted"])).most_common(1)[0]
    majority_class = ag.splits.label_names[ag.baseline["majority_class"]]
    others = len(ag.splits.label_names) - 1
    return {
        "bert_name": loaded_name(size.model),  # the model that ran, by its own name
        "bert": _bert_note(size),
        "epochs": size.epochs,
        "epochs_unit": "epoch" if size.epochs == 1 else "epochs",
        "max_len": size.max_len,
        "train_n": n_train,
        "val_n": len(ag.splits.val),
        "test_n": len(ag.splits.test),
        "acc": 100 * rec["test_accuracy"],
        "f1": 100 * rec["test_macro_f1"],
        "majority_acc": 100 * ag.baseline["test_accuracy"],
        "majority_f1": 100 * ag.baseline["test_macro_f1"],
        # always predicting one class: every article of it found (recall 1), every prediction that class
        # (precision = the class's share of the test set, the baseline's accuracy), no other class ever named
        "majority_why": (
            f"classes tie for the most training rows, so it takes the first of them, {majority_class}; "
            if ag.baseline.get("majority_tied")
            else ""
        )
        + f"it labels every {majority_class} article correctly, a recall of 1, but calls every "
        f"other article {majority_class} too, a precision of {ag.baseline['test_accuracy']:.2f}, and never names "
        f"the other {NUMBER_WORDS.get(others, str(others))}",
        "tfidf_acc": 100 * tfidf["test_accuracy"],
        "tfidf_compare": vs_tfidf,
        "tfidf_why": "BERT's advantage is that it already knows these words' meanings from pre-training, so each "
        f"of the {n_train:,} labelled articles goes further."
        if vs_tfidf.endswith("above")
        else f"With {n_train:,} labelled articles, the bag of words makes "
        f"{'as much of them as' if vs_tfidf == 'level with' else 'more of them than'} BERT does.",
        "bert_time": rec["wall_time_s"],
        "bert_eps": rec["examples_per_s"],
        "bert_params": rec["trainable_params"],
        "confused_true": ag.splits.label_names[i],
        "confused_pred": ag.splits.label_names[j],
        "confused_n": int(off[i, j]),
        "mis_true": mis_true,
        "mis_pred": mis_pred,
        "mis_pair_n": mis_n,
        **_instruction_facts(setup, outcome.context.sft),
    }


NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def _bert_note(size: multiclass.MultiClassSize) -> str:
    """Which BERT this build fine-tuned and, where a stand-in ran, what the ``full`` profile
    fine-tunes instead: one statement."""
    study = "as the study this book grows from did"
    if size.model in pretrained.STAND_INS:
        full = multiclass.SIZES["full"]
        tasks = _task_list([_task_name(t) for t in full.tasks])
        return (
            f"The BERT fine-tuned in this build is {loaded_name(size.model)}, a 6-layer BERT distilled from a larger "
            "one, the same model that stands in for bert-base-uncased in chapters 04, 05, 07 and 08. At CPU scale "
            f"it stands in for {full.model}, which the full profile fine-tunes on {tasks}, {study}."
        )
    return f"The BERT fine-tuned in this build is {size.model}, on {_task_list([_task_name(t) for t in size.tasks])}, {study}."


def _task_name(task: str) -> str:
    """A part-1 task as the prose names it: AG News, and Yelp's five-class review task by its id too."""
    return "AG News" if task == "ag_news" else f"the five-class {TASK_TEXTS[task][0]} review task {task}"


def _task_list(tasks: list[str]) -> str:
    return tasks[0] if len(tasks) == 1 else ", ".join(tasks[:-1]) + " and " + tasks[-1]


def percent(value: float, decimals: int = 1) -> str:
    """A share in percent as the prose shows it: ``decimals`` decimals, as the tables show it, and
    more where fewer would show a share that is not exactly 0 or 100 as "0.0" or "100.0" (99.97 is
    "99.97", never "100.0")."""
    while value not in (0, 100) and decimals < MAX_DECIMALS and float(f"{value:.{decimals}f}") in (0.0, 100.0):
        decimals += 1
    return f"{value:.{decimals}f}"


def answers_by_task(answers: list[str], tasks: list[str]) -> dict[str, Counter]:
    """How often each answer was given to each task's prompts, compared as exact match compares
    them (``instruct.normalise``)."""
    return {task: Counter(instruct.normalise(a) for a, t in zip(answers, tasks) if t == task) for task in OPTIONS}


def _quoted(answer: str) -> str:
    return f"'{answer}'" if answer else "nothing"


def one_answer_words(records: dict[str, dict], tasks: list[str], train_answers: list[str]) -> str:
    """A sentence for the models that gave one and the same answer to every held-out prompt of
    every task (greedy decoding): the answer, which tasks it is an option of, and, for a tuned
    model, how common it was among the training completions. Empty when no model did."""
    frequency = Counter(train_answers)
    most = max(frequency.values(), default=0)
    by_answer: dict[str, list[str]] = {}
    for name, r in records.items():
        given = {a for counts in answers_by_task(r["responses"], tasks).values() for a in counts}
        if len(given) == 1:
            by_answer.setdefault(given.pop(), []).append(name)
    sentences = []
    for answer, names in by_answer.items():
        who = _models_list(names)
        sentence = (
            f"{who[0].upper() + who[1:]} answer{'s' * (len(names) == 1)} {_quoted(answer)} to every held-out prompt, "
            f"{_task_list(list(OPTIONS))} alike"
        )
        fits = [t for t in OPTIONS if answer in OPTIONS[t]]
        if fits and len(fits) < len(OPTIONS):
            sentence += (
                f", though {_quoted(answer)} is an option of the {_task_list(fits)} task{'s' * (len(fits) > 1)} only"
            )
        tuned = [n for n in names if n != "untuned"]
        if tuned and frequency.get(answer) == most:
            tied = sum(n == most for n in frequency.values())
            common = (
                "the answer most common in "
                if tied == 1
                else f"one of the {NUMBER_WORDS.get(tied, str(tied))} answers most common in "
            ) + ("its training completions" if len(tuned) == 1 else "their training completions")
            learned = (
                f"{_models_list(tuned)} learned"
                if len(tuned) < len(names)
                else ("it" if len(names) == 1 else "they") + " learned"
            )
            sentence += f": {learned} to answer with {common}, not to tell the tasks apart or to read the texts"
        sentences.append(sentence + ".")
    return " ".join(sentences)


def _valid_note(record: dict, tasks: list[str]) -> str:
    """For a model whose greedy answers were all one and the same: which answer, and which tasks
    it is an option of (a clause to follow its share of valid answers); else empty."""
    given = {a for counts in answers_by_task(record["responses"], tasks).values() for a in counts}
    if len(given) != 1:
        return ""
    answer = given.pop()
    fits = [t for t in OPTIONS if answer in OPTIONS[t]]
    where = f"an option of the {_task_list(fits)} task{'s' * (len(fits) > 1)} only" if fits else "an option of no task"
    return f" (every answer was {_quoted(answer)}, {where})" if len(fits) < len(OPTIONS) else ""


def _models_list(names: list[str]) -> str:
    return _task_list(["the untuned model" if n == "untuned" else n for n in names])


def one_option_words(
    records: dict[str, dict],
    tasks: list[str],
    gold: list[str],
    majority: dict[str, str],
    majority_scores: dict[str, float],
) -> str:
    """Which models pick one and the same option for every prompt of each task under constrained
    decoding: each such model scores, on each task, the share of the questions that option answers,
    which is what it learned about that option's frequency, not about the texts. Said to equal the
    majority answer's score where it does, and why. Empty when no model picks that way."""
    constant = {}
    for name, r in records.items():
        picked = answers_by_task(r.get("constrained_answers", []), tasks)
        if all(len(picked[t]) == 1 for t in OPTIONS):
            constant[name] = tuple(next(iter(picked[t])) for t in OPTIONS)
    if not constant:
        return ""
    names, plural = list(constant), len(constant) > 1
    sentence = (
        f"Under constrained decoding {_models_list(names)} pick{'' if plural else 's'} one and the same option "
        "for every prompt of a task"
    )
    if len(set(constant.values())) == 1:
        sentence += " (" + _task_list([f"{_quoted(a)} for {t}" for t, a in zip(OPTIONS, constant[names[0]])]) + ")"
    their, they = ("their", "they") if plural else ("its", "it")
    if all(records[n]["constrained"][t] == majority_scores[t] for n in names for t in OPTIONS):
        by_task = answers_by_task(gold, tasks)
        if all(len({by_task[t][o] for o in OPTIONS[t]}) == 1 for t in OPTIONS):
            why = "every option is the answer to the same share of a task's questions"
        elif all(picks == tuple(majority[t] for t in OPTIONS) for picks in constant.values()):
            why = f"{they} pick{'' if plural else 's'} each task's majority answer"
        else:
            why = "on these questions that option is right as often as the majority answer"
        return (
            f"{sentence}, so {their} constrained mean is exactly the majority answer's "
            f"{percent(100 * _mean(majority_scores))}% ({why}): no sign that {they} read the texts."
        )
    shown = ", ".join(
        f"{'the untuned model' if n == 'untuned' else n} {percent(100 * _mean(records[n]['constrained']))}%"
        for n in names
    )
    return (
        f"{sentence}, so {their} constrained mean{'s' * plural} ({shown}) count{'' if plural else 's'} how often "
        "that option is the answer, not what the model reads in the texts."
    )


def _instruction_facts(setup: InstructSetup, sft: dict[str, dict]) -> dict:
    """Part 2's facts: each model's scores, the majority answer's, and what they say."""
    untuned, full, lora = sft["untuned"], sft["full tuning"], sft["LoRA"]
    majority = setup.data.majority_accuracy()
    eval_tasks = list(setup.data.eval["task"])
    n_eval = {task: eval_tasks.count(task) for task in OPTIONS}
    n_min = min(n_eval.values())

    def beyond_noise(score: float, task: str) -> bool:
        """A score above the majority answer's by more than two standard errors of a score at that level,
        sqrt(p(1 - p) / n) on the task's n held-out questions: more than luck in answering."""
        p = majority[task]
        return score - p > 2 * (p * (1 - p) / n_eval[task]) ** 0.5

    def at_least(share: float) -> str:  # a lower bound, so rounded down: 499 of 500 is "at least 99%"
        return "all" if share == 1 else f"at least {math.floor(100 * share)}%"

    full_answers = answers_by_task(full["responses"], eval_tasks)
    top_share = {task: max(full_answers[task].values()) / n_eval[task] for task in OPTIONS}
    learned = [t for t in OPTIONS if beyond_noise(full["exact_match"][t], t)]
    missed = [t for t in OPTIONS if t not in learned]
    if not learned:
        verdict = (
            f"On no task does full tuning beat the majority answer by more than the luck of {n_min} "
            f"questions, and on every task {at_least(min(top_share.values()))} of its answers are one "
            "and the same: the model learned which answers each kind of question takes, and how often, "
            "but not how to read the text."
        )
    elif missed:
        verdict = (
            f"It reads the text for {_task_list(learned)}, beating the majority answer by more than the luck of "
            f"{n_min} questions; on {_task_list(missed)} it does not, and "
            f"{at_least(min(top_share[t] for t in missed))} of its answers there are one and the same: "
            "for those it learned which answers the question takes, and how often, but not how to read the text."
        )
        if learned == ["genre"]:
            verdict += (
                " Telling a film review from a news story needs only the kind of words a text uses, which even "
                "a model pre-trained on reviews alone can tell apart; sentiment and topic need a closer reading."
            )
    else:
        verdict = (
            "It beats the majority answer on every task by more than the luck of "
            f"{n_min} questions: it learned to read the texts, too."
        )
    gap_seen = 100 * (_mean(full["exact_match_seen"]) - _mean(full["exact_match"]))
    saved = 100 * (1 - lora["wall_time_s"] / full["wall_time_s"])
    stand_in = setup.size.base in pretrained.STAND_INS
    base_params = untuned["total_params"]
    values = {
        "lora_extra": "The base model's final LayerNorm is trained too (peft's modules_to_save): a LoRA "
        "update can turn the last hidden state but not lengthen it, so it cannot make the output "
        "distribution more peaked than the frozen LayerNorm gain allows, and this small, briefly "
        "pre-trained model's next-token distributions are flat."
        if setup.size.lora_also_train
        else "",
        "base": "the small GPT-2-style model pre-trained on IMDB's unlabelled reviews in chapter 03 "
        f"(at CPU scale it stands in for {setup.size.base})"
        if stand_in
        else setup.size.base,
        "base_desc": f"a GPT-2 of {base_params:,} parameters that has read "
        f"{lm.CLM_SIZES[setup.profile.name].train_tokens:,} tokens of movie reviews"
        if stand_in
        else f"{setup.size.base}, with {base_params:,} parameters",
        "new_tokens": setup.size.max_new_tokens,
        "sft_epochs": setup.size.epochs,
        "sft_steps": full["steps"],
        "full_params": full["trainable_params"],
        "lora_params": lora["trainable_params"],
        "lora_share": format_table(comparison_table(sft, majority)).loc[
            "LoRA", "trainable (%)"
        ],  # as the table shows it
        "full_time": full["wall_time_s"],
        "lora_time": lora["wall_time_s"],
        "majority_mean": percent(100 * _mean(majority)),
        "eval_n": n_min,
        "vocab": len(setup.tokenizer),
        "full_compare": gap(100 * _mean(full["exact_match"]), 100 * _mean(majority), ahead="above", behind="below"),
        "verdict": verdict,
        "phrasing": "The new phrasings are not what holds it back"
        if gap_seen < 5
        else "The new phrasings cost it something",
        "lora_time_verdict": "It took no less time here"
        if saved < 1
        else f"It saved {saved:.0f}% of the training time here, far less than its share of trained "
        "weights would suggest"
        if saved >= 20
        else "It saved little time here",
        "untuned_greedy": "which continues the text instead of answering, scores nothing"
        if _mean(untuned["valid"]) == 0
        else f"which gives one of the task's options in {percent(100 * _mean(untuned['valid']))}% of its answers, "
        f"scores {percent(100 * _mean(untuned['exact_match']))}% on average",
        "one_answer": one_answer_words(sft, eval_tasks, list(setup.data.train["answer"])),
        "one_option": one_option_words(
            sft, eval_tasks, list(setup.data.eval["answer"]), setup.data.majority, majority
        ),
        "lora_valid_note": _valid_note(lora, eval_tasks),
        # shares as text, so that none that is not exactly 0 or 100 reads as one (``percent``)
        **{f"majority_{task}": percent(100 * a) for task, a in majority.items()},
    }
    for name, r in {"untuned": untuned, "full": full, "lora": lora}.items():
        for task in OPTIONS:
            values.update(
                {
                    f"{name}_{task}": percent(100 * r["exact_match"][task]),
                    f"{name}_{task}_c": percent(100 * r["constrained"][task]),
                    f"{name}_{task}_seen": percent(100 * r["exact_match_seen"][task]),
                }
            )
        values.update(
            {
                f"{name}_mean": percent(100 * _mean(r["exact_match"])),
                f"{name}_seen_mean": percent(100 * _mean(r["exact_match_seen"])),
                f"{name}_c_mean": percent(100 * _mean(r["constrained"])),
                f"{name}_valid": percent(100 * _mean(r["valid"])),
            }
        )
        if name != "untuned":  # the tasks where the tuned model beats both the untuned one and the majority answer
            beats = [
                t
                for t in OPTIONS
                if beyond_noise(r["exact_match"][t], t) and r["exact_match"][t] > untuned["exact_match"][t]
            ]
            values[f"{name}_beats"] = (
                f"all {len(OPTIONS)} tasks"
                if len(beats) == len(OPTIONS)
                else (_task_list(beats) if beats else "none of the tasks")
            )
    return values
