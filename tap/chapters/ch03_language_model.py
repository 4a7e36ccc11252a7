"""Chapter 03's experiment: subword tokenizers (``tap.data.subwords``) against chapter 01's word
vocabulary; a masked LM (BERT) and a causal LM (GPT-2) pre-trained on IMDB's unlabelled reviews
(``tap.training.lm``) and what each learned (held-out perplexity against a unigram yardstick, fill-in-the-
blank guesses, samples before and after pre-training); and whether masked-LM pre-training pays
when the same BERT (``tap.models.lm_finetune``) is fine-tuned on labelled reviews, next to chapter 01's
encoders and the TF-IDF baseline."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import torch
from tokenizers import decoders
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
    pipeline,
)

from ..core.cache import source_digest
from ..core.devices import device
from ..core.profiles import Profile, as_profile, get_profile
from ..core.report import gap, standard_error
from ..data import hf_data, subwords
from ..data.hf_data import TokenizedDataset
from ..data.text import Vocabulary, words
from ..models import lm_finetune, pooled
from ..models.lm_finetune import bert_classifier
from ..models.pretrained import quiet_transformers
from ..models.word_vectors import WordVectors, nearest, word_vectors
from ..pages import plots
from ..training import lm
from ..training.baselines import cached_tfidf_logreg
from ..training.loop import TrainConfig
from . import ch01_transfer as ch01
from .harness import EncodedTask, Outcome, Run, run_classifier

MASKED_LM, CAUSAL_LM = "masked LM (BERT)", "causal LM (GPT-2)"
# The classifiers' names on the page, in the order it presents them, and their short labels in the bar chart.
CLASSIFIERS = {
    "bert_pre": "BERT, masked-LM pre-trained on IMDB, fine-tuned",
    "bert_scratch": "BERT from scratch",
    "ch01_scratch": "ch01 encoder from scratch",
    "ag_ft": "ch01 encoder pre-trained on AG News, fine-tuned",
    "tfidf": "TF-IDF + logistic regression",
}
SHORT = {
    "bert_pre": "BERT\nMLM pre-trained",
    "bert_scratch": "BERT\nfrom scratch",
    "ch01_scratch": "ch01 encoder\nfrom scratch",
    "ag_ft": "ch01 encoder\nAG News + fine-tuned",
    "tfidf": "TF-IDF +\nlogistic regression",
}
WORDS = "words (chapter 01 vocabulary)"  # the word pipeline's row in the tokenizer comparison
TOKENIZER_SAMPLE = 500  # test reviews the tokenizers are compared on
UNIGRAM_REVIEWS = 5_000  # training reviews the unigram yardstick counts tokens in
FILL_SENTENCES = [
    "this movie was [MASK].",
    "the acting was [MASK], but the story was boring.",
    "one of the [MASK] films i have ever seen.",
    "i [MASK] this movie and i will watch it again.",
    "the special [MASK] were cheap and the music was annoying.",
]
PROMPTS = ["This movie was", "The acting in this film", "I have never seen", "My favorite part of the movie"]
GENERATION = {"max_new_tokens": 40, "do_sample": True, "top_k": 40, "temperature": 0.8}  # sampling settings
NEW_TOKENS = {"smoke": 8, "book": 40, "full": 60}  # tokens generated per prompt
FINETUNE_MAX_LEN = {"smoke": 64, "book": 128, "full": 256}  # the masked LM's context length


def compare_tokenizers(vocab: Vocabulary, tokenizers: dict, texts: list[str]) -> pd.DataFrame:
    """Vocabulary size, tokens per review and unknown-token rate of chapter 01's word
    vocabulary and of each subword tokenizer, on the same texts (no special tokens)."""
    n_words = [len(words(t)) for t in texts]
    rows = [
        {
            "tokenizer": WORDS,
            "vocabulary size": len(vocab),
            "tokens per review": sum(n_words) / len(texts),
            "unknown tokens (%)": 100 * vocab.unknown_rate(texts),
        }
    ]
    for name, tok in tokenizers.items():
        ids = tok(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        rows.append(
            {
                "tokenizer": name,
                "vocabulary size": len(tok),
                "tokens per review": sum(map(len, ids)) / len(texts),
                "unknown tokens (%)": 100 * subwords.unknown_rate(tok, texts),
            }
        )
    return pd.DataFrame(rows).set_index("tokenizer")


def show_splits(sentence: str, vocab: Vocabulary, tokenizers: dict) -> None:
    """Print how each tokenizer splits ``sentence`` (words outside the vocabulary as <unk>)."""
    print(f"{'text':>12}: {sentence}")
    print(f"{'words':>12}: {[w if w in vocab.stoi else '<unk>' for w in words(sentence)]}")
    for name, tok in tokenizers.items():
        print(f"{name:>12}: {tok.tokenize(sentence)}")


def unigram_perplexity(tokenizer, train_texts: list[str], heldout_texts: list[str]) -> float:
    """Held-out perplexity of the best model that ignores context: every token predicted with
    its frequency in the training texts (add-one smoothed). A language model below this line
    has learned to use the words around a token, not only how common it is."""
    counts = Counter(
        i for row in tokenizer(list(train_texts), add_special_tokens=False, verbose=False)["input_ids"] for i in row
    )
    total, size = sum(counts.values()), len(tokenizer)
    held = [
        i for row in tokenizer(list(heldout_texts), add_special_tokens=False, verbose=False)["input_ids"] for i in row
    ]
    return math.exp(-sum(math.log((counts[i] + 1) / (total + size)) for i in held) / len(held))


def fill_mask(path, sentences: list[str], top_k: int = 5) -> pd.DataFrame:
    """The masked LM's ``top_k`` guesses for the ``[MASK]`` in each sentence, with probabilities
    (on this process's device: the GPU when there is one)."""
    with quiet_transformers():
        fill = pipeline("fill-mask", model=str(path), tokenizer=str(path), top_k=top_k, device=device())
    rows = {}
    for sentence in sentences:
        rows[sentence] = [f"{p['token_str']} ({100 * p['score']:.1f}%)" for p in fill(sentence)]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[f"guess {i + 1}" for i in range(top_k)])


