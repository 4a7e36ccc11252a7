"""Chapter 03's language models, pre-trained on IMDB's unlabelled reviews with
``transformers.Trainer``: a small BERT with the masked-LM objective (Devlin et al., 2019)
and a small GPT-2 with the causal-LM objective (Radford et al., 2019).

``masked_lm()`` and ``causal_lm()`` return a cached folder that loads with
``AutoModelForMaskedLM`` / ``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained(path)``;
its ``record.json`` holds the loss and held-out perplexity history. Later chapters use them
as offline base models (chapter 02 generates text with the causal LM, chapter 06 instruction-tunes it).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import (
    BertConfig,
    BertForMaskedLM,
    DataCollatorForLanguageModeling,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedModel,
    PrinterCallback,
    Trainer,
    TrainingArguments,
)

from ..core.cache import cached_folder, source_digest
from ..core.measure import hardware, timer, track_peak_memory
from ..core.profiles import Profile, get_profile
from ..data import subwords
from ..data.subwords import bpe_tokenizer, corpus_size, unlabelled_texts, wordpiece_tokenizer
from ..methods.parameter_counts import count_parameters

__all__ = [
    "LMSize",
    "LMRun",
    "masked_lm",
    "causal_lm",
    "pretrain_masked_lm",
    "pretrain_causal_lm",
    "wordpiece_tokenizer",
    "bpe_tokenizer",
    "read_record",
]


@dataclass(frozen=True)
class LMSize:
    """Shape and training budget of a small language model; part of its cache key."""

    d_model: int
    num_layers: int
    num_heads: int
    d_ff: int
    block_size: int  # tokens per training sequence (the context length)
    train_tokens: int  # tokens seen in pre-training; 0 means the whole corpus
    batch_size: int
    lr: float
    evals: int  # held-out evaluations during training, for the curves
    heldout_blocks: int = 128  # held-out sequences scored at each evaluation
    epochs: int = 1
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    mlm_probability: float = 0.15
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


MLM_SIZES = {
    "smoke": LMSize(
        d_model=32,
        num_layers=1,
        num_heads=2,
        d_ff=64,
        block_size=64,
        train_tokens=16_384,
        batch_size=16,
        lr=2e-3,
        evals=4,
        heldout_blocks=16,
    ),
    "book": LMSize(
        d_model=128,
        num_layers=2,
        num_heads=4,
        d_ff=512,
        block_size=128,
        train_tokens=655_360,
        batch_size=16,
        lr=1e-3,
        evals=8,
    ),  # ~2 minutes on 2 cores: the chapter's 5-minute budget
    "full": LMSize(
        d_model=256,
        num_layers=4,
        num_heads=4,
        d_ff=1_024,
        block_size=256,
        train_tokens=0,
        batch_size=32,
        lr=5e-4,
        evals=10,
        heldout_blocks=512,
    ),
}
CLM_SIZES = {
    "smoke": MLM_SIZES["smoke"],
    "book": LMSize(
        d_model=128,
        num_layers=2,
        num_heads=4,
        d_ff=512,
        block_size=128,
        train_tokens=524_288,
        batch_size=16,
        lr=1e-3,
        evals=8,
    ),
    "full": MLM_SIZES["full"],
}


@dataclass
class LMRun:
    """A pre-trained language model: the folder it is saved in and its run record."""

    path: Path
    record: dict


def read_record(path: Path | str) -> dict:
    """The run record stored beside a saved model (history, perplexity, cost)."""
    return json.loads((Path(path) / "record.json").read_text())


def token_blocks(
    tokenizer, texts: list[str], block_size: int, max_tokens: int = 0, add_eos: bool = False
) -> list[list[int]]:
    """Concatenate the tokenised texts and cut them into ``block_size``-token sequences, so
    no position is padding. BERT's texts keep their ``[CLS] … [SEP]``; a causal LM's get an
    end-of-text token after each, so the model learns where a review ends."""
    blocks, buffer, chunk = [], [], 500
    for start in range(0, len(texts), chunk):
        for ids in tokenizer(texts[start : start + chunk], verbose=False)["input_ids"]:
            buffer.extend(ids + ([tokenizer.eos_token_id] if add_eos else []))
        while len(buffer) >= block_size:
            blocks.append(buffer[:block_size])
            buffer = buffer[block_size:]
        if max_tokens and len(blocks) * block_size >= max_tokens:
            return blocks[: max_tokens // block_size]
    return blocks


class MaskedLMCollator:
    """``DataCollatorForLanguageModeling`` for training (fresh random masks every batch);
    held-out examples arrive already masked once, with a fixed seed, so every evaluation
    scores the same masked positions and the perplexity curve is comparable point to point."""

    def __init__(self, tokenizer, mlm_probability: float = 0.15, seed: int = 0) -> None:
        self.masker = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability, seed=seed)

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        if "labels" in features[0]:
            return {k: torch.tensor([f[k] for f in features]) for k in ("input_ids", "labels")}
        return self.masker(features)

    def mask_once(self, blocks: list[list[int]]) -> list[dict]:
        batch = self.masker([{"input_ids": b} for b in blocks])
        return [{"input_ids": i.tolist(), "labels": l.tolist()} for i, l in zip(batch["input_ids"], batch["labels"])]


def _history(log: list[dict], tokens_per_step: int) -> list[dict]:
    """Trainer's log → one point per evaluation: step, tokens seen, train and held-out loss, perplexity."""
    points, train_losses = [], {e["step"]: e["loss"] for e in log if "loss" in e}
    for e in log:
        if "eval_loss" in e:
            points.append(
                {
                    "step": e["step"],
                    "tokens": e["step"] * tokens_per_step,
                    "train_loss": train_losses.get(e["step"]),
                    "val_loss": e["eval_loss"],
                    "val_perplexity": math.exp(min(e["eval_loss"], 50.0)),
                }
            )
    return points


