"""In-domain pre-training at its cheapest: word2vec (Mikolov et al., 2013) trained on
IMDB's 50,000 unlabelled reviews, used to initialise the encoder's embedding table."""
from __future__ import annotations

import zlib

import numpy as np
import torch

from .text import Vocabulary, words


def _stable_hash(word: str) -> int:
    """gensim seeds each word's vector with a hash; Python's own ``hash`` changes per process."""
    return zlib.crc32(word.encode())


def train_word_vectors(texts: list[str], vocab: Vocabulary, dim: int, epochs: int = 1, seed: int = 0) -> torch.Tensor:
    """CBOW word2vec on ``texts``; returns a ``[len(vocab), dim]`` table scaled to the
    encoder's initial scale (std ``dim**-0.5``). Words word2vec never saw keep a seeded random
    vector; row 0 (padding) is zero. One worker thread, so the result is deterministic."""
    from gensim.models import Word2Vec

    w2v = Word2Vec([words(t) for t in texts], vector_size=dim, window=5, min_count=2, sg=0,
                   workers=1, epochs=epochs, seed=seed, hashfxn=_stable_hash)
    known = [i for i, w in enumerate(vocab.itos) if w in w2v.wv.key_to_index]
    learned = np.stack([w2v.wv[vocab.itos[i]] for i in known])
    table = torch.randn(len(vocab), dim, generator=torch.Generator().manual_seed(seed))
    table[known] = torch.from_numpy(learned / learned.std())
    table[0] = 0.0
    return table * dim**-0.5
