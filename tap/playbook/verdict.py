"""The verdict, in words written from the records: the best parameter-efficient method against
full fine-tuning with a paired interval, whether it meets the book's target, and where the
neural methods stand against the TF-IDF anchor. Chapter 07 and ``python -m tap playbook`` both
word their decision with it."""

from __future__ import annotations

from ..core.intervals import accuracy_interval, paired_difference
from ..core.report import gap, shown_difference
from ..methods.registry import METHOD
from ..pages.provenance import loaded_name
from .runs import TFIDF_ALL, TFIDF_SAME

# The book's one target for a parameter-efficient method, used by every chapter that scores one:
# within PEFT_TARGET_POINTS of full fine-tuning's accuracy while training at most
# PEFT_TARGET_SHARE percent of the model's parameters.
PEFT_TARGET_POINTS = 1.0
PEFT_TARGET_SHARE = 1.0
# The methods that train a small part of the model: every method but the probe and full fine-tuning.
PEFT_LABELS = tuple(m.label for key, m in METHOD.items() if key not in ("probe", "full"))


def target_phrase() -> str:
    """The book's target for a parameter-efficient method, in words (the constants above)."""
    unit = "point" if PEFT_TARGET_POINTS == 1 else "points"
    return (
        f"within {PEFT_TARGET_POINTS:g} percentage {unit} of full fine-tuning's accuracy while training "
        f"at most {PEFT_TARGET_SHARE:g}% of the parameters"
    )


def key_numbers(records: dict[str, dict], budget_pct: float = PEFT_TARGET_SHARE) -> dict:
    """The chapter's (and the introduction's) headline numbers, all derived from the records:
    the parameter-efficient method within ``budget_pct``% trainable parameters that validation
    ranks first (the test set only scores the choice, as it does each method's rate), its
    accuracy minus full fine-tuning's (``diff``, in points; negative when it is behind) with a
    paired 95% interval, and the classical anchor."""
    full = records[METHOD["full"].label]
    neural = {k: r for k, r in records.items() if "base_params" in r}
    efficient = {
        k: r
        for k, r in neural.items()
        if k != METHOD["full"].label and 100 * r["trainable_params"] / r["total_params"] <= budget_pct
    }
    best_label = max(efficient, key=lambda k: efficient[k]["best_val_accuracy"])
    best = efficient[best_label]
    diff, diff_lo, diff_hi = paired_difference(best["test_correct"], full["test_correct"])
    best_neural = max(neural, key=lambda k: neural[k]["test_accuracy"])
    same, every = records.get(TFIDF_SAME), records.get(TFIDF_ALL)
    lo, hi = accuracy_interval(full)
    return {
        "train_n": full["train_examples"],
        "test_n": full["test_size"],
        "ci_half": (hi - lo) / 2,
        "base_params": full["base_params"],
        "full_acc": 100 * full["test_accuracy"],
        "full_time": full["wall_time_s"],
        "full_bytes": full["trainable_bytes"],
        "best_label": best_label,
        "best_acc": 100 * best["test_accuracy"],
        "best_params": best["trainable_params"],
        "best_pct": 100 * best["trainable_params"] / best["total_params"],
        "best_bytes": best["trainable_bytes"],
        "best_time": best["wall_time_s"],
        "storage_ratio": full["trainable_bytes"] / best["trainable_bytes"],
        "diff": 100 * diff,
        "diff_lo": 100 * diff_lo,
        "diff_hi": 100 * diff_hi,
        # read from the difference as the page shows it, so the verdict agrees with the quoted gap
        "target_met": -shown_difference(100 * best["test_accuracy"], 100 * full["test_accuracy"])
        <= PEFT_TARGET_POINTS,
        "budget_pct": budget_pct,
        "best_neural_label": best_neural,
        "best_neural_acc": 100 * neural[best_neural]["test_accuracy"],
        "tfidf_acc": 100 * same["test_accuracy"] if same else float("nan"),
        "tfidf_time": same["wall_time_s"] if same else float("nan"),
        "tfidf_all_acc": 100 * every["test_accuracy"] if every else float("nan"),
        "tfidf_all_n": every["train_examples"] if every else 0,
        "tfidf_all_time": every["wall_time_s"] if every else float("nan"),
    }


def anchor_phrase(k: dict) -> str:
    """Where the neural methods stand against TF-IDF + logistic regression on the same texts,
    in words: "every neural method here is at least 2.4 points below it" when they all are."""
    words = gap(k["best_neural_acc"], k["tfidf_acc"], ahead="above", behind="below")
    if words.endswith("below"):
        return f"every neural method here is at least {words} it"
    return f"the best neural method here, {k['best_neural_label']}, is {words} it"


def phrases(k: dict) -> dict[str, str]:
    """The sentence fragments the chapter and the introduction glue as text, from the key
    numbers: how the best parameter-efficient method compares with full fine-tuning, whether
    it meets the book's target, and how the neural methods compare with the anchor."""
    return {
        "diff_words": gap(k["best_acc"], k["full_acc"]),  # equals the paired mean difference
        "target_word": "meets" if k["target_met"] else "misses",
        "target": target_phrase(),
        "anchor_words": anchor_phrase(k),
        "target_evidence": target_evidence(k),
    }


