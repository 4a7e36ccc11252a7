"""Chapter 01's experiment: a Transformer encoder trained from scratch on IMDB, versus
pre-trained on a source task (AG News) and then fully fine-tuned, versus partial unfreezing
(the top encoder layer and a new head), versus linear probing (the pre-trained encoder frozen,
only a new head fitted: logistic regression on its features). Chapters 03, 04 and 05 reuse
this setup and its AG-News-pre-trained encoder as their base."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from torch import nn

from ..core.profiles import Profile, as_profile, get_profile
from ..core.report import gap, standard_error
from ..data.datasets import ag_news_splits, imdb_splits
from ..data.text import Vocabulary
from ..methods.freezing import freeze_base
from ..methods.probing import PROBE_L2, PROBE_MAX_ITER
from ..models.encoder import TransformerClassifier
from ..pages import plots
from ..training.baselines import cached_tfidf_logreg
from ..training.loop import TrainConfig
from .harness import EncodedTask, Outcome, Run, run_classifier, run_probe


@dataclass
class TransferSetup:
    """Everything chapter 01 trains on: the profile, the shared vocabulary, both tasks."""

    profile: Profile
    vocab: Vocabulary
    imdb: EncodedTask
    ag_news: EncodedTask

    def key(self) -> dict:
        """What the runs depend on, for the cache key."""
        digest = hashlib.sha256("\n".join(self.vocab.itos).encode()).hexdigest()[:16]
        return {
            "profile": self.profile.to_dict(),
            "vocab": digest,
            "imdb": self.imdb.splits.sizes(),
            "ag_news": self.ag_news.splits.sizes(),
        }


def prepare(profile: Profile | None = None, seed: int = 0) -> TransferSetup:
    """Load both tasks and build one vocabulary from their training text, so an encoder
    pre-trained on AG News can read IMDB reviews with the same embeddings."""
    p = profile or get_profile()
    imdb, ag = imdb_splits(p, seed), ag_news_splits(p, seed)
    vocab = Vocabulary.build(list(imdb.train["text"]) + list(ag.train["text"]), max_size=p.encoder.vocab_size)
    size = replace(p.encoder, vocab_size=len(vocab))
    p = replace(p, encoder=size)
    return TransferSetup(
        p, vocab, EncodedTask.from_splits(imdb, vocab, size.max_len), EncodedTask.from_splits(ag, vocab, size.max_len)
    )


def _config(setup: TransferSetup, epochs: int, lr: float) -> TrainConfig:
    p = setup.profile
    return TrainConfig(epochs=epochs, lr=lr, batch_size=p.batch_size, evals_per_epoch=p.evals_per_epoch)


def from_scratch(setup: TransferSetup, lr: float = 1e-3) -> Run:
    """Strategy 1: a randomly initialised encoder trained on IMDB only."""

    def build() -> nn.Module:
        return TransformerClassifier(setup.profile.encoder, setup.imdb.num_classes)

    return run_classifier(
        "imdb-from-scratch", setup.key(), build, setup.imdb, _config(setup, setup.profile.epochs, lr)
    )


def pretrain_on_ag_news(setup: TransferSetup, lr: float = 1e-3) -> Run:
    """The source task: AG News topic classification, 4 classes."""

    def build() -> nn.Module:
        return TransformerClassifier(setup.profile.encoder, setup.ag_news.num_classes)

    return run_classifier(
        "ag-news-pretrain", setup.key(), build, setup.ag_news, _config(setup, setup.profile.source_epochs, lr)
    )


def from_source(setup: TransferSetup, source: Run, freeze_encoder: bool = False) -> TransformerClassifier:
    """A copy of the source model with a new IMDB head (optionally everything else frozen):
    the starting point of every method of chapters 01, 04 and 05."""
    model = TransformerClassifier(setup.profile.encoder, setup.ag_news.num_classes)
    model.load_state_dict(source.model.state_dict())
    model.replace_head(setup.imdb.num_classes)
    return freeze_base(model, keep=("head",)) if freeze_encoder else model


def full_fine_tune(setup: TransferSetup, source: Run, lr: float = 5e-4) -> Run:
    """Strategy 2: the AG-News-pre-trained encoder, every parameter trained on IMDB."""
    key = {**setup.key(), "source": source.record["config"]}
    return run_classifier(
        "imdb-full-finetune",
        key,
        lambda: from_source(setup, source),
        setup.imdb,
        _config(setup, setup.profile.epochs, lr),
    )


def top_layers_fine_tune(setup: TransferSetup, source: Run, top_layers: int = 1, lr: float = 5e-4) -> Run:
    """Strategy 3, partial unfreezing (the original study's fine-tuning of its top layer): the
    AG-News-pre-trained encoder with only its top ``top_layers`` encoder layers and a new head
    trained on IMDB, at full fine-tuning's rate and budget; the embedding table and the lower
    layers stay as AG News left them."""
    if not 1 <= top_layers <= setup.profile.encoder.num_layers:
        raise ValueError(
            f"top_layers must be between 1 and the encoder's {setup.profile.encoder.num_layers} layers, "
            f"got {top_layers}."
        )

    def build() -> nn.Module:
        model = from_source(setup, source, freeze_encoder=True)
        for layer in model.layers[-top_layers:]:
            layer.requires_grad_(True)
        return model

    key = {**setup.key(), "source": source.record["config"], "top_layers": top_layers}
    return run_classifier("imdb-top-layers-finetune", key, build, setup.imdb, _config(setup, setup.profile.epochs, lr))


def linear_probe(setup: TransferSetup, source: Run, l2: float = PROBE_L2) -> Run:
    """Strategy 4: the pre-trained encoder frozen; only a new head is fitted, to convergence
    (logistic regression on the encoder's features, ``harness.run_probe``)."""
    key = {**setup.key(), "source": source.record["config"]}
    return run_probe("imdb-linear-probe", key, lambda: from_source(setup, source, freeze_encoder=True), setup.imdb, l2)


def random_encoder_probe(setup: TransferSetup, l2: float = PROBE_L2) -> Run:
    """The same probe on a randomly initialised, frozen encoder: what the architecture and a
    bag of random word vectors give without any training, the yardstick for what pre-training
    put into the features."""

    def build() -> nn.Module:
        return freeze_base(TransformerClassifier(setup.profile.encoder, setup.imdb.num_classes), keep=("head",))

    return run_probe("imdb-random-encoder-probe", setup.key(), build, setup.imdb, l2)


# The strategies' names on the page, in the order the chapter presents them.
STRATEGIES = {
    "scratch": "from scratch",
    "ft": "AG News pre-training + full fine-tuning",
    "top": "AG News pre-training + top layer fine-tuned",
    "probe": "linear probe",
}


@dataclass
class TransferContext:
    """What chapter 01's page shows beyond the records: the data and the trained runs."""

    setup: TransferSetup
    source: Run  # the encoder pre-trained on AG News, the base of every transfer run
    runs: dict[str, Run]  # by ``STRATEGIES``' keys


def experiment(profile: Profile | None = None, setup: TransferSetup | None = None) -> Outcome:
    """Everything chapter 01 trains (from the run cache when it is there), the TF-IDF baseline,
    and the chapter's two figures. ``setup`` saves preparing the data twice when the page has it."""
    setup = setup or prepare(as_profile(profile))
    source = pretrain_on_ag_news(setup)
    runs = {
        "scratch": from_scratch(setup),
        "ft": full_fine_tune(setup, source),
        "top": top_layers_fine_tune(setup, source),
        "probe": linear_probe(setup, source),
    }
    records = {STRATEGIES[key]: run.record for key, run in runs.items()}
    records["linear probe of a random encoder"] = random_encoder_probe(setup).record
    imdb = setup.imdb.splits
    records["TF-IDF + logistic regression"] = cached_tfidf_logreg(
        imdb.train["text"], imdb.train["label"], imdb.test["text"], imdb.test["label"]
    )
    curves = plots.training_curves(
        {STRATEGIES[key]: run.record for key, run in runs.items()},
        title="IMDB: training curves of the four strategies",
    )
    bars = plots.comparison_bars(
        {name: 100 * r["test_accuracy"] for name, r in records.items()},
        ylabel="test accuracy (%)",
        reference=("chance (50%)", 50.0),
        title=f"IMDB test accuracy ({imdb.test.num_rows:,} balanced test reviews)",
    )
    records["AG News source task"] = source.record
    return Outcome(records, {"training_curves": curves, "test_accuracy": bars}, TransferContext(setup, source, runs))


def facts(outcome: Outcome) -> dict:
    """The numbers and verdicts the page's prose states, computed from this build's records."""
    r = outcome.records
    scratch, ft, top, probe = (r[STRATEGIES[k]] for k in ("scratch", "ft", "top", "probe"))
    random_probe, tfidf = r["linear probe of a random encoder"], r["TF-IDF + logistic regression"]
    setup, n_test = outcome.context.setup, ft["test_size"]
    best = max(scratch, ft, key=lambda rec: rec["test_accuracy"])

    def words(a: dict, b: dict) -> str:
        """``a``'s accuracy against ``b``'s, worded as the page shows both."""
        return gap(100 * a["test_accuracy"], 100 * b["test_accuracy"], ahead="above", behind="below")

    noise, pretraining = (
        2 * standard_error(n_test, probe["test_accuracy"], random_probe["test_accuracy"]),
        100 * (probe["test_accuracy"] - random_probe["test_accuracy"]),
    )
    return {
        "vocab": len(setup.vocab),
        "max_len": setup.profile.encoder.max_len,
        "unk": 100 * setup.vocab.unknown_rate(setup.imdb.splits.test["text"][:500]),
        "ag_acc": 100 * r["AG News source task"]["test_accuracy"],
        "ag_test": r["AG News source task"]["test_size"],
        **{
            f"{key}_acc": 100 * rec["test_accuracy"]
            for key, rec in [
                ("scratch", scratch),
                ("ft", ft),
                ("top", top),
                ("probe", probe),
                ("random_probe", random_probe),
                ("tfidf", tfidf),
            ]
        },
        "test_size": n_test,
        "train_size": ft["train_examples"],
        "probe_params": probe["trainable_params"],
        "ft_params": ft["trainable_params"],
        "top_params": top["trainable_params"],
        "top_share": 100 * top["trainable_params"] / top["total_params"],
        "gain_text": words(ft, scratch),
        "top_vs_ft": words(top, ft),
        "top_vs_probe": words(top, probe),
        "probe_vs_random": words(probe, random_probe),
        "tfidf_text": words(tfidf, best),
        "tfidf_lead": "The surprise is the classical baseline. With a few thousand labelled reviews, a "
        "bag-of-bigrams model beats every small Transformer on this page"
        if tfidf["test_accuracy"] > best["test_accuracy"]
        else "The classical baseline deserves a second look. Even where a Transformer here edges past it, a "
        "bag-of-bigrams model comes close",
        "probe_fit": f"{probe['steps']:,} L-BFGS iterations to converge"
        if probe["steps"] < PROBE_MAX_ITER
        else f"L-BFGS stopped at its limit of {PROBE_MAX_ITER:,} iterations",
        "stderr": standard_error(n_test, ft["test_accuracy"]),
        "probe_verdict": "within the noise (twice the standard error of the difference is "
        f"{noise:.1f} points): for sentiment, the features the encoder learned from news are worth no more "
        "than random ones"
        if abs(pretraining) <= noise
        else "more than twice the standard error of the difference: pre-training on news left some signal for "
        "sentiment in the frozen features, beyond what random ones carry"
        if pretraining > 0
        else "more than twice the standard error of the difference: for sentiment, the features the encoder "
        "learned from news are worse than random ones, tuned to tell topics apart and blind to the rest",
    }
