"""The data floor: the Hub datasets or their offline copy, checked and split by content
(``datasets``), a reader's own labelled texts (``task_data``), words and ids (``text``), learned
subword tokenizers (``subwords``) and tokenised batches (``hf_data``). It imports only itself,
``tap.core`` and the mechanism modules.
"""