def initial_causal_lm(path) -> GPT2LMHeadModel:
    """The causal LM as it was before pre-training: same config, same seed, random weights."""
    config = AutoConfig.from_pretrained(path)
    torch.manual_seed(lm.read_record(path)["size"]["seed"])
    return GPT2LMHeadModel(config)


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
        out.append(text[len(start) :].strip() if text.startswith(start) else text)
    return out


def samples_table(path, prompts: list[str], profile: Profile | None = None, seed: int = 0) -> pd.DataFrame:
    """Continuations of the same prompts by the causal LM before and after pre-training."""
    new = NEW_TOKENS[(profile or get_profile()).name]
    tokenizer = AutoTokenizer.from_pretrained(path)
    with quiet_transformers():
        trained = AutoModelForCausalLM.from_pretrained(path)
        before = initial_causal_lm(path)
    return pd.DataFrame(
        {
            "prompt": prompts,
            "before pre-training": generate(before, tokenizer, prompts, seed, max_new_tokens=new),
            "after pre-training": generate(trained, tokenizer, prompts, seed, max_new_tokens=new),
        }
    ).set_index("prompt")


def sample_words(samples: pd.DataFrame, vocab: Vocabulary) -> pd.DataFrame:
    """What the samples are made of, per column of ``samples_table``: how many words they hold,
    the share that are words of the reviews (in chapter 01's vocabulary, built from the
    training reviews and news rows), the share of distinct words, and how many samples are
    different from each other."""
    rows = {}
    for column in samples.columns:
        texts = list(samples[column])
        tokens = [w for text in texts for w in words(text) if any(ch.isalpha() for ch in w)]
        rows[column] = {
            "words": len(tokens),
            "known words (%)": 100 * sum(w in vocab.stoi for w in tokens) / max(len(tokens), 1),
            "distinct words (%)": 100 * len(set(tokens)) / max(len(tokens), 1),
            "different samples": len(set(texts)),
        }
    return pd.DataFrame(rows).T


def pretraining_table(records: dict[str, dict]) -> pd.DataFrame:
    """What each language model's pre-training cost and reached (unrounded: show it through
    ``tap.core.report.format_table``)."""
    return pd.DataFrame(
        [
            {
                "model": name,
                "parameters": r["total_params"],
                "training tokens": r["train_tokens"],
                "held-out perplexity at start": r["history"][0]["val_perplexity"],
                "held-out perplexity at end": r["final_val_perplexity"],
                "train time (s)": r["wall_time_s"],
                "tokens/s": r["tokens_per_s"],
                "memory used (MB)": r.get("memory_used_mb"),
            }
            for name, r in records.items()
        ]
    ).set_index("model")


