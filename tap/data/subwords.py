"""Chapter 03's tokenizers: a WordPiece tokenizer (BERT's, Wu et al., 2016) and a byte-level
BPE tokenizer (GPT-2's, Sennrich et al., 2016; Radford et al., 2019), both trained with the
``tokenizers`` library on IMDB's unlabelled reviews and saved as Hugging Face tokenizers.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from ..core.cache import cached_folder, source_digest
from ..core.hub import revision
from ..core.profiles import Profile, get_profile
from .datasets import split_of

BR = Regex(r"<br\s*/?>")  # IMDB's HTML line breaks become real ones
WORDPIECE_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
EOS, PAD = "<|endoftext|>", "<pad>"  # GPT-2's document separator; a distinct padding token


@dataclass(frozen=True)
class CorpusSize:
    """How much unlabelled text the language models see; part of every cache key."""

    heldout: int  # reviews kept out of tokenizer and LM training, for held-out perplexity
    max_reviews: int  # 0 means every unlabelled review
    vocab_size: int  # of both tokenizers
    tokenizer_reviews: int = 0  # training reviews the tokenizers learn from; 0 means all of them
    wikitext: bool = False  # add WikiText-2 from the Hub (the `full` profile only)

    def to_dict(self) -> dict:
        return asdict(self)


CORPUS = {
    "smoke": CorpusSize(heldout=40, max_reviews=400, vocab_size=1_000),
    "book": CorpusSize(heldout=500, max_reviews=0, vocab_size=8_000, tokenizer_reviews=10_000),
    "full": CorpusSize(heldout=1_000, max_reviews=0, vocab_size=30_000, wikitext=True),
}


def corpus_size(profile: Profile | None = None) -> CorpusSize:
    """The corpus and vocabulary sizes of a profile."""
    return CORPUS[(profile or get_profile()).name]


def _wikitext2() -> list[str]:
    """WikiText-2 (Merity et al., 2016) training lines, Hub only: the `full` profile's extra text."""
    from datasets import load_dataset

    lines = load_dataset(
        "Salesforce/wikitext", "wikitext-2-raw-v1", split="train", revision=revision("Salesforce/wikitext")
    )["text"]
    return [line for line in lines if line.strip()]


def unlabelled_texts(profile: Profile | None = None) -> tuple[list[str], list[str]]:
    """``(train, heldout)`` texts for language modelling: IMDB's unlabelled reviews in a
    seeded order, the last ``heldout`` of them kept apart (plus WikiText-2 in `full`)."""
    size = corpus_size(profile)
    reviews = split_of("imdb", "unsupervised")["text"]
    order = np.random.default_rng(0).permutation(len(reviews))
    if size.max_reviews:
        order = order[: size.max_reviews + size.heldout]
    texts = [reviews[i] for i in order]
    train, heldout = texts[: -size.heldout], texts[-size.heldout :]
    if size.wikitext:
        train = train + _wikitext2()
    return train, heldout


def _batches(texts: list[str], size: int = 1_000) -> Iterator[list[str]]:
    for start in range(0, len(texts), size):
        yield texts[start : start + size]


def bert_wordpiece(vocab: dict[str, int] | None = None) -> Tokenizer:
    """A WordPiece tokenizer (untrained without ``vocab``) that lower-cases and splits on
    spaces and punctuation, as BERT's does."""
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.Replace(BR, "\n"), normalizers.BertNormalizer(lowercase=True)])
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tok


def wordpiece_vocab(texts: list[str], vocab_size: int, special_tokens: list[str]) -> dict[str, int]:
    """WordPiece's training: merges learned from ``texts`` until the vocabulary holds
    ``vocab_size`` pieces (a piece must occur at least twice), the special tokens first."""
    tok = bert_wordpiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=special_tokens, min_frequency=2, show_progress=False
    )
    tok.train_from_iterator(_batches(texts), trainer, length=len(texts))
    return tok.get_vocab(with_added_tokens=False)


def train_wordpiece(texts: list[str], vocab_size: int, max_len: int = 512) -> PreTrainedTokenizerFast:
    """BERT's recipe: lower-case, split on spaces and punctuation, then greedy longest-match
    subwords (``##`` marks a continuation); ``[CLS] text [SEP]`` around every input.

    Trained in two passes so that every process gives the same pieces and ids. The trainer
    numbers the ``##x`` continuation characters in Rust hash-map order (new in every process)
    and breaks ties between equally frequent merges by id, which changes the ids and sometimes
    the pieces themselves. A first pass without merges lists those characters; the second
    gives them fixed ids, in string order after the special tokens, before any merge."""
    first = wordpiece_vocab(texts, 0, WORDPIECE_SPECIALS)
    continuations = sorted(piece for piece in first if piece.startswith("##"))
    tok = bert_wordpiece(wordpiece_vocab(texts, vocab_size, WORDPIECE_SPECIALS + continuations))
    tok.add_special_tokens(WORDPIECE_SPECIALS)  # only these are added tokens, not the continuations
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_len,
    )


def train_bpe(texts: list[str], vocab_size: int, max_len: int = 1024) -> PreTrainedTokenizerFast:
    """GPT-2's recipe: text as UTF-8 bytes, merges of frequent byte pairs; every string has
    an encoding (no unknown token) and decoding gives the text back exactly."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Replace(BR, "\n")
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_batches(texts), trainer, length=len(texts))
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=PAD,
        model_max_length=max_len,
        clean_up_tokenization_spaces=False,
    )


def _cached_tokenizer(kind: str, profile: Profile | None) -> PreTrainedTokenizerFast:
    p = profile or get_profile()
    size = corpus_size(p)
    train = {"wordpiece": train_wordpiece, "bpe": train_bpe}[kind]

    def compute(folder: Path) -> dict:
        texts, _ = unlabelled_texts(p)
        texts = texts[: size.tokenizer_reviews or None]  # a subset saves time; 8,000 pieces need no more
        tokenizer = train(texts, size.vocab_size)
        tokenizer.save_pretrained(folder)
        return {"kind": kind, "vocab_size": len(tokenizer), "train_texts": len(texts)}

    config = {"profile": p.name, "corpus": size.to_dict(), "code": source_digest(sys.modules[__name__])}
    folder, _ = cached_folder(f"tokenizer-{kind}", config, compute)
    return AutoTokenizer.from_pretrained(folder)


def wordpiece_tokenizer(profile: Profile | None = None) -> PreTrainedTokenizerFast:
    """The WordPiece tokenizer trained on the unlabelled reviews (cached)."""
    return _cached_tokenizer("wordpiece", profile)


def bpe_tokenizer(profile: Profile | None = None) -> PreTrainedTokenizerFast:
    """The byte-level BPE tokenizer trained on the unlabelled reviews (cached)."""
    return _cached_tokenizer("bpe", profile)


def unknown_rate(tokenizer: PreTrainedTokenizerFast, texts: list[str]) -> float:
    """Share of a tokenizer's tokens (special tokens excluded) that stand for unknown text.
    Byte-level BPE has none by construction (its ``unk_token`` is only a placeholder)."""
    if tokenizer.unk_token == tokenizer.eos_token:
        return 0.0
    ids = [i for row in tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"] for i in row]
    return sum(i == tokenizer.unk_token_id for i in ids) / max(len(ids), 1)
