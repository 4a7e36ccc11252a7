"""Tables, comparisons and glued numbers: how run records reach the page.

Code computes on numbers; the page shows words and rounded cells. ``results_table`` returns
numbers, ``format_table`` rounds a table for display, ``compare`` words a signed difference,
``gap`` words the difference of two numbers as shown, and ``glue`` hands values to the prose
so that what myst-nb pastes is what the author meant."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import partial
from numbers import Real

import numpy as np
import pandas as pd

MAX_DECIMALS = 4  # no cell shows more: a fifth decimal is noise to the reader


def standard_error(n: int, *accuracies: float) -> float:
    """Standard error, in points, of an accuracy measured on ``n`` examples, √(p(1 − p)/n); given
    two accuracies, of the difference of two independent ones (the variances add). Differences
    of about this size are noise, not findings."""
    return 100 * sum(p * (1 - p) / n for p in accuracies) ** 0.5


def results_table(records: dict[str, dict]) -> pd.DataFrame:
    """One row per run: test accuracy, trainable parameters (absolute and %), cost.

    The values are unrounded numbers, for code that computes on the table; show it through
    ``format_table(results_table(records))``, which rounds each column for the reader."""
    rows = []
    for label, r in records.items():
        rows.append(
            {
                "method": label,
                "test accuracy (%)": 100 * r["test_accuracy"],
                "test examples": r["test_size"],
                "trainable params": r.get("trainable_params"),
                "trainable (%)": 100 * r["trainable_params"] / r["total_params"] if r.get("total_params") else None,
                "train time (s)": r["wall_time_s"],
                "examples/s": r.get("examples_per_s") or None,
                "memory used (MB)": r.get("memory_used_mb"),
            }
        )
    return pd.DataFrame(rows).set_index("method")


def compare(
    diff_points: float, ahead: str = "ahead of", behind: str = "behind", level: str = "level with", decimals: int = 1
) -> str:
    """Word a signed difference in points: ``compare(1.0)`` is "1.0 point ahead of",
    ``compare(-2.34)`` "2.3 points behind", and whatever rounds to zero is "level with".

    One function for every comparison, so the prose never shows a negative gap ("-1.0 points
    behind"), a "1.0 points", or "0.0 points ahead of"; pass other words (``ahead="above"``,
    ``behind="below"``) where the sentence needs them."""
    shown = f"{abs(diff_points):.{decimals}f}"
    if float(shown) == 0:
        return level
    unit = "point" if float(shown) == 1 else "points"
    return f"{shown} {unit} {ahead if diff_points > 0 else behind}"


def shown_difference(a: float, b: float, decimals: int = 1) -> float:
    """``a`` minus ``b`` as the reader computes it from the page: the difference of the two values
    rounded to ``decimals`` (83.0 − 70.6 = 12.4 for the raw 82.96 and 70.64, whose own difference
    is 12.32). Every number the prose quotes as a difference of two displayed values, and every
    verdict read from such a difference, comes from here; ``gap`` words it."""
    return round(round(a, decimals) - round(b, decimals), decimals)


def gap(a: float, b: float, decimals: int = 1, **words: str) -> str:
    """Word ``a`` against ``b`` as the page shows them: the difference of the two values rounded
    to ``decimals``, so that "12.4 points below" is what the reader gets by subtracting the shown
    83.0 and 70.6, where the raw 82.96 − 70.64 would say 12.3.

    The one rule for quoting a gap between two numbers the page displays; pass ``compare``'s
    words (``ahead``, ``behind``, ``level``). Python's ``round(x, 1)`` and ``f"{x:.1f}"`` round
    the same float the same way (both correctly rounded, half to even on its exact binary
    value), so the rounded values here are the ones the tables and the prose print."""
    return compare(shown_difference(a, b, decimals), decimals=decimals, **words)


def speed_words(a: str, b: str, rate_a: float, rate_b: float, separated: int | None, runs: int) -> str:
    """Two timed variants in words: the ratio of their median rates ("x ran 2.58 times as fast as
    y") and whether their repeated timings overlap. ``separated`` is ``1`` when every timed run of
    ``a`` beat every run of ``b``, ``-1`` the other way round, ``0`` when the runs overlap and
    ``None`` when there were too few runs to tell (``tap.training.inference.faster_beyond_noise``).

    The one wording for a speed-up: the size is always the ratio of the medians, and the
    evidence is always what the runs show, so the page never states a large speed-up and calls
    it noise in the same breath; with overlapping runs it says the runs overlap and that these
    runs do not settle which is faster."""
    fast, slow, ratio = (a, b, rate_a / rate_b) if rate_a >= rate_b else (b, a, rate_b / rate_a)
    shown = _ratio(ratio)
    each = "one timed run" if runs == 1 else f"{runs} timed runs"
    if float(shown) == 1:
        size = f"{a} and {b} ran at the same median rate ({shown} times)"
    else:
        size = f"{fast} ran {shown} times as fast as {slow} (medians)"
    if separated is None:
        return (
            f"{size}, but {each} of each {'is' if runs == 1 else 'are'} too few to tell whether their timings overlap"
        )
    if separated == 0:
        return (
            f"{size}, but their {each} overlap (a run of the slower beat a run of the faster), so these "
            "timings do not show which is faster"
        )
    return f"{size}, and faster in every one of the {each}"


def with_article(count: int, text: str | None = None) -> str:
    """``text`` (``count`` with thousands separators unless given) after the indefinite article
    an English reader says before the number: "an 88", "an 8", "an 11", "an 18,000", "an 800",
    but "a 110", "a 1,100" and "a 128". Read aloud, a number starts with a vowel sound when its
    leading group of three digits starts with an 8 or is eleven or eighteen."""
    lead = abs(int(count))
    while lead >= 1000:
        lead //= 1000
    shown = f"{int(count):,}" if text is None else text
    return f"{'an' if str(lead).startswith('8') or lead in (11, 18) else 'a'} {shown}"


Formatter = Callable[[float], str]


def _fixed(value: float, decimals: int) -> str:
    """Thousands separators and a fixed number of decimals; no "-0.0"."""
    text = f"{value:,.{decimals}f}"
    return text.lstrip("-") if float(text.replace(",", "")) == 0 else text


def _measure(value: float) -> str:
    """Times, rates and sizes: one decimal, and two significant digits below 1."""
    if value == 0 or abs(value) >= 1:
        return _fixed(value, 1)
    return _fixed(value, min(MAX_DECIMALS, 1 - math.floor(math.log10(abs(value)))))


def _ratio(value: float) -> str:
    return _fixed(value, 2 if abs(value) < 10 else 1)


def _whole_or_measure(numbers: list[float]) -> Formatter:
    """Counts as integers ("1,437,184", never "1437184.0"); anything fractional as a measure."""
    return partial(_fixed, decimals=0) if all(v.is_integer() for v in numbers) else _measure


def _significant_decimals(value: float, digits: int) -> int:
    """Decimals that show ``digits`` significant digits of ``value`` (none for whole numbers,
    at most ``MAX_DECIMALS``)."""
    if float(value).is_integer():
        return 0
    if abs(value) >= 10 ** (digits - 1):
        return 1
    return min(MAX_DECIMALS, max(1, digits - 1 - math.floor(math.log10(abs(value)))))


def _distinguishing(numbers: list[float]) -> Formatter:
    """Two significant digits per value (more where two distinct values would look alike), at
    most ``MAX_DECIMALS`` decimals: shares of parameters span 100% ("100") down to a few
    thousandths ("0.0091")."""
    distinct = set(numbers)
    for digits in range(2, 2 + MAX_DECIMALS):
        shown = {_fixed(v, _significant_decimals(v, digits)) for v in distinct}
        if len(shown) == len(distinct):
            break
    return lambda value: _fixed(value, _significant_decimals(value, digits))


def _constant(formatter: Formatter) -> Callable[[list[float]], Formatter]:
    return lambda numbers: formatter


# Column kind, from the lower-cased column name, in order: the first match decides.
_COLUMN_KINDS: list[tuple[str, Callable[[list[float]], Formatter]]] = [
    (r"trainable.*\(%\)", _distinguishing),  # share of parameters
    (r"/s\b|\((?:m?s)\)|\btime\b|\bseconds?\b", _constant(_measure)),  # times and throughput
    (r"params|parameters|examples|count|tokens|bytes", _whole_or_measure),  # counts
    (r"\(mb\)", _constant(partial(_fixed, decimals=0))),  # memory
    (r"\bratio\b|×|speed-?up|\bfactor\b", _constant(_ratio)),
    (r"^(?!.*%).*\b(?:precision|recall|f1)\b", _constant(partial(_fixed, decimals=2))),  # fractions 0 to 1
    (r"accuracy|\(%\)|\bpoints?\b", _constant(partial(_fixed, decimals=1))),
    (r"", _whole_or_measure),  # anything else
]


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_)) and not math.isnan(value)


NOT_APPLICABLE = "\N{EM DASH}"  # a cell whose value does not apply to its row (or was not measured)


def _dash_or_text(value) -> str:
    """A missing value as a dash, never a blank the reader could take for a lost number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return NOT_APPLICABLE
    missing = not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)
    return NOT_APPLICABLE if missing else str(value)