def finetune_bert(
    setup: ch01.TransferSetup,
    masked_lm: lm.LMRun,
    pretrained: bool = True,
    lr: float = 1e-3,
    epochs: int = 1,
    pooling: str = "mean",
) -> Run:
    """Fine-tune a BERT classifier (``lm_finetune.bert_classifier``) on chapter 01's IMDB subsets
    (same reviews, same test set), tokenised with the masked LM's WordPiece and cut at its
    context length: starting from the masked LM's weights (``pretrained=True``) or from random
    weights of the same architecture. Cached."""
    p, splits = setup.profile, setup.imdb.splits
    tokenizer = AutoTokenizer.from_pretrained(masked_lm.path)
    max_len = FINETUNE_MAX_LEN[p.name]

    def enc(ds) -> TokenizedDataset:
        return TokenizedDataset.from_tokenizer(tokenizer, ds["text"], ds["label"], max_len)

    task = EncodedTask(splits, enc(splits.train), enc(splits.val), enc(splits.test))
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=p.batch_size, evals_per_epoch=p.evals_per_epoch)
    key = {
        "profile": p.name,
        "masked_lm": masked_lm.record["config"],
        "pretrained": pretrained,
        "pooling": pooling,
        "max_len": max_len,
        "imdb": splits.sizes(),
        "code": source_digest(subwords, lm, lm_finetune, pooled, hf_data),
    }
    name = "imdb-bert-mlm-finetune" if pretrained else "imdb-bert-from-scratch"
    return run_classifier(name, key, lambda: bert_classifier(masked_lm.path, pretrained, pooling), task, cfg)


WORD_VECTORS = "word vectors (counts + PPMI + SVD)"
NEIGHBOURS = ("great", "awful", "boring", "funny", "actor", "plot")  # words whose nearest neighbours the page shows


def neighbours_table(vectors: WordVectors, chosen: Iterable[str], k: int = 5) -> pd.DataFrame:
    """Each word's ``k`` nearest words by the cosine of their vectors (words without a vector left out)."""
    return pd.DataFrame(
        {word: nearest(vectors, word, k) for word in chosen if word in vectors.vocab.stoi},
        index=[f"{i + 1}." for i in range(k)],
    ).T


@dataclass
class LanguageModelContext:
    """What chapter 03's page shows beyond the records: the texts, tokenizers, language models and their outputs."""

    setup: ch01.TransferSetup
    texts: list[str]  # the unlabelled reviews the tokenizers and language models are trained on
    heldout_texts: list[str]  # the ones kept apart for held-out perplexity
    wordpiece: PreTrainedTokenizerFast
    bpe: PreTrainedTokenizerFast
    masked_lm: lm.LMRun
    causal_lm: lm.LMRun
    tokenizers: pd.DataFrame  # compare_tokenizers on the first test reviews
    unigram: dict[str, float]  # each language model's unigram yardstick (held-out perplexity)
    guesses: pd.DataFrame  # fill_mask on FILL_SENTENCES
    samples: pd.DataFrame  # samples_table on PROMPTS
    neighbours: pd.DataFrame  # neighbours_table on NEIGHBOURS
    neighbours_of: WordVectors  # the word vectors the neighbours come from
    sample_words: pd.DataFrame  # sample_words on the samples
    runs: dict[str, Run]  # the fine-tuned classifiers, by ``CLASSIFIERS``' keys


