"""The Transformer Adaptation Playbook: the code behind the book's chapters.

Each module sits next to the chapter that explains it:
``data``/``text``/``encoder``/``training``/``transfer`` (chapter 01), ``cache`` and
``profiles`` (how runs are stored and sized), ``plots`` (every figure), ``measure`` (costs).
"""
import pandas as pd

from .cache import cached_run
from .data import ag_news_splits, imdb_splits
from .encoder import TransformerClassifier
from .efficient import count_parameters
from .profiles import get_profile
from .training import TrainConfig, evaluate, train

__all__ = ["cached_run", "ag_news_splits", "imdb_splits", "TransformerClassifier", "count_parameters",
           "get_profile", "TrainConfig", "evaluate", "train"]
__version__ = "0.1.0"
# Tables on the book's pages show every cell whole: pandas' default cuts text at 50 characters,
# hiding the generated samples and settings a reader came to see.
pd.set_option("display.max_colwidth", None)
__book__ = "The Transformer Adaptation Playbook"  # tells this package from others named `tap`