def _format_column(name: str, values: pd.Series) -> list[str]:
    numbers = [float(v) for v in values if _is_number(v)]
    make = next(make for pattern, make in _COLUMN_KINDS if re.search(pattern, name.lower()))
    formatter = make(numbers)
    return [formatter(float(v)) if _is_number(v) else _dash_or_text(v) for v in values]


def format_table(df: pd.DataFrame) -> pd.DataFrame:
    """The table as the reader should see it: every cell a string, rounded by the kind of its
    column (read from the column name), a dash ("—") for a missing value or an empty text.

    accuracy, percentages and percentage points: 1 decimal; precision, recall and F1 as fractions
    (no "%" in the name): 2 decimals, all three alike; trainable share "(%)": two significant digits
    (more where rows would look alike, at most 4 decimals); parameters, examples, tokens, bytes and other counts:
    integers with thousands separators; times, throughput and other measures: 1 decimal (2
    significant digits below 1); memory in MB: integers; ratios: 1-2 decimals. Strings pass
    through. For display only: compute on the unformatted table."""
    columns = [_format_column(str(name), df.iloc[:, i]) for i, name in enumerate(df.columns)]
    return pd.DataFrame(dict(enumerate(columns)), index=df.index, dtype=object).set_axis(df.columns, axis=1)


