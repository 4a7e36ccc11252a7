"""The Transformer Adaptation Playbook: the code behind the book's chapters.

The subpackages follow the data, each a floor that uses only itself and the floors below it:
``data`` (datasets, a reader's own texts, words, subwords, tokenised batches) → ``models`` (the
networks, written out or from the Hub, and word vectors) → ``methods`` (what each adaptation
method is, behind one ``registry``) → ``training`` (loops, baselines, inference, generation, the
book's language models) → ``pages`` (figures, diagrams, provenance, exercises) → ``playbook``
(every method compared, on the book's data or a reader's own) → ``chapters`` (each chapter's one
``experiment``, and the run ``harness``). ``core`` (profiles, caches, Hub revisions, measurement,
devices, intervals, the wording of numbers) serves every floor; ``plan``, ``throughput`` and the
command line (``__main__``) sit above the chapters. The README's "How the code is laid out" has
the table; ``tests/test_layering.py`` checks that no floor reaches up.
"""

import pandas as pd

from .core.cache import cached_run
from .core.profiles import get_profile
from .data.datasets import ag_news_splits, imdb_splits
from .methods.parameter_counts import count_parameters
from .models.encoder import TransformerClassifier
from .training.loop import TrainConfig, evaluate, train

__all__ = [
    "cached_run",
    "ag_news_splits",
    "imdb_splits",
    "TransformerClassifier",
    "count_parameters",
    "get_profile",
    "TrainConfig",
    "evaluate",
    "train",
]
__version__ = "0.1.0"
# Tables on the book's pages show every cell whole: pandas' default cuts text at 50 characters,
# hiding the generated samples and settings a reader came to see.
pd.set_option("display.max_colwidth", None)
__book__ = "The Transformer Adaptation Playbook"  # tells this package from others named `tap`
