"""The models floor: the networks, written out (the mechanism modules ``encoder``, ``cnn``,
``pooled``, ``vector_classifier``) or loaded from the Hub (``pretrained``), word vectors
(``word_vectors``) and the masked LM as a classifier (``lm_finetune``). It imports only itself,
``tap.data``, ``tap.core`` and the mechanism modules; the mechanism modules import only torch,
transformers, safetensors, the standard library and each other.
"""
