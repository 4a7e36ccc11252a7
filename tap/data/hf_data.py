"""Reviews tokenised by a Hugging Face tokenizer, as a batch source for ``tap.training.loop.train``.

The from-scratch track maps words to ids with its own vocabulary (``tap.data.text``); pre-trained
models need their own subword tokenizer. Everything after tokenisation — dynamic padding,
length-grouped shuffling, ``(inputs, labels)`` batches — is ``tap.data.text.EncodedDataset``'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from .text import EncodedDataset


@dataclass
class TokenizedDataset(EncodedDataset):
    """Subword ids (with the tokenizer's special tokens), labels, and the padding id."""

    pad_id: int = 0

    @classmethod
    def from_tokenizer(cls, tokenizer, texts: Sequence[str], labels: Sequence[int], max_len: int) -> TokenizedDataset:
        """Tokenise ``texts``, truncated to ``max_len`` tokens ([CLS] and [SEP] included)."""
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels.")
        ids = tokenizer(list(texts), truncation=True, max_length=max_len)["input_ids"]
        return cls(ids=ids, labels=[int(y) for y in labels], pad_id=tokenizer.pad_token_id or 0)

    def batches(
        self, batch_size: int, shuffle: bool, seed: int = 0, by_length: bool = False
    ) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        """``({"input_ids", "attention_mask"}, labels)``, padded to the longest review in the batch;
        the mask is 0/1 integers, as Hugging Face models expect."""
        for inputs, labels in super().batches(batch_size, shuffle, seed, by_length):
            mask = inputs["attention_mask"]
            ids = inputs["input_ids"].masked_fill(~mask, self.pad_id) if self.pad_id else inputs["input_ids"]
            yield {"input_ids": ids, "attention_mask": mask.long()}, labels