def pretrain(model: PreTrainedModel, tokenizer, train: list, heldout: list, collator, size: LMSize) -> dict:
    """Pre-train ``model`` with ``transformers.Trainer``, evaluating on the held-out
    sequences before training and ``size.evals`` times during it; returns the run record."""
    steps = math.ceil(len(train) / size.batch_size) * size.epochs
    every = max(1, steps // size.evals)
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            per_device_train_batch_size=size.batch_size,
            per_device_eval_batch_size=64,
            learning_rate=size.lr,
            weight_decay=size.weight_decay,
            warmup_steps=int(size.warmup_ratio * steps),
            lr_scheduler_type="linear",
            optim="adamw_torch",
            num_train_epochs=size.epochs,
            eval_strategy="steps",
            eval_steps=every,
            logging_steps=every,
            save_strategy="no",
            report_to="none",
            seed=size.seed,
            disable_tqdm=True,
            dataloader_num_workers=0,
            dataloader_pin_memory=False,
            remove_unused_columns=False,
        )
        trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=heldout, data_collator=collator)
        trainer.remove_callback(PrinterCallback)  # the record keeps the log; no printed dicts
        start = trainer.evaluate()["eval_loss"]
        with track_peak_memory() as mem, timer() as clock:
            trainer.train()
        if steps % every:  # the last step fell between two evaluations: score the final weights too
            trainer.evaluate()
        log = [{"step": 0, "eval_loss": start}] + trainer.state.log_history
    tokens = len(train) * size.block_size * size.epochs
    history = _history(log, size.batch_size * size.block_size)
    return {
        "history": history,
        "final_val_loss": history[-1]["val_loss"],
        "final_val_perplexity": history[-1]["val_perplexity"],
        "steps": steps,
        "train_sequences": len(train),
        "heldout_sequences": len(heldout),
        "train_tokens": tokens,
        "wall_time_s": clock["seconds"],
        "tokens_per_s": tokens / clock["seconds"],
        "size": size.to_dict(),
        "hardware": hardware(),
        **mem,
        **count_parameters(model),
    }


def _code() -> str:
    """What the cached models depend on: this module and the tokenizers' (not ``tap.data.datasets``,
    which many chapters edit; the corpus it loads is fixed)."""
    return source_digest(subwords, sys.modules[__name__])


