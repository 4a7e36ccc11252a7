"""How precise a test accuracy is: the Wilson interval of one accuracy, and the paired interval
of the difference between two classifiers scored on the same test examples (chapter 07)."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binomtest

Z95 = 1.959963984540054  # standard-normal quantile for a two-sided 95% interval


def wilson_interval(correct: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (Wilson, 1927; SciPy's): better than
    p ± z·SE near 0 or 1 and for small n; with 1,000 test reviews the two agree to a tenth of a point."""
    if n <= 0:
        raise ValueError("A confidence interval needs at least one test example.")
    ci = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def paired_difference(a: list[int], b: list[int], z: float = Z95) -> tuple[float, float, float]:
    """Accuracy of ``a`` minus accuracy of ``b`` on the *same* test examples (0/1 per example),
    with a normal-approximation 95% interval from the per-example differences. Pairing removes
    the shared difficulty of the test reviews, so it is tighter than comparing two intervals."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(d) < 2:
        raise ValueError("A paired interval needs at least two test examples.")
    se = d.std(ddof=1) / math.sqrt(len(d))
    return float(d.mean()), float(d.mean() - z * se), float(d.mean() + z * se)


def correct_count(record: dict) -> int:
    """How many test reviews a run classified correctly."""
    if "test_correct" in record:
        return int(sum(record["test_correct"]))
    return int(record.get("test_correct_count", round(record["test_accuracy"] * record["test_size"])))


def accuracy_interval(record: dict) -> tuple[float, float]:
    """The run's 95% Wilson interval, in percent."""
    lo, hi = wilson_interval(correct_count(record), record["test_size"])
    return 100 * lo, 100 * hi
