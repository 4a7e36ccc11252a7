"""Chapter 03's experiments with the tokenizers and language models of ``tap.subwords`` and
``tap.lm``: how the tokenizers split text, what the masked LM fills in, what the causal LM
writes before and after pre-training, and whether masked-LM pre-training pays off when the
same BERT is fine-tuned on labelled IMDB reviews."""
from __future__ import annotations

import math
from collections import Counter

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure
from tokenizers import decoders
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GPT2LMHeadModel, pipeline

from . import lm, subwords
from .lm_finetune import finetune_bert, quiet_transformers
from .profiles import Profile, get_profile
from .text import Vocabulary, words


def compare_tokenizers(vocab: Vocabulary, tokenizers: dict, texts: list[str]) -> pd.DataFrame:
    """Vocabulary size, tokens per review and unknown-token rate of chapter 01's word
    vocabulary and of each subword tokenizer, on the same texts (no special tokens)."""
    n_words = [len(words(t)) for t in texts]
    rows = [{"tokenizer": "words (chapter 01 vocabulary)", "vocabulary size": len(vocab),
             "tokens per review": sum(n_words) / len(texts), "unknown tokens (%)": 100 * vocab.unknown_rate(texts)}]
    for name, tok in tokenizers.items():
        ids = tok(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        rows.append({"tokenizer": name, "vocabulary size": len(tok),
                     "tokens per review": sum(map(len, ids)) / len(texts),
                     "unknown tokens (%)": 100 * subwords.unknown_rate(tok, texts)})
    return pd.DataFrame(rows).set_index("tokenizer")


def show_splits(sentence: str, vocab: Vocabulary, tokenizers: dict) -> None:
    """Print how each tokenizer splits ``sentence`` (words outside the vocabulary as <unk>)."""
    print(f"{'text':>12}: {sentence}")
    print(f"{'words':>12}: {[w if w in vocab.stoi else '<unk>' for w in words(sentence)]}")
    for name, tok in tokenizers.items():
        print(f"{name:>12}: {tok.tokenize(sentence)}")


def fill_mask(path, sentences: list[str], top_k: int = 5) -> pd.DataFrame:
    """The masked LM's ``top_k`` guesses for the ``[MASK]`` in each sentence, with probabilities."""
    with quiet_transformers():
        fill = pipeline("fill-mask", model=str(path), tokenizer=str(path), top_k=top_k, device="cpu")
    rows = {}
    for sentence in sentences:
        rows[sentence] = [f"{p['token_str']} ({100 * p['score']:.1f}%)" for p in fill(sentence)]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[f"guess {i + 1}" for i in range(top_k)])


def initial_causal_lm(path) -> GPT2LMHeadModel:
    """The causal LM as it was before pre-training: same config, same seed, random weights."""
    config = AutoConfig.from_pretrained(path)
    torch.manual_seed(lm.read_record(path)["size"]["seed"])
    return GPT2LMHeadModel(config)


GENERATION = {"max_new_tokens": 40, "do_sample": True, "top_k": 40, "temperature": 0.8}  # sampling settings
NEW_TOKENS = {"smoke": 8, "book": 40, "full": 60}  # tokens generated per prompt


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet read backwards: each of the 256 printable characters that
    byte-level BPE writes in its tokens (``Ġ`` for a space, …) → the byte it stands for."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = list(printable), 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def readable_text(tokenizer, ids) -> str:
    """Token ids as text a reader can read: special tokens dropped, whitespace (line breaks
    included) collapsed to single spaces, and no replacement characters.

    A byte-level BPE token is a byte sequence, not necessarily a whole character: a sampled
    sequence can end in the middle of a multi-byte character, and an untrained model strings
    together bytes that form no character at all. Decoding such bytes the usual way shows '�';
    here the bytes that do not form a whole UTF-8 character are left out."""
    special = set(tokenizer.all_special_ids)
    tokens = tokenizer.convert_ids_to_tokens([int(i) for i in ids if int(i) not in special])
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if isinstance(getattr(backend, "decoder", None), decoders.ByteLevel):  # GPT-2's byte-level BPE
        decoder = _byte_decoder()
        text = bytes(decoder[ch] for token in tokens for ch in token).decode("utf-8", errors="ignore")
    else:
        text = tokenizer.convert_tokens_to_string(tokens).replace("\ufffd", "")
    return " ".join(text.split())


@torch.inference_mode()
def generate(model, tokenizer, prompts: list[str], seed: int = 0, **settings) -> list[str]:
    """Continue each prompt with the same decoding settings (``GENERATION`` unless given).
    Prompt ``i`` is sampled with seed ``seed + i``: two models given the same prompt draw the
    same random numbers, so their samples differ only because of their weights, while
    different prompts get different draws (with one seed for all, a model that barely reads
    its prompt writes nearly the same continuation after each)."""
    model.eval()
    out = []
    for i, prompt in enumerate(prompts):
        torch.manual_seed(seed + i)
        inputs = tokenizer(prompt, return_tensors="pt")
        ids = model.generate(**inputs, **{**GENERATION, **settings}, pad_token_id=tokenizer.pad_token_id)
        # Decode the whole sequence, prompt included, so no character is cut at the prompt's end.
        text = readable_text(tokenizer, ids[0])
        start = readable_text(tokenizer, inputs["input_ids"][0])
        out.append(text[len(start):].strip() if text.startswith(start) else text)
    return out