def _corpus_blocks(tokenizer, profile: Profile, size: LMSize, add_eos: bool) -> tuple[list, list]:
    texts, heldout_texts = unlabelled_texts(profile)
    train = token_blocks(tokenizer, texts, size.block_size, size.train_tokens, add_eos)
    heldout = token_blocks(tokenizer, heldout_texts, size.block_size, size.heldout_blocks * size.block_size, add_eos)
    return train, heldout


def bert_config(tokenizer, size: LMSize, **overrides) -> BertConfig:
    """A BERT sized by ``size``, with the tokenizer's vocabulary and padding id."""
    settings = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, **overrides}
    return BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=size.d_model,
        num_hidden_layers=size.num_layers,
        num_attention_heads=size.num_heads,
        intermediate_size=size.d_ff,
        max_position_embeddings=size.block_size,
        pad_token_id=tokenizer.pad_token_id,
        **settings,
    )


def gpt2_config(tokenizer, size: LMSize) -> GPT2Config:
    """A GPT-2 sized by ``size``; end-of-text doubles as BOS/EOS, padding has its own id.
    No dropout: one pass over fresh text cannot overfit, and dropout costs CPU time."""
    return GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=size.block_size,
        n_embd=size.d_model,
        n_layer=size.num_layers,
        n_head=size.num_heads,
        n_inner=size.d_ff,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _saved(folder: Path, model, tokenizer, record: dict) -> dict:
    """Save the trained model and its tokenizer into the cache entry's folder; return the record."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return record


def _cached_lm(name: str, p: Profile, size: LMSize, compute) -> LMRun:
    """The cached language model ``name`` of profile ``p``, pre-trained by ``compute`` when missing."""
    config = {"profile": p.name, "corpus": corpus_size(p).to_dict(), "size": size.to_dict(), "code": _code()}
    return LMRun(*cached_folder(name, config, compute))


def pretrain_masked_lm(profile: Profile | None = None) -> LMRun:
    """A small BERT pre-trained with masked-LM on the unlabelled reviews (cached)."""
    p = profile or get_profile()
    size = MLM_SIZES[p.name]

    def compute(folder: Path) -> dict:
        tokenizer = wordpiece_tokenizer(p)
        tokenizer.model_max_length = size.block_size
        train, heldout = _corpus_blocks(tokenizer, p, size, add_eos=False)
        torch.manual_seed(size.seed)
        model = BertForMaskedLM(bert_config(tokenizer, size))
        collator = MaskedLMCollator(tokenizer, size.mlm_probability, seed=size.seed)
        record = pretrain(
            model, tokenizer, [{"input_ids": b} for b in train], collator.mask_once(heldout), collator, size
        )
        return _saved(folder, model, tokenizer, {**record, "objective": "masked LM"})

    return _cached_lm("masked-lm", p, size, compute)


def pretrain_causal_lm(profile: Profile | None = None) -> LMRun:
    """A small GPT-2 pre-trained with next-token prediction on the unlabelled reviews (cached)."""
    p = profile or get_profile()
    size = CLM_SIZES[p.name]

    def compute(folder: Path) -> dict:
        tokenizer = bpe_tokenizer(p)
        tokenizer.model_max_length = size.block_size
        train, heldout = _corpus_blocks(tokenizer, p, size, add_eos=True)
        torch.manual_seed(size.seed)
        model = GPT2LMHeadModel(gpt2_config(tokenizer, size))
        collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
        record = pretrain(
            model, tokenizer, [{"input_ids": b} for b in train], [{"input_ids": b} for b in heldout], collator, size
        )
        return _saved(folder, model, tokenizer, {**record, "objective": "causal LM"})

    return _cached_lm("causal-lm", p, size, compute)


def masked_lm(profile: Profile | None = None) -> Path:
    """Folder of the pre-trained masked LM: ``AutoModelForMaskedLM.from_pretrained(path)``."""
    return pretrain_masked_lm(profile).path


def causal_lm(profile: Profile | None = None) -> Path:
    """Folder of the pre-trained causal LM: ``AutoModelForCausalLM.from_pretrained(path)``."""
    return pretrain_causal_lm(profile).path
