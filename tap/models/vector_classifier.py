"""The original study's word-vector classifier: frozen word vectors, averaged over a review's
words, then a small two-layer network — ``fc1`` (100 → 128), ReLU, and a linear head (the
study's ``fc2``). Chapter 05 adapts its ``fc1`` with LoRA, as the study did: at rank 2 that is
2·100 + 128·2 = 456 trainable weights instead of fc1's 100·128 = 12,800."""

from __future__ import annotations

import torch
from torch import nn

from .pooled import mean_pool

PAD_ID, UNK_ID = 0, 1  # tap.data.text.Vocabulary's ids for padding and for words without a vector


class WordVectorClassifier(nn.Module):
    """``vectors`` (``[vocabulary, dim]``, rows 0 and 1 for padding and unknown words) stay
    frozen; only ``fc1`` and ``head`` train."""

    def __init__(self, vectors: torch.Tensor, num_classes: int, hidden: int = 128) -> None:
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(vectors.float(), freeze=True, padding_idx=PAD_ID)
        self.fc1 = nn.Linear(vectors.shape[1], hidden)
        self.head = nn.Linear(hidden, num_classes)

    def mean_vector(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The average vector of the review's words that have one (padding and unknown words
        left out): ``[batch, tokens] -> [batch, dim]``; zeros for a review with none."""
        return mean_pool(self.embedding(input_ids), attention_mask.bool() & (input_ids != UNK_ID))

    def encode(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        mean_vectors: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """What the head reads: ``ReLU(fc1(mean vector))``, ``[batch, hidden]``. The vectors are
        frozen, so a review's mean vector never changes: pass it precomputed (``mean_vectors``)
        to train without looking up every word again at every step."""
        if mean_vectors is None:
            mean_vectors = self.mean_vector(input_ids, attention_mask)
        return torch.relu(self.fc1(mean_vectors))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        mean_vectors: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.head(self.encode(input_ids, attention_mask, mean_vectors))  # [batch, num_classes]

    def replace_head(self, num_classes: int) -> None:
        """A new, randomly initialised head for another task (the study's new ``fc2``)."""
        self.head = nn.Linear(self.head.in_features, num_classes)
