"""The training floor: the training loop (``loop``), the classical baselines (``baselines``),
inference and generation tools (``inference``, ``generation``), multi-class fine-tuning and
instruction tuning (``multiclass``, ``instruct``), the book's language models (``lm``) and the
models that exist only on the Hub (``hub_models``). It imports only itself and the floors below
(``tap.methods``, ``tap.models``, ``tap.data``, ``tap.core``).
"""