def target_evidence(k: dict) -> str:
    """What the paired interval lets the page claim about the target: non-inferiority only when
    the whole interval lies above the allowed loss."""
    limit, lo, hi = -PEFT_TARGET_POINTS, k["diff_lo"], k["diff_hi"]
    unit = "point" if PEFT_TARGET_POINTS == 1 else "points"
    if lo >= limit:
        return (
            f"The whole paired interval lies above {limit:+g} {unit}: at this test-set size the data "
            f"show that it loses at most {PEFT_TARGET_POINTS:g} {unit} (non-inferiority)."
        )
    if k["target_met"]:
        return (
            f"But the paired interval reaches {lo:+.1f} points, below {limit:+g}: a test set this size "
            "cannot rule out a larger loss, so non-inferiority is not shown."
        )
    if hi >= limit:
        return (
            f"The top of the paired interval, {hi:+.1f} points, lies within the {PEFT_TARGET_POINTS:g}-point "
            "margin, so the shortfall itself is not certain."
        )
    return f"Even the top of the paired interval, {hi:+.1f} points, is below {limit:+g}: it falls short."


def paired_claim(lo: float, hi: float, margin: float = PEFT_TARGET_POINTS) -> str:
    """What a paired 95% interval of A's accuracy minus B's (``lo`` to ``hi``, in points) lets
    the page claim, the one rule every sentence about such an interval follows:

    ``"kept"``: the whole interval lies at or above ``-margin``, so A loses at most ``margin``
    points (non-inferiority): the only case in which the page may say "without losing
    accuracy"; ``"undecided"``: the interval includes zero but reaches below ``-margin``: the
    test set cannot tell the two apart, and cannot rule out a larger loss either; ``"lost"``:
    the whole interval lies below zero and reaches below ``-margin``: A is measurably behind."""
    if lo >= -margin:
        return "kept"
    if hi >= 0:
        return "undecided"
    return "lost"


def interval_sentence(lo: float, hi: float) -> str:
    """A paired 95% interval of a difference, glossed: one that includes zero means the test set
    cannot tell the two apart; one that excludes it, that this test set separates them."""
    head = f"The paired 95% interval of the difference, {lo:+.1f} to {hi:+.1f} points, "
    if lo <= 0 <= hi:
        return head + "includes zero: this test set cannot tell the two apart."
    return head + "excludes zero: this test set tells the two apart."


def task_words(records: dict[str, dict], search: dict[str, list[dict]], name: str) -> dict[str, str]:
    """``python -m tap playbook``'s decision and what its learning-rate search showed, in words."""
    neural = {k: r for k, r in records.items() if "base_params" in r}
    within = [
        k
        for k, r in neural.items()
        if k != METHOD["full"].label and 100 * r["trainable_params"] / r["total_params"] <= PEFT_TARGET_SHARE
    ]
    k = key_numbers(records, PEFT_TARGET_SHARE if within else 100.0)
    words = phrases(k)
    share = f"training at most {k['budget_pct']:g}% of the parameters" if within else "other than full fine-tuning"
    decision = (
        f"On {name}, the most accurate neural method was {k['best_neural_label']} ({k['best_neural_acc']:.1f}%); "
        f"TF-IDF + logistic regression on the same {k['train_n']:,} training examples reached {k['tfidf_acc']:.1f}%, "
        f"so {words['anchor_words']}. The method {share} that validation ranks first, {k['best_label']} ({k['best_acc']:.1f}%), is "
        f"{words['diff_words']} full fine-tuning ({k['full_acc']:.1f}%; paired 95% interval of the difference "
        f"{k['diff_lo']:+.1f} to {k['diff_hi']:+.1f} points on {k['test_n']:,} test examples)"
    )
    if within:
        decision += f": it {words['target_word']} the target, {words['target']}. {words['target_evidence']}"
    else:
        decision += "."
    return {"decision": decision, "search": search_words(records, search), **words}


