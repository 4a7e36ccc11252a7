"""A tiny from-scratch encoder and a padded batch for it: what the LoRA tests run on."""

import torch

from tap.models.encoder import EncoderSize, TransformerClassifier

SIZE = EncoderSize(vocab_size=40, d_model=16, num_heads=2, d_ff=32, num_layers=2, max_len=20)


def batch(n: int = 4, t: int = 12, vocab: int = 40, seed: int = 0) -> dict:
    """``n`` random reviews of ``t`` tokens, the second one padded after half its length."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, vocab, (n, t), generator=g)
    mask = torch.ones(n, t, dtype=torch.bool)
    mask[1, t // 2 :] = False
    return {"input_ids": ids.masked_fill(~mask, 0), "attention_mask": mask}


def encoder(seed: int = 0) -> TransformerClassifier:
    """The tiny encoder with seeded weights, in eval mode."""
    torch.manual_seed(seed)
    return TransformerClassifier(SIZE, 2).eval()
