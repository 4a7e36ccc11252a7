"""The Transformer Adaptation Playbook: the code behind the book's chapters.

The modules follow the data: data (``data``, ``hf_data``) → text (``text``, ``subwords``,
``word_vectors``) → models (``encoder``, ``cnn``, ``pooled``, ``vector_classifier``, ``models``,
``lm``) → methods (``submodules``, ``freezing``, ``parameter_counts``, ``probing``, ``adapters``, ``lora``, ``lora_io``, ``methods``)
→ training (``training``, ``inference``, ``generation``, ``multiclass``, ``instruct``,
``playbook``) → runs (``runs``: train, cache, record) → chapters (``chapters.chNN_*``: each
chapter's one ``experiment``) → report (``report``, ``plots``, ``provenance``). ``profiles``,
``cache``, ``hub`` and ``measure`` serve every floor. The README's "How the code is laid out"
has the table; ``tests/test_layering.py`` checks that no floor reaches up.
"""

import pandas as pd

from .cache import cached_run
from .data import ag_news_splits, imdb_splits
from .encoder import TransformerClassifier
from .parameter_counts import count_parameters
from .profiles import get_profile
from .training import TrainConfig, evaluate, train

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