def experiment(profile: Profile | None = None, setup: ch01.TransferSetup | None = None) -> Outcome:
    """Everything chapter 03 trains and shows (trained runs from the cache when they are there):
    the tokenizer comparison, both language models with their unigram yardsticks, the masked
    LM's guesses and the causal LM's samples, the two BERTs fine-tuned on IMDB beside chapter
    01's encoders and TF-IDF, and the figures. ``setup`` (chapter 01's) saves preparing the data
    twice when the page has it."""
    setup = setup or ch01.prepare(as_profile(profile))
    p = setup.profile
    texts, heldout_texts = subwords.unlabelled_texts(p)
    wordpiece, bpe = lm.wordpiece_tokenizer(p), lm.bpe_tokenizer(p)
    imdb = setup.imdb.splits
    tokenizers = compare_tokenizers(
        setup.vocab, {"WordPiece": wordpiece, "byte-level BPE": bpe}, imdb.test["text"][:TOKENIZER_SAMPLE]
    )
    mlm = lm.pretrain_masked_lm(p)
    unigram = {MASKED_LM: unigram_perplexity(wordpiece, texts[:UNIGRAM_REVIEWS], heldout_texts)}
    guesses = fill_mask(mlm.path, FILL_SENTENCES)
    bert_scratch, bert_pre = finetune_bert(setup, mlm, pretrained=False), finetune_bert(setup, mlm, pretrained=True)
    scratch, source = ch01.from_scratch(setup), ch01.pretrain_on_ag_news(setup)
    runs = {
        "bert_pre": bert_pre,
        "bert_scratch": bert_scratch,
        "ch01_scratch": scratch,
        "ag_ft": ch01.full_fine_tune(setup, source),
    }
    records = {CLASSIFIERS[key]: run.record for key, run in runs.items()}
    records[CLASSIFIERS["tfidf"]] = cached_tfidf_logreg(
        imdb.train["text"], imdb.train["label"], imdb.test["text"], imdb.test["label"]
    )
    vectors = word_vectors(p)
    records[WORD_VECTORS] = vectors.record
    clm = lm.pretrain_causal_lm(p)
    unigram[CAUSAL_LM] = unigram_perplexity(bpe, texts[:UNIGRAM_REVIEWS], heldout_texts)
    samples = samples_table(clm.path, PROMPTS, p)
    records.update({MASKED_LM: mlm.record, CAUSAL_LM: clm.record})
    figures = {
        "masked_lm_curves": plots.language_model_curves({MASKED_LM: mlm.record}, unigram),
        "causal_lm_curves": plots.language_model_curves({CAUSAL_LM: clm.record}, unigram),
        "test_accuracy": plots.comparison_bars(
            {SHORT[key]: 100 * records[name]["test_accuracy"] for key, name in CLASSIFIERS.items()},
            ylabel="test accuracy (%)",
            reference=("chance (50%)", 50.0),
            title=f"IMDB test accuracy ({imdb.test.num_rows:,} balanced test reviews)",
        ),
    }
    context = LanguageModelContext(
        setup=setup,
        texts=texts,
        heldout_texts=heldout_texts,
        wordpiece=wordpiece,
        bpe=bpe,
        masked_lm=mlm,
        causal_lm=clm,
        tokenizers=tokenizers,
        unigram=unigram,
        guesses=guesses,
        samples=samples,
        neighbours=neighbours_table(vectors, NEIGHBOURS),
        neighbours_of=vectors,
        sample_words=sample_words(samples, setup.vocab),
        runs=runs,
    )
    return Outcome(records, figures, context)


def _language_model_facts(prefix: str, record: dict, unigram: float) -> dict:
    """What the prose says about one language model's pre-training, against its unigram yardstick;
    ``eval_tokens`` is the number of training tokens between two held-out evaluations (the run's
    ``eval_steps`` × batch × block; the last interval is shorter when training ends between two)."""
    end, history = record["final_val_perplexity"], record["history"]
    return {
        f"{prefix}_params": record["total_params"],
        f"{prefix}_tokens": record["train_tokens"],
        f"{prefix}_time": record["wall_time_s"],
        f"{prefix}_eval_tokens": history[1]["tokens"] - history[0]["tokens"] if len(history) > 1 else 0,
        f"{prefix}_ppl_start": history[0]["val_perplexity"],
        f"{prefix}_ppl_end": end,
        f"{prefix}_unigram": unigram,
        f"{prefix}_vs_unigram": 100 * abs(1 - end / unigram),
        f"{prefix}_vs_unigram_word": "below" if end < unigram else "above",
    }


def _closeness(value: float, reference: float) -> str:
    """How close ``value`` is to ``reference``, in words: "about" within 5%, "near" within 25%,
    else "of the order of"."""
    off = abs(value / reference - 1)
    return "about" if off < 0.05 else "near" if off < 0.25 else "of the order of"