def search_words(records: dict[str, dict], search: dict[str, list[dict]]) -> str:
    """How much each method's learning-rate search mattered, in words: the largest and smallest
    spread of validation accuracy across the rates, where validation moved away from the usual
    rate, and where the chosen rate lies at the edge of the searched range."""
    spread = {
        label: 100 * (max(r["best_val_accuracy"] for r in runs) - min(r["best_val_accuracy"] for r in runs))
        for label, runs in search.items()
    }
    most, least = max(spread, key=spread.get), min(spread, key=spread.get)
    edge = [
        label
        for label, runs in search.items()
        if records[label]["lr"] in (min(r["lr"] for r in runs), max(r["lr"] for r in runs))
    ]
    words = (
        f"The rate mattered most for {most}: its validation accuracy ranged over {spread[most]:.1f} points across "
        f"the three rates; least for {least} ({spread[least]:.1f} points). "
    )
    if not edge:
        return words + "Validation chose every method's usual rate, the middle of the three."
    return words + (
        f"For {_listed(edge)} validation chose a rate other than the usual one, at the edge of the three searched, "
        "so a wider search might find a better one."
    )


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def longer_words(records: dict[str, dict], longer: dict[str, dict]) -> str:
    """What the runs trained longer (``Playbook.longer_runs``) say about each method that ended
    below the probe: whether more training at the same rate lifted it past the probe (the short
    run was undertrained) or not (on this little data the probe's head, fitted to convergence,
    is the stronger one)."""
    if not longer:
        efficient = [label for label in records if label in PEFT_LABELS]
        return f"No parameter-efficient run here ({_listed(efficient)}) ended below the linear probe on the same base."
    probe = records[METHOD["probe"].label]
    p = 100 * probe["test_accuracy"]
    sentences = []
    for label, again in longer.items():
        first, then = 100 * records[label]["test_accuracy"], 100 * again["test_accuracy"]
        factor = again["steps"] // records[label]["steps"]
        times = {2: "twice", 3: "three times"}.get(factor, f"{factor} times")
        verdict = (
            "so the short run was undertrained"
            if shown_difference(then, p) >= 0
            else "so more of the same training does not close the gap here: on this little data the probe's "
            "head, fitted to convergence, is the stronger estimator"
        )
        sentences.append(
            f"{label} ended {gap(first, p, ahead='above', behind='below')} the linear probe ({first:.1f}% against "
            f"{p:.1f}%), although it trains the probe's head and more; trained {times} as long at the same "
            f"rate it reaches {then:.1f}%, {gap(then, p, ahead='above', behind='below')} the probe, {verdict}."
        )
    return " ".join(sentences)


def method_facts(records: dict[str, dict], key: str, longer: dict[str, dict]) -> dict:
    """One parameter-efficient method (``tap.methods.registry`` key ``key``) against full fine-tuning and
    the linear probe on the same pre-trained base (a comparison of ``python -m tap playbook``),
    as chapters 04 and 05 state it: accuracies, its share of the parameters, the gaps as the
    pages show them, the paired interval against full fine-tuning read by ``paired_claim``'s
    rule, the book's target, and what a run trained longer says when it ended below the probe."""
    full, probe, tfidf = (records[label] for label in (METHOD["full"].label, METHOD["probe"].label, TFIDF_SAME))
    r = records[METHOD[key].label]
    acc, full_acc, probe_acc = (100 * x["test_accuracy"] for x in (r, full, probe))
    _, lo, hi = paired_difference(r["test_correct"], full["test_correct"])
    share = 100 * r["trainable_params"] / r["total_params"]
    met = -shown_difference(acc, full_acc) <= PEFT_TARGET_POINTS and share <= PEFT_TARGET_SHARE
    return {
        "model": loaded_name(r["model"]),
        "train_n": r["train_examples"],
        "test_n": r["test_size"],
        "acc": acc,
        "full_acc": full_acc,
        "probe_acc": probe_acc,
        "tfidf_acc": 100 * tfidf["test_accuracy"],
        "share": share,
        "lr": r["lr"],
        "vs_full": gap(acc, full_acc, ahead="above", behind="below"),
        "vs_probe": gap(acc, probe_acc, ahead="above", behind="below"),
        "vs_tfidf": gap(acc, 100 * tfidf["test_accuracy"], ahead="above", behind="below"),
        "lo": 100 * lo,
        "hi": 100 * hi,
        "claim": claim_words(100 * lo, 100 * hi),
        "target_word": "meets" if met else "misses",
        "longer_words": longer_words(records, longer),
        "time": r["wall_time_s"],
        "full_time": full["wall_time_s"],
        "memory_mb": r["memory_used_mb"],
        "full_memory_mb": full["memory_used_mb"],
        # what full fine-tuning keeps for every weight and a frozen one does not: its gradient and
        # AdamW's two moments, 4 bytes each in float32
        "full_state_mb": 12 * full["base_params"] / 2**20,
        "base_params": full["base_params"],
    }


def claim_words(lo: float, hi: float, margin: float = PEFT_TARGET_POINTS) -> str:
    """``paired_claim``'s verdict on a paired interval (in points) of a method minus full
    fine-tuning, as a clause: what the interval's position says, with the margin named."""
    unit = "point" if margin == 1 else "points"
    bound = f"-{margin:g} {unit}, the target's margin"
    if lo > 0:
        return "the whole interval lies above zero, so this test set shows it ahead of full fine-tuning"
    return {
        "kept": f"the whole interval lies above {bound}, so it loses at most {margin:g} {unit} (non-inferiority)"
        + (", though it is measurably behind" if hi < 0 else ", though this test set cannot tell the two apart"),
        "undecided": f"the interval includes zero and reaches below {bound}, so this test set can neither tell "
        "the two apart nor rule out a larger loss",
        "lost": "the whole interval lies below zero, so it is measurably behind",
    }[paired_claim(lo, hi, margin)]
