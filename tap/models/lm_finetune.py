"""Chapter 03's classifier for "does pre-training pay?": the masked LM's encoder
(``tap.training.lm.masked_lm``), with its pre-trained weights or random ones of the same shape, and a new
classification head. Chapter 03's experiment fine-tunes it on labelled IMDB reviews."""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, BertForSequenceClassification, BertModel

from .pooled import MeanPooledClassifier
from .pretrained import quiet_transformers


def bert_classifier(path, pretrained: bool, pooling: str = "mean", num_classes: int = 2, seed: int = 0) -> nn.Module:
    """The masked LM's encoder (``pretrained=True``) or a randomly initialised one of the same
    shape, with a new classification head over the mean of its token vectors
    (``pooling="mean"``, ``tap.models.pooled.MeanPooledClassifier``: masked-LM pre-training never trains
    the ``[CLS]`` vector) or over BERT's pooled ``[CLS]`` vector (``"cls"``)."""
    torch.manual_seed(seed)
    with quiet_transformers():
        if pooling == "cls":
            if pretrained:
                return BertForSequenceClassification.from_pretrained(
                    path, num_labels=num_classes, hidden_dropout_prob=0.1
                )
            return BertForSequenceClassification(
                AutoConfig.from_pretrained(path, num_labels=num_classes, hidden_dropout_prob=0.1)
            )
        config = AutoConfig.from_pretrained(path, hidden_dropout_prob=0.1)
        bert = (
            BertModel.from_pretrained(path, config=config, add_pooling_layer=False)
            if pretrained
            else BertModel(config, add_pooling_layer=False)
        )
        return MeanPooledClassifier(bert, num_classes, dropout=0.1)
