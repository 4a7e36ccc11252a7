"""Run profiles: one switch (``TAP_PROFILE``) sets the scale of every experiment.

``smoke`` is for tests (seconds per chapter), ``book`` (the default) is what the
published HTML is built with on a 2-core CPU, ``full`` is for readers with a GPU.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from ..models.encoder import EncoderSize

PROFILE_ENV = "TAP_PROFILE"
DEFAULT_PROFILE = "book"


@dataclass(frozen=True)
class Profile:
    """Sizes of every subset and model a profile uses; part of each run's cache key."""

    name: str
    imdb_train: int  # labelled reviews used for training (balanced)
    imdb_val: int  # held out from the train split for model selection
    imdb_test: int  # fixed balanced subset of the test split; 0 means all 25,000
    ag_train: int  # AG News rows for the source task (offline: carved from its test split)
    ag_val: int
    ag_from_train: bool  # AG News rows from its 120,000-row train split (else carved from its test split)
    encoder: EncoderSize
    original_models: bool  # bert-base, GPT-2, OPT-350m from the Hub (else CPU-scale stand-ins, online or not)
    epochs: int  # target-task epochs for the from-scratch encoder
    source_epochs: int  # AG News pre-training epochs
    batch_size: int
    evals_per_epoch: int  # validation points per epoch, for the training curves

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        imdb_train=64,
        imdb_val=32,
        imdb_test=64,
        ag_train=64,
        ag_val=32,
        ag_from_train=False,
        encoder=EncoderSize(vocab_size=2_000, d_model=32, num_heads=2, d_ff=64, num_layers=1, max_len=64),
        original_models=False,
        epochs=1,
        source_epochs=1,
        batch_size=16,
        evals_per_epoch=2,
    ),
    "book": Profile(
        name="book",
        imdb_train=5_000,
        imdb_val=1_000,
        imdb_test=5_000,
        ag_train=5_600,
        ag_val=1_000,
        ag_from_train=False,
        encoder=EncoderSize(vocab_size=20_000, d_model=128, num_heads=4, d_ff=256, num_layers=2, max_len=256),
        original_models=False,
        epochs=2,
        source_epochs=3,
        batch_size=32,
        evals_per_epoch=4,
    ),
    "full": Profile(
        name="full",
        imdb_train=22_900,  # 25,000 less validation and the copies of validation's texts (never on both sides)
        imdb_val=2_000,
        imdb_test=0,
        ag_train=114_000,
        ag_val=6_000,
        ag_from_train=True,
        encoder=EncoderSize(vocab_size=30_000, d_model=256, num_heads=4, d_ff=1_024, num_layers=4, max_len=512),
        original_models=True,
        epochs=3,
        source_epochs=2,
        batch_size=32,
        evals_per_epoch=4,
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """The profile named by ``name``, else by ``$TAP_PROFILE``, else ``book``."""
    name = name or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    try:
        return PROFILES[name]
    except (KeyError, TypeError):  # TypeError: not a name at all (a list, say)
        raise ValueError(
            f"Unknown run profile {name!r}. Valid profiles: {', '.join(PROFILES)}. "
            f"Set it with `export {PROFILE_ENV}=book` (or pass profile=...)."
        ) from None


def as_profile(profile: Profile | str | None = None) -> Profile:
    """``profile`` itself, or the profile it names (``None``: ``$TAP_PROFILE``, else ``book``), so
    that every experiment takes a ``Profile`` or its name and an unknown name fails at once."""
    return profile if isinstance(profile, Profile) else get_profile(profile)
