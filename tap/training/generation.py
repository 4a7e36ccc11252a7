"""Generating text with a causal language model, written out (chapter 02): the greedy decoding
loop with and without the KV cache, what the cache saves per token, the logit filters of
sampling (temperature, top-k, top-p), and how the decoding strategy changes a continuation."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..core.measure import time_steps

# The decoding strategies compared with ``generate()``: its keyword arguments for each.
SAMPLING = {
    "greedy": {"do_sample": False},
    "top-k (k=50)": {"do_sample": True, "top_k": 50, "top_p": 1.0},
    "top-p (p=0.9)": {"do_sample": True, "top_k": 0, "top_p": 0.9},
    "temperature 0.7": {"do_sample": True, "top_k": 0, "top_p": 1.0, "temperature": 0.7},
    "temperature 1.3": {"do_sample": True, "top_k": 0, "top_p": 1.0, "temperature": 1.3},
}


@torch.inference_mode()
def greedy_decode(
    model: nn.Module,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    use_cache: bool = True,
    eos_token_id: int | None = None,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """The decoding loop written out: feed the sequence, take the most likely next token
    (argmax of the last position's logits), append it, repeat. With ``use_cache`` the keys
    and values of earlier positions are kept (the KV cache) and only the new token is fed;
    without it the whole sequence is recomputed at every step. ``on_step()`` is called after
    each step (to time it). ``[1, prompt + new]``."""
    model.eval()
    ids, past, feed = input_ids, None, input_ids
    for _ in range(max_new_tokens):
        out = model(
            input_ids=feed, cache=past, use_cache=use_cache
        )  # transformers 5: `cache`, formerly `past_key_values`
        next_id = out.logits[:, -1, :].argmax(-1, keepdim=True)  # [batch, 1]
        ids = torch.cat([ids, next_id], dim=1)
        if use_cache:
            past, feed = out.cache, next_id
        else:
            feed = ids
        if on_step is not None:
            on_step()
        if eos_token_id is not None and bool((next_id == eos_token_id).all()):
            break
    return ids


def decoding_cost(model: nn.Module, input_ids: torch.Tensor, max_new_tokens: int, repeats: int = 3) -> pd.DataFrame:
    """Milliseconds per generated token at each step, with and without the KV cache
    (``measure.time_steps``: median over ``repeats`` runs after a warm-up run, the two
    variants taking turns)."""
    timed = time_steps(
        {
            f"ms per token, {'with' if cached else 'without'} KV cache": (
                lambda lap, cached=cached: greedy_decode(
                    model, input_ids, max_new_tokens, use_cache=cached, on_step=lap
                )
            )
            for cached in (True, False)
        },
        repeats=repeats,
    )
    table = pd.DataFrame({column: 1000 * np.array(seconds) for column, seconds in timed.items()})
    table.insert(0, "sequence length", input_ids.shape[1] + np.arange(max_new_tokens))
    return table


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """One sampling step's logit processing, written out (the order ``generate()`` uses):
    divide by the temperature, keep the ``top_k`` largest, keep the smallest set of tokens
    whose probability reaches ``top_p``. Removed tokens get ``-inf``. ``[..., vocab]``."""
    logits = logits / temperature
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop = cumulative - sorted_logits.softmax(-1) >= top_p  # the mass before this token already reaches top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def prompt_ids(tokenizer, prompt: str, model: nn.Module) -> torch.Tensor:
    """``[1, tokens]`` ids of ``prompt``, on the model's device."""
    return tokenizer(prompt, return_tensors="pt")["input_ids"].to(next(model.parameters()).device)


@torch.inference_mode()
def next_token_distributions(
    model: nn.Module, tokenizer, prompt: str, settings: dict[str, dict], n: int = 12
) -> dict[str, dict[str, float]]:
    """For one prompt, the probabilities of the ``n`` most likely next tokens after each
    setting's processing (``filter_logits`` keyword arguments), renormalised."""
    ids = prompt_ids(tokenizer, prompt, model)
    logits = model(input_ids=ids).logits[0, -1].cpu()
    top = torch.topk(logits, n).indices
    names: list[str] = []
    for i in top.tolist():
        name = repr(tokenizer.decode([i]))
        names.append(name if name not in names else f"{name} (id {i})")
    return {
        label: dict(zip(names, filter_logits(logits, **kw).softmax(-1)[top].tolist()))
        for label, kw in settings.items()
    }


@torch.inference_mode()
def kept_tokens(model: nn.Module, tokenizer, prompt: str, **settings) -> int:
    """How many tokens of the whole vocabulary survive ``filter_logits(**settings)`` as
    candidates for the token after ``prompt`` (top-p keeps more when the model is unsure)."""
    ids = prompt_ids(tokenizer, prompt, model)
    return int(torch.isfinite(filter_logits(model(input_ids=ids).logits[0, -1], **settings)).sum().item())


def one_line(text: str) -> str:
    """Generated text on one line: a line break shown as ``↵``, a run of them as ``↵×n``
    (a model trained on IMDB reviews generates their paragraph breaks, often many in a row)."""
    text = re.sub(r"\n{3,}", lambda m: f"↵×{len(m.group())}", text.replace("\r", ""))
    return text.replace("\n", "↵")


def distinct_n(token_lists: list[list[int]], n: int = 2) -> float:
    """Distinct n-grams over all n-grams in the generated tokens (1.0: no n-gram repeats)."""
    grams = [tuple(t[i : i + n]) for t in token_lists for i in range(len(t) - n + 1)]
    return len(set(grams)) / max(len(grams), 1)


@torch.inference_mode()
def sampling_comparison(
    model: nn.Module,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int,
    strategies: dict[str, dict] = SAMPLING,
    seed: int = 0,
) -> pd.DataFrame:
    """``generate()`` with each decoding strategy on the same prompts: one example
    continuation, the share of distinct bigrams (repetition) and the mean log-probability
    the model gives its own continuation (how "safe" it is)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = []
    for name, kwargs in strategies.items():
        torch.manual_seed(seed)
        generated, logprobs, example = [], [], ""
        for prompt in prompts:
            ids = prompt_ids(tokenizer, prompt, model)
            out = model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, pad_token_id=pad, **kwargs
            )
            new = out[0, ids.shape[1] :]
            if len(new) == 0:
                continue
            logits = model(input_ids=out).logits[0, ids.shape[1] - 1 : -1]  # predicts each new token
            logprobs.append(logits.log_softmax(-1).gather(-1, new[:, None]).mean().item())
            generated.append(new.cpu().tolist())
            example = example or one_line(prompt + tokenizer.decode(new, skip_special_tokens=True))
        rows.append(
            {
                "strategy": name,
                "example (first prompt)": example,
                "distinct bigrams (%)": 100 * distinct_n(generated, 2),
                "mean log-prob per token": float(np.mean(logprobs)) if logprobs else float("nan"),
            }
        )
    return pd.DataFrame(rows).set_index("strategy")
