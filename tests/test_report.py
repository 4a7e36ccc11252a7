import math

import myst_nb
import numpy as np
import pandas as pd
import pytest
from IPython.core.formatters import format_display_data
from myst_nb.core.variables import format_plain_text

from tap.core.report import compare, format_table, gap, glue, results_table, shown_difference


@pytest.fixture
def glued(monkeypatch) -> dict:
    """What ``glue`` hands to myst-nb, by name."""
    store = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display: store.update({name: v}))
    return store


def pasted(value, fmt_spec: str = "") -> str:
    """What ``{glue:text}`name:fmt_spec``` shows for a glued value (myst-nb's own code path)."""
    return format_plain_text(format_display_data(value)[0]["text/plain"], fmt_spec)


@pytest.mark.parametrize("value", [np.float64(73.25), np.float32(0.5), np.int64(12)])
def test_glued_numpy_scalars_format_like_python_numbers(glued, value):
    glue("x", value)
    assert type(glued["x"]) in (float, int)
    assert pasted(glued["x"], ".1f") == f"{float(value):.1f}"


@pytest.mark.parametrize(
    "text", ["22,566,146", "0.50", "1e-05", "None", "above", "", 'it\'s "quoted"', "a long sentence, " * 20]
)
@pytest.mark.parametrize("fmt_spec", ["", "s"])
def test_glued_text_is_pasted_verbatim(glued, text, fmt_spec):
    glue("x", text, text=True)
    assert pasted(glued["x"], fmt_spec) == text


def test_glued_number_formats_with_thousands_separators(glued):
    glue("x", 22_566_146)
    assert pasted(glued["x"], ",.0f") == "22,566,146"


@pytest.mark.parametrize(
    "diff, words",
    [
        (1.0, "1.0 point ahead of"),
        (-2.34, "2.3 points behind"),
        (0.0, "level with"),
        (0.04, "level with"),
        (-0.04, "level with"),
        (0.96, "1.0 point ahead of"),
        (-12.25, "12.2 points behind"),
    ],
)
def test_compare_words_a_signed_gap(diff, words):
    assert compare(diff) == words


def test_compare_takes_the_sentence_words():
    assert compare(-3, ahead="above", behind="below") == "3.0 points below"
    assert compare(0.3, decimals=0, level="the same as") == "the same as"


@pytest.mark.parametrize(
    "a, b, raw, shown",
    [
        (82.96, 70.64, "12.3 points ahead of", "12.4 points ahead of"),  # shown: 83.0 and 70.6
        (70.64, 82.96, "12.3 points behind", "12.4 points behind"),
        (77.86, 76.04, "1.8 points ahead of", "1.9 points ahead of"),  # shown: 77.9 and 76.0
        (80.04, 79.96, "0.1 points ahead of", "level with"),  # both shown as 80.0
        (80.06, 80.04, "level with", "0.1 points ahead of"),  # shown: 80.1 and 80.0
    ],
)
def test_gap_words_the_difference_of_the_values_as_shown(a, b, raw, shown):
    """The reader subtracts the numbers the page prints, not the raw ones behind them."""
    assert compare(a - b) == raw
    assert gap(a, b) == shown


def test_gap_agrees_with_compare_where_rounding_changes_nothing():
    assert gap(77.84, 76.04) == compare(77.84 - 76.04) == "1.8 points ahead of"
    assert gap(61.0, 62.0, ahead="above", behind="below") == "1.0 point below"
    assert gap(12.4, 12.36, decimals=0, level="the same as") == "the same as"


def test_gap_quotes_the_difference_of_the_one_decimal_values_over_a_grid():
    """Over values on a 0.01 grid (halves included) and off it, the number in the words is
    the difference of the two values as ``:.1f`` prints them, and the sign picks the word."""
    values = [k / 100 for k in range(4_950, 5_250, 3)] + [50 + k * 0.0371 for k in range(80)]
    for a in values:
        for b in values:
            shown_a, shown_b = float(f"{a:.1f}"), float(f"{b:.1f}")
            number = f"{abs(shown_a - shown_b):.1f}"
            words = gap(a, b)
            if number == "0.0":
                assert words == "level with", (a, b)
            else:
                unit = "point" if number == "1.0" else "points"
                side = "ahead of" if shown_a > shown_b else "behind"
                assert words == f"{number} {unit} {side}", (a, b)


def test_quoted_gap_is_the_difference_of_the_displayed_values_for_random_accuracies():
    """For random pairs of accuracies, the two values as a table shows them (``:.1f``) subtract
    exactly to the number the words quote, and ``shown_difference`` is that number."""
    rng = np.random.default_rng(0)
    for a, b in 100 * rng.random((5_000, 2)):
        shown_a, shown_b = (format_table(pd.DataFrame({"accuracy (%)": [a, b]}))["accuracy (%)"]).tolist()
        exact = round(float(shown_a) - float(shown_b), 1)
        assert shown_difference(a, b) == exact, (a, b)
        words = gap(a, b)
        assert words == (
            "level with"
            if exact == 0
            else f"{abs(exact):.1f} {'point' if abs(exact) == 1 else 'points'} {'ahead of' if exact > 0 else 'behind'}"
        ), (a, b)


def record(accuracy: float, trainable: int | None, total: int | None, seconds: float, **extra) -> dict:
    return {
        "test_accuracy": accuracy,
        "test_size": 25_000,
        "trainable_params": trainable,
        "total_params": total,
        "wall_time_s": seconds,
        **extra,
    }


