"""The text pipeline of the from-scratch track: clean, split into words, map to ids
with a vocabulary built from the training text, truncate, and pad per batch."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

PAD, UNK = "<pad>", "<unk>"
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[!?.,;:()\"-]")


def clean(text: str) -> str:
    """Lower-case and replace IMDB's HTML line breaks (``<br />``) with spaces."""
    return _HTML_BREAK.sub(" ", text).lower()


def words(text: str) -> list[str]:
    """Split cleaned text into words and punctuation marks."""
    return _TOKEN.findall(clean(text))


@dataclass
class Vocabulary:
    """Word ↔ id map; id 0 is padding, id 1 stands for every word not in the vocabulary."""

    itos: list[str]

    def __post_init__(self) -> None:
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(cls, texts: Iterable[str], max_size: int, min_freq: int = 2) -> Vocabulary:
        """The ``max_size`` most frequent words (ties broken alphabetically, so the
        vocabulary is deterministic) that occur at least ``min_freq`` times."""
        counts = Counter(w for t in texts for w in words(t))
        ranked = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        return cls([PAD, UNK] + ranked[: max_size - 2])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, max_len: int) -> list[int]:
        """Token ids of ``text``, truncated to ``max_len``."""
        return [self.stoi.get(w, 1) for w in words(text)[:max_len]]

    def unknown_rate(self, texts: Iterable[str]) -> float:
        """Share of word tokens that fall outside the vocabulary."""
        ids = [self.stoi.get(w, 1) for t in texts for w in words(t)]
        return sum(i == 1 for i in ids) / max(len(ids), 1)


def pad_batch(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Dynamic padding: pad to the longest sequence in this batch, not to ``max_len``.
    Returns ``(input_ids, attention_mask)``, both ``[batch, longest]``."""
    longest = max(len(s) for s in sequences)
    ids = torch.zeros(len(sequences), longest, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    mask = torch.arange(longest)[None, :] < torch.tensor([len(s) for s in sequences])[:, None]
    return ids, mask


@dataclass
class EncodedDataset:
    """Token ids and labels of one split, ready for batching."""

    ids: list[list[int]]
    labels: list[int]

    @classmethod
    def from_texts(cls, texts: list[str], labels: list[int], vocab: Vocabulary, max_len: int) -> EncodedDataset:
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels.")
        # Reviews with no known word still need one token, or the mean pooling divides by 0.
        return cls([vocab.encode(t, max_len) or [1] for t in texts], list(labels))

    def __len__(self) -> int:
        return len(self.ids)

    def batches(
        self, batch_size: int, shuffle: bool, seed: int = 0, by_length: bool = False
    ) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        """Yield ``({"input_ids", "attention_mask"}, labels)``. Shuffled batches group reviews
        of similar length (within windows of 50 batches), which cuts padding and time.
        Unshuffled batches keep the split's order, or with ``by_length`` run from the shortest
        review to the longest: for evaluation, where the order does not matter, less padding
        means less time."""
        order = list(range(len(self)))
        if by_length and not shuffle:
            order.sort(key=lambda i: len(self.ids[i]))
        if shuffle:
            g = torch.Generator().manual_seed(seed)
            order = torch.randperm(len(self), generator=g).tolist()
            window = batch_size * 50
            order = [
                i
                for s in range(0, len(order), window)
                for i in sorted(order[s : s + window], key=lambda i: len(self.ids[i]))
            ]
        chunks = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
        if shuffle:
            chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=g).tolist()]
        for chunk in chunks:
            ids, mask = pad_batch([self.ids[i] for i in chunk])
            yield {"input_ids": ids, "attention_mask": mask}, torch.tensor([self.labels[i] for i in chunk])
