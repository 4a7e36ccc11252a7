"""Chapter 03's question, "does pre-training pay?": the same small BERT fine-tuned on
labelled IMDB reviews from the masked LM's weights (``tap.lm.masked_lm``) or from random
weights, with chapter 01's training loop, subsets and test set."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn
from transformers import AutoConfig, AutoTokenizer, BertForSequenceClassification, BertModel
from transformers.utils import logging as hf_logging

from . import lm, subwords
from .cache import source_digest
from .data import imdb_splits
from .hf_data import TokenizedDataset
from .profiles import Profile, get_profile
from .training import TrainConfig
from .transfer import EncodedTask, Run, run_classifier

FINETUNE_MAX_LEN = {"smoke": 64, "book": 128, "full": 256}  # the masked LM's context length


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence ``transformers``' informational warnings (e.g. 'newly initialised head')
    for the block; the chapter explains those facts in prose instead."""
    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


class MeanPooledBert(nn.Module):
    """A BERT encoder, a masked mean over the review's tokens and a linear head: chapter 01's
    classifier design. Masked-LM pre-training never trains the ``[CLS]`` vector or BERT's
    pooler (those come from next-sentence prediction), so averaging the token vectors uses
    what pre-training did learn from the first step."""

    def __init__(self, bert: BertModel, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.bert, self.dropout = bert, nn.Dropout(dropout)
        self.head = nn.Linear(bert.config.hidden_size, num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [batch, tokens, d]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)  # [batch, d]
        return self.head(self.dropout(pooled))


def imdb_task(profile: Profile, tokenizer) -> EncodedTask:
    """Chapter 01's IMDB subsets (same reviews, same test set), tokenised with WordPiece."""
    splits = imdb_splits(profile)
    max_len = FINETUNE_MAX_LEN[profile.name]

    def enc(ds) -> TokenizedDataset:
        return TokenizedDataset.from_tokenizer(tokenizer, ds["text"], ds["label"], max_len)
    return EncodedTask(splits, enc(splits.train), enc(splits.val), enc(splits.test))


def bert_classifier(path, pretrained: bool, pooling: str = "mean", num_classes: int = 2, seed: int = 0) -> nn.Module:
    """The masked LM's encoder (``pretrained=True``) or a randomly initialised one of the same
    shape, with a new classification head over the mean of its token vectors
    (``pooling="mean"``) or over BERT's pooled ``[CLS]`` vector (``"cls"``)."""
    torch.manual_seed(seed)
    with quiet_transformers():
        if pooling == "cls":
            if pretrained:
                return BertForSequenceClassification.from_pretrained(path, num_labels=num_classes, hidden_dropout_prob=0.1)
            return BertForSequenceClassification(AutoConfig.from_pretrained(path, num_labels=num_classes,
                                                                            hidden_dropout_prob=0.1))
        config = AutoConfig.from_pretrained(path, hidden_dropout_prob=0.1)
        bert = (BertModel.from_pretrained(path, config=config, add_pooling_layer=False) if pretrained
                else BertModel(config, add_pooling_layer=False))
        return MeanPooledBert(bert, num_classes)


def finetune_bert(profile: Profile | None = None, pretrained: bool = True, lr: float = 1e-3, epochs: int = 1,
                  pooling: str = "mean") -> Run:
    """Fine-tune a BERT classifier on IMDB: starting from the masked LM's weights
    (``pretrained=True``) or from random weights of the same architecture. Cached."""
    p = profile or get_profile()
    mlm = lm.pretrain_masked_lm(p)
    tokenizer = AutoTokenizer.from_pretrained(mlm.path)
    task = imdb_task(p, tokenizer)

    def build() -> nn.Module:
        return bert_classifier(mlm.path, pretrained, pooling)

    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=p.batch_size, evals_per_epoch=p.evals_per_epoch)
    key = {"profile": p.name, "masked_lm": mlm.record["config"], "pretrained": pretrained, "pooling": pooling,
           "max_len": FINETUNE_MAX_LEN[p.name], "imdb": task.splits.sizes(),
           "code": source_digest(subwords, lm, sys.modules[__name__])}
    name = "imdb-bert-mlm-finetune" if pretrained else "imdb-bert-from-scratch"
    return run_classifier(name, key, build, task, cfg)