def glue(name: str, value, text: bool = False) -> None:
    """Glue a value for the prose (``{glue:text}`name```); ``text=True`` glues it as text.

    myst-nb pastes a glued value by running ``ast.literal_eval`` on its ``text/plain`` repr
    (``myst_nb.core.variables.format_plain_text``), format spec or not. So a value must be
    glued with a repr that evaluates back to it: NumPy scalars become Python numbers (their repr
    ``np.float64(0.5)`` cannot be formatted with ``:.1f``), and text is glued as a ``str``,
    whose quoted repr evaluates to the same text (a bare ``22,566,146`` would evaluate to the
    tuple ``(22, 566, 146)``). Glue numbers as numbers and format them in the page (``:,.0f``)."""
    from myst_nb import glue as _glue

    if isinstance(value, np.generic):
        value = value.item()
    _glue(name, str(value) if text else value, display=False)


def glue_record(prefix: str, record: dict, fields: dict[str, str]) -> None:
    """Glue ``record[key]`` as ``{prefix}_{name}`` for each ``name: key`` of ``fields``, so a
    run's numbers reach the prose in one call. Accuracies (keys ending in ``accuracy``) are
    glued in percent, as every page shows them."""
    for name, key in fields.items():
        value = record[key]
        glue(f"{prefix}_{name}", 100 * value if key.endswith("accuracy") else value)


def glue_all(prefix: str, values: dict) -> None:
    """Glue every value of ``values`` as ``{prefix}_{name}``; strings as text."""
    for name, value in values.items():
        glue(f"{prefix}_{name}", value, text=isinstance(value, str))
