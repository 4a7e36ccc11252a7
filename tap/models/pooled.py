"""Mean pooling, and the one classifier built on it: a pre-trained encoder, the masked mean of
its token vectors, dropout and a linear ``head``.

Why not ``AutoModelForSequenceClassification``? Its head reads the ``[CLS]`` token through a
``pooler`` layer learned by next-sentence prediction. Masked-LM pre-training (chapter 03) never
trains that vector, and all-MiniLM-L6-v2 (chapters 02, 04–08) was trained to be read by mean
pooling, so averaging the token vectors uses what pre-training did learn from the first step.
"""

from __future__ import annotations

import torch
from torch import nn


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors over real tokens only: ``[batch, tokens, d] -> [batch, d]``."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # [batch, tokens, 1]
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class MeanPooledClassifier(nn.Module):
    """``bert`` (any Hugging Face encoder with ``last_hidden_state``) → masked mean → dropout →
    ``head``. The dropout rate defaults to the encoder's own ``hidden_dropout_prob``."""

    def __init__(self, bert: nn.Module, num_classes: int = 2, dropout: float | None = None) -> None:
        super().__init__()
        self.bert = bert
        self.config = bert.config
        self.dropout = nn.Dropout(bert.config.hidden_dropout_prob if dropout is None else dropout)
        self.head = nn.Linear(bert.config.hidden_size, num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs) -> torch.Tensor:
        """Logits ``[batch, num_classes]``; extra tokenizer outputs (``token_type_ids``) are ignored."""
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [batch, tokens, d]
        return self.head(self.dropout(mean_pool(hidden, attention_mask)))
