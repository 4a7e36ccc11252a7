"""Chapter 08's experiment: ``python -m tap playbook`` (``tap.playbook.command.run_playbook``) on a second
task, AG News's four topics, the way a reader runs it on their own data, except that the page pins
the training, validation and test sizes (``SIZES``) so that its numbers do not depend on the speed
of the machine that builds it; the command line sizes them from its budget and the speed it
measures, and ``python -m tap run ch08`` reruns the page's comparison at the pinned sizes."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.profiles import Profile, as_profile
from ..core.report import shown_difference
from ..playbook.budget import parse_budget
from ..playbook.command import Comparison, run_playbook
from ..playbook.report import figures
from ..playbook.verdict import PEFT_TARGET_POINTS, key_numbers, paired_claim, phrases, task_words
from .harness import Outcome

DATASET = "fancyzhx/ag_news"
BUDGET = {"smoke": "1m", "book": "5m", "full": "30m"}  # what the command line asks for; the page's sizes are pinned
# The page's sizes (train, val, test), pinned in place of a budget: of the order of what BUDGET buys on a 2-core
# CPU (book) or a GPU (full). The plan estimates what they cost on the machine that builds the page.
SIZES = {
    "smoke": {"train": 64, "val": 32, "test": 48},
    "book": {"train": 480, "val": 300, "test": 1_000},
    "full": {"train": 20_000, "val": 2_000, "test": 7_600},
}


def command(profile: Profile) -> str:
    """The command line that runs the page's comparison on the reader's machine, with the sets
    sized by its budget rather than pinned."""
    where = "--split test" if not profile.ag_from_train else "--test test"
    return f"python -m tap playbook {DATASET} {where} --budget {BUDGET[profile.name]} --profile {profile.name}"


def rerun_command(profile: Profile) -> str:
    """The command line that reruns the page's comparison itself, at the pinned sizes."""
    return f"python -m tap run ch08 --profile {profile.name}"


def budget_words(estimate_s: float, budget: str) -> str:
    """The plan's estimate for the pinned sizes beside the budget the command line names: whether
    the command, sizing the sets by that budget on the same machine, would choose smaller ones."""
    budget_s = parse_budget(budget)
    minutes = budget_s / 60
    allowed = f"the {minutes:g} minute{'s' * (minutes != 1)} the command line's budget allows"
    if estimate_s > budget_s:
        return (
            f"more than {allowed}, so there the command, sizing the sets by such estimates, would choose smaller ones"
        )
    return f"within {allowed}"


@dataclass
class YourTaskContext:
    """What chapter 08's page shows beyond the records: the playbook command's whole result."""

    result: Comparison


def experiment(profile: Profile | None = None) -> Outcome:
    """The playbook on AG News: offline only its 7,600-row test split exists, so the CPU-scale
    profiles carve training, validation and test rows from it by content; ``full`` trains on
    the train split and tests on the official test split."""
    p = as_profile(profile)
    split, test = ("train", "test") if p.ag_from_train else ("test", None)
    result = run_playbook(DATASET, split=split, test=test, budget=BUDGET[p.name], profile=p, sizes=SIZES[p.name])
    return Outcome(dict(result.records), figures(result), YourTaskContext(result))


def verdict_holds(ag_news: Comparison, imdb: dict[str, dict]) -> dict:
    """Chapter 07's verdict beside this chapter's: the same questions asked of both tasks."""
    k_ag, k_imdb = key_numbers(ag_news.records), key_numbers(imdb)
    same_anchor = (k_ag["tfidf_acc"] > k_ag["best_neural_acc"]) == (k_imdb["tfidf_acc"] > k_imdb["best_neural_acc"])
    return {
        "ag": k_ag,
        "imdb": k_imdb,
        "same_target": k_ag["target_met"] == k_imdb["target_met"],
        "same_anchor": same_anchor,
    }


def _agree(same: bool) -> str:
    return "as on IMDB" if same else "unlike on IMDB"


def _signed_gap(k: dict) -> str:
    """The best method's accuracy minus full fine-tuning's, signed, as the difference of the two
    values the pages show (``tap.core.report.gap``'s rule), not of the raw accuracies."""
    return f"{shown_difference(k['best_acc'], k['full_acc']):+.1f}"


def target_words(k: dict, ki: dict, same_target: bool) -> str:
    """Whether chapter 07's verdict on the book's target carries over from IMDB (``ki``) to AG
    News (``k``), both ``key_numbers``: on the accuracies, and on each task's paired interval,
    which may not show the loss to be within the target where the accuracies meet it."""
    unshown = [
        name
        for name, kn in (("IMDB", ki), ("AG News", k))
        if kn["target_met"] and paired_claim(kn["diff_lo"], kn["diff_hi"]) != "kept"
    ]
    target = (
        f"On IMDB (chapter 07) the method validation ranks first within {ki['budget_pct']:g}% of the parameters, "
        f"{ki['best_label']}, {phrases(ki)['target_word']} the target ({_signed_gap(ki)} points against full "
        f"fine-tuning, paired 95% interval {ki['diff_lo']:+.1f} to {ki['diff_hi']:+.1f}); on AG News, "
        f"{k['best_label']} {phrases(k)['target_word']} it ({_signed_gap(k)} points, paired 95% interval "
        f"{k['diff_lo']:+.1f} to {k['diff_hi']:+.1f}). "
        + (
            "On the accuracies, chapter 07's verdict holds on a second task"
            if same_target
            else "On the accuracies, chapter 07's verdict does not carry over to a second task"
        )
        + (
            f"; on {' and '.join(unshown)} the paired interval reaches below -{PEFT_TARGET_POINTS:g} "
            f"point{'' if PEFT_TARGET_POINTS == 1 else 's'}, so "
            "that test set does not show the loss to be within the target."
            if unshown
            else "."
        )
    )
    return target


def facts(outcome: Outcome, imdb: dict[str, dict]) -> dict:
    """The numbers and sentences the page states, from this build's records and chapter 07's."""
    result = outcome.context.result
    words = task_words(result.records, result.search, "AG News")
    holds = verdict_holds(result, imdb)
    k, ki = holds["ag"], holds["imdb"]
    plan = result.plan
    target = target_words(k, ki, holds["same_target"])
    anchor = (
        f"TF-IDF + logistic regression is {'ahead of' if k['tfidf_acc'] > k['best_neural_acc'] else 'behind'} the "
        f"best neural method on AG News ({k['tfidf_acc']:.1f}% against {k['best_neural_acc']:.1f}%), "
        f"{_agree(holds['same_anchor'])} ({ki['tfidf_acc']:.1f}% against {ki['best_neural_acc']:.1f}%)."
    )
    return {
        "train_n": plan.train,
        "val_n": plan.val,
        "test_n": plan.test,
        "steps": plan.steps,
        "runs": plan.runs,
        "planned_s": plan.estimate_s,
        "actual_s": result.actual_s,
        "decision": words["decision"],
        "search": words["search"],
        "target_holds": target,
        "anchor_holds": anchor,
        "classes": len(result.task.splits.label_names),
        "command": command(result.playbook.profile),
        "rerun": rerun_command(result.playbook.profile),
        "budget_fit": budget_words(plan.estimate_s, BUDGET[result.playbook.profile.name]),
    }
