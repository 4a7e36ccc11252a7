"""The classical anchor every neural method is judged against: TF-IDF word 1–2-grams
and logistic regression. At CPU scale it is hard to beat, and the book shows it."""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from ..core.cache import cached_run, source_digest
from ..core.measure import timer, track_peak_memory
from ..data.text import clean


def _check_input(
    train_texts: list[str], train_labels: list[int], test_texts: list[str], test_labels: list[int]
) -> None:
    """Refuse, in one line, input that scikit-learn would fail on deep inside its fit, or that
    would be scored wrongly (labels that do not pair with the texts)."""
    for split, texts, labels in (("training", train_texts, train_labels), ("test", test_texts, test_labels)):
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} {split} texts but {len(labels)} {split} labels: give one label per text.")
        if not len(texts):
            raise ValueError(f"No {split} texts: the anchor needs some to fit and to score.")
    if len(classes := set(train_labels)) < 2:
        raise ValueError(
            f"The training labels hold one class ({', '.join(map(str, classes))}); a classifier needs at least two."
        )


def tfidf_logreg(
    train_texts: list[str],
    train_labels: list[int],
    test_texts: list[str],
    test_labels: list[int],
    ngrams: tuple[int, int] = (1, 2),
) -> dict:
    """Fit on the training texts, score on the test texts; a run record like the neural ones."""
    _check_input(train_texts, train_labels, test_texts, test_labels)
    model = make_pipeline(
        TfidfVectorizer(preprocessor=clean, ngram_range=ngrams, min_df=2, sublinear_tf=True),
        LogisticRegression(C=4.0, max_iter=1000),
    )
    with track_peak_memory() as mem, timer() as clock:
        model.fit(train_texts, train_labels)
    predicted = model.predict(test_texts)
    correct = predicted == np.asarray(test_labels)
    weights = model[-1].coef_.size + model[-1].intercept_.size
    return {
        "test_accuracy": float(correct.mean()),
        "test_correct": correct.astype(int).tolist(),  # per example: paired intervals against other methods
        "test_predicted": predicted.tolist(),
        "test_size": len(test_labels),
        "wall_time_s": clock["seconds"],
        "examples_per_s": len(train_texts) / clock["seconds"],
        "trainable_params": weights,
        "total_params": weights,
        "train_examples": len(train_texts),
        **mem,
    }


def cached_tfidf_logreg(
    train_texts: list[str], train_labels: list[int], test_texts: list[str], test_labels: list[int]
) -> dict:
    """``tfidf_logreg`` through the run cache, keyed by the texts and labels themselves: a chapter
    that fits the anchor on data an earlier chapter used shows that chapter's run, time and memory
    included, not a second measurement that differs only by what ran before it in the process."""
    digest = hashlib.sha256()
    for part in (train_texts, train_labels, test_texts, test_labels):
        digest.update(json.dumps(list(part)).encode())
    key = {"data": digest.hexdigest()[:16], "code": source_digest(sys.modules[__name__])}
    record, _ = cached_run(
        "tfidf", key, lambda: (tfidf_logreg(train_texts, train_labels, test_texts, test_labels), None)
    )
    return record
