"""A Transformer encoder classifier written out (Vaswani et al., 2017), small enough to
train on a CPU. Module names are stable on purpose: chapters 04 and 05 insert adapters
after ``attention.output`` / ``feed_forward.down`` and LoRA into ``attention.query`` etc."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class EncoderSize:
    """Shape of the from-scratch Transformer encoder (chapter 01)."""

    vocab_size: int
    d_model: int
    num_heads: int
    d_ff: int
    num_layers: int
    max_len: int


def sinusoidal_positions(max_len: int, d_model: int) -> torch.Tensor:
    """``PE[pos, 2i] = sin(pos / 10000^(2i/d))``, ``PE[pos, 2i+1] = cos(...)``: ``[max_len, d_model]``."""
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10_000.0) / d_model))
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: d_model // 2])
    return pe


class MultiHeadSelfAttention(nn.Module):
    """softmax(Q Kᵀ / √d_head) V per head; padded keys are masked out."""

    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}.")
        self.num_heads = num_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.output = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape  # [batch, tokens, d_model]

        def heads(proj: nn.Module) -> torch.Tensor:  # -> [batch, heads, tokens, d_head]
            return proj(x).view(b, t, self.num_heads, d // self.num_heads).transpose(1, 2)

        keep = mask[:, None, None, :]  # [batch, 1, 1, tokens]: True where a key is a real token
        attended = F.scaled_dot_product_attention(
            heads(self.query), heads(self.key), heads(self.value), attn_mask=keep
        )
        return self.output(attended.transpose(1, 2).reshape(b, t, d))


class FeedForward(nn.Module):
    """Position-wise ``down(GELU(up(x)))``."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, d_ff)
        self.down = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class EncoderLayer(nn.Module):
    """Post-norm layer as in the original Transformer and BERT:
    ``x = LN(x + attention(x))``, then ``x = LN(x + feed_forward(x))``."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.attention = MultiHeadSelfAttention(d_model, num_heads)
        self.attention_norm = nn.LayerNorm(d_model)
        self.feed_forward = FeedForward(d_model, d_ff)
        self.feed_forward_norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)  # on the residual branches only: attention dropout is slow on CPU

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.attention_norm(x + self.dropout(self.attention(x, mask)))  # shortcut around attention
        return self.feed_forward_norm(x + self.dropout(self.feed_forward(x)))


class TransformerClassifier(nn.Module):
    """Embeddings + sinusoidal positions → encoder layers → masked mean pooling → ``head``."""

    def __init__(self, size: EncoderSize, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.size = size
        self.embedding = nn.Embedding(size.vocab_size, size.d_model, padding_idx=0)
        # std d^-1/2, so the embeddings scaled by √d below have unit variance, like the positions.
        nn.init.normal_(self.embedding.weight, std=size.d_model**-0.5)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.register_buffer("positions", sinusoidal_positions(size.max_len, size.d_model), persistent=False)
        self.embedding_dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(size.d_model, size.num_heads, size.d_ff, dropout) for _ in range(size.num_layers)
        )
        self.head = nn.Linear(size.d_model, num_classes)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the final hidden states over real (non-padding) tokens: ``[batch, d_model]``."""
        t = input_ids.shape[1]
        if t > self.size.max_len:
            raise ValueError(f"Sequence of {t} tokens exceeds max_len={self.size.max_len}; truncate the input.")
        x = self.embedding(input_ids) * math.sqrt(self.size.d_model) + self.positions[:t]
        x = self.embedding_dropout(x)
        for layer in self.layers:
            x = layer(x, attention_mask)
        m = attention_mask.unsqueeze(-1).to(x.dtype)  # [batch, tokens, 1]
        return (x * m).sum(1) / m.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Class logits ``[batch, num_classes]``."""
        return self.head(self.encode(input_ids, attention_mask))

    def replace_head(self, num_classes: int, seed: int = 0) -> None:
        """A new, freshly initialised classification head (for a new task)."""
        torch.manual_seed(seed)
        self.head = nn.Linear(self.size.d_model, num_classes)
