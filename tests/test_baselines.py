"""The TF-IDF anchor on small synthetic texts whose words give their class away: it separates
two and four classes, returns the same record for the same input, keeps every promise of its
record's fields, and refuses bad input in one line."""

import random

import pytest

from tap.training.baselines import cached_tfidf_logreg, tfidf_logreg

WORDS = [
    "great wonderful moving superb",
    "awful boring dull dreadful",
    "election minister treaty parliament",
    "shares profit market bank",
]
SHARED = "the film story people time".split()  # words every class uses: no evidence either way
TIMINGS = {"wall_time_s", "examples_per_s", "peak_memory_mb", "memory_used_mb"}


def texts(classes: int, per_class: int, seed: int) -> tuple[list[str], list[int]]:
    """Shuffled texts of six class words and four shared words each, with their labels."""
    rng = random.Random(seed)
    rows = [
        (" ".join(rng.choices(WORDS[c].split(), k=6) + rng.choices(SHARED, k=4)), c)
        for c in range(classes)
        for _ in range(per_class)
    ]
    rng.shuffle(rows)
    return [t for t, _ in rows], [label for _, label in rows]


def anchor(classes: int, **kwargs) -> tuple[dict, list[int]]:
    """The anchor's record on a fresh task of ``classes`` classes, with the test labels."""
    train, test = texts(classes, 20, seed=0), texts(classes, 10, seed=1)
    return tfidf_logreg(*train, *test, **kwargs), test[1]


def test_the_same_data_fitted_twice_is_one_run(tmp_path, monkeypatch):
    """Two chapters that fit the anchor on the same reviews show one run, its cost included."""
    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path))
    train, test = texts(2, 20, seed=0), texts(2, 10, seed=1)
    first, again = cached_tfidf_logreg(*train, *test), cached_tfidf_logreg(*train, *test)
    assert not first["from_cache"] and again["from_cache"]
    assert again["wall_time_s"] == first["wall_time_s"] and again["test_correct"] == first["test_correct"]
    other = cached_tfidf_logreg(*train, *texts(2, 10, seed=2))  # other test texts: another run
    assert not other["from_cache"]


@pytest.mark.parametrize("classes", [2, 4])
def test_it_separates_an_easy_task(classes):
    record, gold = anchor(classes)
    assert record["test_accuracy"] == 1.0 and record["test_predicted"] == gold


@pytest.mark.parametrize("classes", [2, 4])
def test_the_same_input_gives_the_same_record(classes):
    first, second = anchor(classes)[0], anchor(classes)[0]
    assert {k: v for k, v in first.items() if k not in TIMINGS} == {
        k: v for k, v in second.items() if k not in TIMINGS
    }


def test_the_record_counts_what_it_says():
    record, gold = anchor(2)
    flipped = [1 - label for label in gold[:3]] + gold[3:]  # three wrong answers on purpose
    train = texts(2, 20, seed=0)
    scored = tfidf_logreg(*train, texts(2, 10, seed=1)[0], flipped)
    assert scored["test_correct"] == [0, 0, 0] + [1] * 17
    assert scored["test_accuracy"] == pytest.approx(17 / 20) and scored["test_size"] == 20
    assert record["train_examples"] == 40 and record["test_size"] == len(gold) == len(record["test_correct"])
    assert record["examples_per_s"] == pytest.approx(40 / record["wall_time_s"]) and record["wall_time_s"] > 0
    assert record["peak_memory_mb"] > 0 and record["peak_memory_kind"] == "process RSS"


def vocabulary(train_texts: list[str]) -> set[str]:
    """The words of at least two training texts (``min_df=2``)."""
    seen: dict[str, int] = {}
    for text in train_texts:
        for word in set(text.split()):
            seen[word] = seen.get(word, 0) + 1
    return {w for w, n in seen.items() if n >= 2}


@pytest.mark.parametrize("classes, weight_rows", [(2, 1), (4, 4)])
def test_its_parameters_are_the_weights_of_the_words_it_keeps(classes, weight_rows):
    train = texts(classes, 20, seed=0)
    record = tfidf_logreg(*train, *texts(classes, 10, seed=1), ngrams=(1, 1))
    expected = weight_rows * (len(vocabulary(train[0])) + 1)  # a weight per kept word, and a bias, per row
    assert record["trainable_params"] == record["total_params"] == expected
    assert anchor(classes)[0]["trainable_params"] > expected  # word pairs add their own weights


def test_case_and_html_line_breaks_do_not_change_a_prediction():
    train = texts(2, 20, seed=0)
    test, gold = texts(2, 10, seed=1)
    shouted = [text.upper().replace(" ", "<br />", 1) for text in test]
    assert tfidf_logreg(*train, shouted, gold)["test_predicted"] == gold


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: {**a, "train_labels": a["train_labels"][:-1]}, "40 training texts but 39 training labels"),
        (lambda a: {**a, "test_labels": a["test_labels"] + [0]}, "20 test texts but 21 test labels"),
        (lambda a: {**a, "test_texts": [], "test_labels": []}, "No test texts"),
        (lambda a: {**a, "train_labels": [1] * 40}, r"The training labels hold one class \(1\)"),
    ],
)
def test_bad_input_is_refused_in_one_line(change, message):
    (train_texts, train_labels), (test_texts, test_labels) = texts(2, 20, seed=0), texts(2, 10, seed=1)
    arguments = dict(
        train_texts=train_texts, train_labels=train_labels, test_texts=test_texts, test_labels=test_labels
    )
    with pytest.raises(ValueError, match=message):
        tfidf_logreg(**change(arguments))