def facts(outcome: Outcome) -> dict:
    """The numbers and verdicts the page's prose states, computed from this build's outcome."""
    r, c = outcome.records, outcome.context
    setup, tokenizers, unigram, made_of = c.setup, c.tokenizers, c.unigram, c.sample_words
    corpus, n_texts = subwords.corpus_size(setup.profile), len(c.texts)
    mlm, clm = r[MASKED_LM], r[CAUSAL_LM]
    wp_unk = tokenizers.loc["WordPiece", "unknown tokens (%)"]
    wp_per_review, bpe_per_review = (
        tokenizers.loc[name, "tokens per review"] for name in ("WordPiece", "byte-level BPE")
    )
    shared = set.intersection(*({g.split(" (")[0] for g in row} for row in c.guesses.values))
    pre, scratch = r[CLASSIFIERS["bert_pre"]], r[CLASSIFIERS["bert_scratch"]]
    gain, n_test = 100 * (pre["test_accuracy"] - scratch["test_accuracy"]), pre["test_size"]
    stderr = standard_error(n_test, pre["test_accuracy"], scratch["test_accuracy"])
    clear, worse = gain >= 2 * stderr, gain <= -2 * stderr
    vectors = r[WORD_VECTORS]
    return {
        "wv_reviews": vectors["reviews"],
        "wv_tokens": vectors["tokens"],
        "wv_time": vectors["wall_time_s"],
        "wv_words": len(c.neighbours_of.vocab) - 2,
        "wv_dim": c.neighbours_of.vectors.shape[1],
        "corpus": n_texts,
        "heldout_reviews": len(c.heldout_texts),
        "vocab_size": corpus.vocab_size,
        "tokenizer_reviews": min(n_texts, corpus.tokenizer_reviews or n_texts),
        "word_unk": tokenizers.loc[WORDS, "unknown tokens (%)"],
        "word_vocab": len(setup.vocab),
        "wp_unk_text": "WordPiece leaves none of them unknown"
        if wp_unk == 0
        else f"WordPiece leaves {'fewer than 0.01' if wp_unk < 0.01 else f'{wp_unk:.2f}'}% of its tokens unknown",
        "words_per_review": tokenizers.loc[WORDS, "tokens per review"],
        "wp_per_review": wp_per_review,
        "bpe_per_review": bpe_per_review,
        "wp_vs_bpe": " WordPiece needs fewer tokens than BPE at the same vocabulary size: it lower-cases first, so "
        "“Movie” and “movie” share entries, and it keeps spaces out of its tokens."
        if wp_per_review < bpe_per_review
        else "",
        **_language_model_facts("mlm", mlm, unigram[MASKED_LM]),
        "mlm_vocab": len(c.wordpiece),
        "mlm_uniform_words": _closeness(mlm["history"][0]["val_perplexity"], len(c.wordpiece)),
        "mlm_layers": mlm["size"]["num_layers"],
        "mlm_d": mlm["size"]["d_model"],
        "mlm_block": mlm["size"]["block_size"],
        "mlm_reviews": mlm["train_tokens"] / wp_per_review,
        "fill_sentences": len(c.guesses),
        "fill_shared": len(shared),
        "fill_verdict": f"the same few tokens ({', '.join(repr(t) for t in sorted(shared))}) for every sentence, whatever "
        "the context: at this budget the model ranks tokens mainly by how common they are, which is what "
        "the perplexity curve said in numbers"
        if len(shared) >= 3
        else "lists that change with the context: the model has begun to use the words around the gap",
        **{f"{key}_acc": 100 * r[name]["test_accuracy"] for key, name in CLASSIFIERS.items()},
        "gain_text": gap(100 * pre["test_accuracy"], 100 * scratch["test_accuracy"], ahead="above", behind="below"),
        "train_size": pre["train_examples"],
        "test_size": n_test,
        "ft_time": pre["wall_time_s"],
        "stderr": stderr,
        "verdict": "pays: the gain is more than twice its standard error"
        if clear
        else "does not pay: the pre-trained start is worse by more than twice the standard error"
        if worse
        else "makes no difference larger than the noise",
        "takeaway": "even a few CPU-minutes of it, which taught the model little beyond which tokens are common, "
        "give fine-tuning a measurably better start than random weights"
        if clear
        else "a few CPU-minutes of it taught the model little beyond which tokens are common, and those weights "
        "fine-tune worse than a fresh random start: an under-trained language model is not a neutral "
        "initialisation, and a single fine-tuning run of one epoch is sensitive to where it starts"
        if worse
        else "a few CPU-minutes of it, which taught the model little beyond which tokens are common, "
        "are not enough to move fine-tuning by more than the noise",
        **_language_model_facts("clm", clm, unigram[CAUSAL_LM]),
        "gpt2_ratio": 124e6 / clm["total_params"],
        "top_k": GENERATION["top_k"],
        "temperature": GENERATION["temperature"],
        "known_before": made_of.loc["before pre-training", "known words (%)"],
        "known_after": made_of.loc["after pre-training", "known words (%)"],
        "distinct_after": made_of.loc["after pre-training", "distinct words (%)"],
        "samples_text": "each prompt gets its own continuation"
        if made_of.loc["after pre-training", "different samples"] == len(c.samples)
        else "some prompts get the same continuation",
        "clm_explain": ": every position predicts the token that follows one it can see, so the causal LM learns "
        "which token tends to follow which far sooner than the masked LM learns to read around a gap"
        if clm["final_val_perplexity"] / unigram[CAUSAL_LM]
        < min(1.0, mlm["final_val_perplexity"] / unigram[MASKED_LM])
        else "",
    }