RECORDS = {
    "full fine-tuning": record(0.87345, 1_437_184, 1_437_184, 123.456, examples_per_s=812.34, memory_used_mb=1523.7),
    "linear probe": record(0.8, 258, 1_437_184, 0.0345),
    "LoRA": record(0.8, 7_000, 1_437_184, 1234.03, examples_per_s=3.2),
    "TF-IDF": {"test_accuracy": 0.85, "test_size": 25_000, "wall_time_s": 3.0},
}


def test_results_table_keeps_numbers():
    table = results_table(RECORDS)
    assert table.loc["full fine-tuning", "test accuracy (%)"] == pytest.approx(87.345)
    assert table.loc["linear probe", "trainable (%)"] == pytest.approx(100 * 258 / 1_437_184)
    assert math.isnan(table.loc["TF-IDF", "trainable params"])


def test_format_table_rounds_by_column_kind():
    shown = format_table(results_table(RECORDS))
    assert shown.loc["full fine-tuning"].tolist() == ["87.3", "25,000", "1,437,184", "100", "123.5", "812.3", "1,524"]
    assert shown.loc["linear probe"].tolist() == ["80.0", "25,000", "258", "0.018", "0.035", "—", "—"]
    assert shown.loc["LoRA", "train time (s)"] == "1,234.0"
    assert shown.loc["TF-IDF"].tolist() == ["85.0", "25,000", "—", "—", "3.0", "—", "—"]


def test_format_table_shares_keep_distinct_values_distinct():
    shares = pd.DataFrame({"trainable (%)": [100.0, 0.0031, 1.2, 0.6]})
    assert format_table(shares)["trainable (%)"].tolist() == ["100", "0.0031", "1.2", "0.60"]
    assert format_table(pd.DataFrame({"trainable (%)": [100.0, 50.0]}))["trainable (%)"].tolist() == ["100", "50"]


@pytest.mark.parametrize(
    "column, values, expected",
    [
        ("trainable (%)", [1e-7, 2e-7], ["0.0000", "0.0000"]),  # at most 4 decimals, even if equal
        ("speed-up", [1.4321, 12.345], ["1.43", "12.3"]),
        ("stored per task (kB)", [0.51234, 4321.06], ["0.51", "4,321.1"]),
        ("train reviews", [1000.0, 250.0], ["1,000", "250"]),
        ("gap (points)", [-0.04, 1.26], ["0.0", "1.3"]),
        ("95% interval (%)", ["86.9–87.8", None], ["86.9–87.8", "—"]),
        ("held out", ["yes", ""], ["yes", "—"]),
    ],
)
def test_format_table_other_columns(column, values, expected):
    assert format_table(pd.DataFrame({column: values}))[column].tolist() == expected


def test_format_table_shows_precision_recall_and_f1_alike_with_two_decimals():
    # the chapter 06 exercise's table: F1 once showed "1.0" for 0.96 beside precisions of two decimals
    scores = pd.DataFrame({"precision": [0.9125, 1.0, 0.25], "recall": [0.954, 0.96, 1.0], "F1": [0.8, 0.9796, 0.4]})
    assert format_table(scores).to_numpy().tolist() == [
        ["0.91", "0.95", "0.80"],
        ["1.00", "0.96", "0.98"],
        ["0.25", "1.00", "0.40"],
    ]
    percent = pd.DataFrame({"test macro-F1 (%)": [85.94], "precision (%)": [91.24]})  # percentages keep 1 decimal
    assert format_table(percent).to_numpy().tolist() == [["85.9", "91.2"]]


def test_format_table_cells_never_show_more_than_four_decimals():
    numbers = pd.DataFrame(
        {
            name: [1 / 3, 2e-9, 12345.678901]
            for name in ["trainable (%)", "time (s)", "ratio", "perplexity", "accuracy"]
        }
    )
    for cell in format_table(numbers).to_numpy().ravel():
        assert len(cell.partition(".")[2]) <= 4, cell


def test_standard_error_of_an_accuracy_and_of_a_difference_of_two():
    from tap.core.report import standard_error

    assert standard_error(100, 0.5) == pytest.approx(5.0)
    assert standard_error(100, 0.5, 0.5) == pytest.approx(5.0 * 2**0.5)
    assert standard_error(400, 0.9) == pytest.approx(1.5)


@pytest.mark.parametrize("separated", [1, -1, 0, None])
@pytest.mark.parametrize("rate_a, rate_b", [(39.8, 15.4), (15.4, 39.8), (99.7, 92.7), (10.0, 10.02)])
def test_speed_words_state_the_ratio_and_whether_the_runs_overlap(rate_a, rate_b, separated):
    """One wording for a speed-up: the ratio of the medians, and what the repeated timings show;
    a large speed-up is never called noise."""
    from tap.core.report import speed_words

    if separated is not None and separated != 0 and (rate_a > rate_b) != (separated == 1):
        pytest.skip("every run of one faster, its median slower: cannot happen")
    words = speed_words("a", "b", rate_a, rate_b, separated, runs=3)
    ratio = max(rate_a, rate_b) / min(rate_a, rate_b)
    assert "noise" not in words
    assert f"{ratio:.2f} times" in words
    assert ("overlap (" in words) == (separated == 0)
    assert ("in every one of the 3 timed runs" in words) == (separated in (1, -1))
    if f"{ratio:.2f}" != "1.00":
        assert words.startswith("a ran" if rate_a > rate_b else "b ran")


def test_speed_words_for_the_review_s_case():
    from tap.core.report import speed_words

    assert speed_words("inference_mode", "the default", 39.8, 15.4, 0, 3) == (
        "inference_mode ran 2.58 times as fast as the default (medians), but their 3 timed runs overlap (a run "
        "of the slower beat a run of the faster), so these timings do not show which is faster"
    )
    assert speed_words("a", "b", 2.0, 1.0, None, 1).endswith(
        "one timed run of each is too few to tell whether their timings overlap"
    )