def samples_table(path, prompts: list[str], profile: Profile | None = None, seed: int = 0) -> pd.DataFrame:
    """Continuations of the same prompts by the causal LM before and after pre-training."""
    new = NEW_TOKENS[(profile or get_profile()).name]
    tokenizer = AutoTokenizer.from_pretrained(path)
    with quiet_transformers():
        trained = AutoModelForCausalLM.from_pretrained(path)
        before = initial_causal_lm(path)
    return pd.DataFrame({"prompt": prompts,
                         "before pre-training": generate(before, tokenizer, prompts, seed, max_new_tokens=new),
                         "after pre-training": generate(trained, tokenizer, prompts, seed, max_new_tokens=new),
                         }).set_index("prompt")


def sample_words(samples: pd.DataFrame, vocab: Vocabulary) -> pd.DataFrame:
    """What the samples are made of, per column of ``samples_table``: how many words they hold,
    the share that are words of the reviews (in chapter 01's vocabulary, built from the
    training reviews and news rows), the share of distinct words, and how many samples are
    different from each other."""
    rows = {}
    for column in samples.columns:
        texts = list(samples[column])
        tokens = [w for text in texts for w in words(text) if any(ch.isalpha() for ch in w)]
        rows[column] = {"words": len(tokens),
                        "known words (%)": 100 * sum(w in vocab.stoi for w in tokens) / max(len(tokens), 1),
                        "distinct words (%)": 100 * len(set(tokens)) / max(len(tokens), 1),
                        "different samples": len(set(texts))}
    return pd.DataFrame(rows).T


def unigram_perplexity(tokenizer, train_texts: list[str], heldout_texts: list[str]) -> float:
    """Held-out perplexity of the best model that ignores context: every token predicted with
    its frequency in the training texts (add-one smoothed). A language model below this line
    has learned to use the words around a token, not only how common it is."""
    counts = Counter(i for row in tokenizer(list(train_texts), add_special_tokens=False, verbose=False)["input_ids"]
                     for i in row)
    total, size = sum(counts.values()), len(tokenizer)
    held = [i for row in tokenizer(list(heldout_texts), add_special_tokens=False, verbose=False)["input_ids"] for i in row]
    return math.exp(-sum(math.log((counts[i] + 1) / (total + size)) for i in held) / len(held))


def lm_curves(records: dict[str, dict], unigram: dict[str, float] | None = None) -> Figure:
    """Training and held-out loss (left) and held-out perplexity, log scale (right), against
    the millions of tokens seen, one colour per language model; ``unigram`` (same labels)
    adds each model's context-free reference perplexity as a dotted line."""
    fig, (ax_loss, ax_ppl) = plt.subplots(1, 2, figsize=(11, 4))
    for (label, rec), colour in zip(records.items(), sns.color_palette(n_colors=len(records))):
        h = rec["history"]
        tokens = [p["tokens"] / 1e6 for p in h]
        trained = [(p["tokens"] / 1e6, p["train_loss"]) for p in h if p["train_loss"] is not None]
        ax_loss.plot(*zip(*trained), color=colour, linestyle="--", label=f"{label} (train)")
        ax_loss.plot(tokens, [p["val_loss"] for p in h], color=colour, marker="o", label=f"{label} (held-out)")
        ax_ppl.plot(tokens, [p["val_perplexity"] for p in h], color=colour, marker="o", label=label)
        if label in (unigram or {}):
            ax_ppl.axhline(unigram[label], color=colour, linestyle=":", label=f"{label}: unigram model")
    ax_loss.set(xlabel="training tokens seen (millions)", ylabel="cross-entropy loss (nats per token)", title="loss")
    ax_ppl.set(xlabel="training tokens seen (millions)", ylabel="held-out perplexity (log scale)",
               title="held-out perplexity", yscale="log")
    ax_loss.legend(fontsize=8)
    ax_ppl.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pretraining_table(records: dict[str, dict]) -> pd.DataFrame:
    """What each language model's pre-training cost and reached (unrounded: show it through
    ``tap.report.format_table``)."""
    return pd.DataFrame([{
        "model": name, "parameters": r["total_params"], "training tokens": r["train_tokens"],
        "held-out perplexity at start": r["history"][0]["val_perplexity"],
        "held-out perplexity at end": r["final_val_perplexity"],
        "train time (s)": r["wall_time_s"], "tokens/s": r["tokens_per_s"],
        "peak memory (MB)": r["peak_memory_mb"]} for name, r in records.items()]).set_index("model")


def chapter_experiment(profile: Profile) -> "Outcome":
    """Everything chapter 03 trains, for ``python -m tap run ch03``."""
    from .experiments import Outcome

    mlm, clm = lm.pretrain_masked_lm(profile), lm.pretrain_causal_lm(profile)
    runs = {"BERT from scratch": finetune_bert(profile, pretrained=False),
            "BERT masked-LM pre-trained + fine-tuned": finetune_bert(profile, pretrained=True)}
    records = {name: run.record for name, run in runs.items()}
    records.update({"masked LM pre-training": mlm.record, "causal LM pre-training": clm.record})
    return Outcome(records, {"lm_curves": lm_curves({"masked LM (BERT)": mlm.record, "causal LM (GPT-2)": clm.record})})
