"""Chapter 05's non-Transformer model: a convolutional text classifier in the style of
Kim (2014), whose convolutions are written as linear layers over windows of tokens, so the
same ``tap.methods.lora.apply_lora`` that adapts a Transformer's projections adapts its filters."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WindowConv(nn.Module):
    """A 1-D convolution over tokens as ``filters``, an ``nn.Linear`` applied to every window
    of ``width`` consecutive token vectors (flattened to ``width · d_in`` numbers). Same
    arithmetic as ``nn.Conv1d``; the weight is a plain matrix LoRA can wrap."""

    def __init__(self, d_in: int, num_filters: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.filters = nn.Linear(width * d_in, num_filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape  # [batch, tokens, d_in]
        if t < self.width:
            x = F.pad(x, (0, 0, 0, self.width - t))
        windows = x.unfold(1, self.width, 1)  # [batch, windows, d_in, width]
        windows = windows.transpose(2, 3).reshape(b, windows.shape[1], self.width * d)
        return self.filters(windows)  # [batch, windows, num_filters]


class TextCNN(nn.Module):
    """Embeddings → convolutions of several widths → ReLU → max over the review → ``head``."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        d_embed: int = 64,
        num_filters: int = 64,
        widths: tuple[int, ...] = (3, 4, 5),
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_embed, padding_idx=0)
        self.convs = nn.ModuleList(WindowConv(d_embed, num_filters, w) for w in widths)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(num_filters * len(widths), num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.embedding(input_ids)  # [batch, tokens, d_embed]
        lengths = attention_mask.sum(1)  # real tokens per review
        pooled = []
        for conv in self.convs:
            scores = F.relu(conv(x))  # [batch, windows, filters]
            # a window counts only if it lies inside the review (short reviews keep window 0)
            starts = torch.arange(scores.shape[1], device=x.device)[None, :]
            valid = (starts + conv.width <= lengths[:, None]) | (starts == 0)
            pooled.append(scores.masked_fill(~valid[..., None], 0.0).amax(1))  # ReLU ≥ 0, so 0 is neutral
        return self.head(self.dropout(torch.cat(pooled, -1)))

    def replace_head(self, num_classes: int, seed: int = 0) -> None:
        """A new, freshly initialised classification head (for a new task)."""
        torch.manual_seed(seed)
        self.head = nn.Linear(self.head.in_features, num_classes)
