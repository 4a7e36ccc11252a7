"""Chapter 06, part 2: instruction tuning a causal language model with ``trl``'s ``SFTTrainer``.

Offline there is no instruction data set, so one is built the FLAN way (Wei et al., 2021) from
labelled data the book has: IMDB sentiment, AG News topic, and a task that mixes the two
datasets (is this text a film review or a news story?), each asked
with several phrasings (templates). Whole templates are held out for evaluation, and the
evaluation examples are never trained on, so the score measures following *new phrasings*
of the tasks on *new texts*. Training uses prompt/completion pairs: the loss falls on the
completion (the answer) only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from datasets import Dataset

from ..core.measure import timer
from ..core.profiles import Profile
from ..data import datasets
from ..data.datasets import balanced_indices

ANSWER = "Answer:"  # ends every prompt of the FLAN-style mixture

OPTIONS = {  # the answer each task expects, by label index
    "sentiment": ["negative", "positive"],
    "genre": ["review", "news"],
    "topic": ["world", "sports", "business", "science"],
}


@dataclass(frozen=True)
class Template:
    """One phrasing of a task. ``{text}`` is the review or article; ``held_out`` templates
    are used only for evaluation."""

    task: str
    name: str
    text: str
    held_out: bool = False


# Every template names its task's answers, held-out ones included. A prompt that names none leaves
# the model to guess which task it is asked: "File this article under which category?" was
# answered "news" (the genre task's answer for news texts) by a model tuned on the other phrasings.
TEMPLATES: list[Template] = [
    # IMDB sentiment
    Template("sentiment", "s1", "{text}\nIs this review positive or negative?"),
    Template("sentiment", "s2", "Review: {text}\nDid the reviewer like the film? Say positive or negative."),
    Template("sentiment", "s3", "Sentiment of this review, positive or negative?\n{text}"),
    Template("sentiment", "s4", "{text}\nHow does the author feel? OPTIONS: negative, positive"),
    Template("sentiment", "s5", "Tell me if this review is positive or negative.\n{text}", held_out=True),
    Template("sentiment", "s6", "{text}\nDid the writer enjoy the movie, positive or negative?", held_out=True),
    # genre: an IMDB review or an AG News story
    Template("genre", "g1", "{text}\nIs this a film review or a news story?"),
    Template("genre", "g2", "Text: {text}\nReview or news?"),
    Template("genre", "g3", "What kind of text is this, a review or news?\n{text}"),
    Template("genre", "g4", "{text}\nGenre? OPTIONS: review, news"),
    Template(
        "genre", "g5", "Was this written by a film critic or a journalist? Say review or news.\n{text}", held_out=True
    ),
    Template(
        "genre", "g6", "{text}\nWould you find this on a film site (review) or a news site (news)?", held_out=True
    ),
    # AG News topic
    Template("topic", "t1", "{text}\nIs this news about world, sports, business or science?"),
    Template("topic", "t2", "Article: {text}\nWhich newspaper section is this: world, sports, business or science?"),
    Template("topic", "t3", "Topic of this news story (world, sports, business or science)?\n{text}"),
    Template("topic", "t4", "{text}\nTopic? OPTIONS: world, sports, business, science"),
    Template(
        "topic",
        "t5",
        "Which topic does this news story cover: world, sports, business or science?\n{text}",
        held_out=True,
    ),
    Template("topic", "t6", "{text}\nFile this article under world, sports, business or science?", held_out=True),
]


@dataclass(frozen=True)
class InstructSize:
    """How much instruction data a profile builds, and how the model is tuned on it."""

    base: str  # Hub id of the base model; offline, chapter 03's causal LM stands in
    train_per_task: int
    eval_per_task: int
    text_tokens: int  # the review or article is cut to this many tokens, so prompts fit
    max_length: int  # SFTConfig(max_length=...): prompt + completion, in tokens
    epochs: int
    batch_size: int
    lr: float  # full tuning
    lora_lr: float  # LoRA wants a larger rate (chapter 05)
    lora_r: int
    max_new_tokens: int  # greedy decoding budget for an answer
    guanaco: int = 0  # openassistant-guanaco conversations added to training (Hub only)
    lora_also_train: tuple[str, ...] = ()  # modules trained in full beside LoRA (peft's modules_to_save)

    def to_dict(self) -> dict:
        return asdict(self)


def prompt_of(instruction: str) -> str:
    """The prompt format: the instruction, then ``Answer:``. The answer follows after a space, so
    the prompt ends on a token boundary and tokenises the same alone as with its answer."""
    return f"{instruction}\n{ANSWER}"


def tidy(text: str) -> str:
    """IMDB's ``<br />`` line breaks and AG News's escaped quotes and backslashes removed."""
    text = re.sub(r"<br\s*/?>", " ", text).replace("#39;", "'").replace("quot;", '"').replace("\\", " ")
    return re.sub(r"\s+", " ", text).strip()


def shorten(text: str, tokenizer, max_tokens: int, keep_end: bool = False) -> str:
    """The start of ``text`` (or its end, with ``keep_end``) that fits in ``max_tokens`` tokens,
    cut at a token boundary using the fast tokenizer's character offsets, with an ellipsis
    where something was cut."""
    span = 16 * max_tokens + 16  # usually enough characters for more than max_tokens tokens
    part = text[-span:] if keep_end else text[:span]
    enc = tokenizer(part, add_special_tokens=False, return_offsets_mapping=True)
    if len(enc["input_ids"]) <= max_tokens and len(part) < len(text):
        part = text
        enc = tokenizer(part, add_special_tokens=False, return_offsets_mapping=True)
    if len(enc["input_ids"]) <= max_tokens:
        return text
    offsets = enc["offset_mapping"]
    for k in range(max_tokens, 0, -1):  # a cut text can tokenise into more pieces: keep fewer until it fits
        piece = part[offsets[-k][0] :].lstrip() if keep_end else part[: offsets[k - 1][1]].rstrip()
        if len(tokenizer(piece, add_special_tokens=False)["input_ids"]) <= max_tokens:
            break
    return "… " + piece if keep_end else piece + " …"


# --- the instruction data set --------------------------------------------------------------


@dataclass
class InstructionData:
    """Training pairs (training templates, training texts) and evaluation pairs (held-out
    templates, held-out texts), with each task's answer options and majority answer. The same
    held-out texts written with the training templates separate "new phrasing" from "new text"."""

    train: Dataset  # prompt, completion, task, template, answer, source, text
    eval: Dataset  # held-out templates, held-out texts
    eval_seen: Dataset  # the same held-out texts, written with training templates
    options: dict[str, list[str]]
    majority: dict[str, str]  # the most frequent training answer of each task
    note: str

    def majority_accuracy(self) -> dict[str, float]:
        """Exact match of always answering the majority training answer, per task."""
        out = {}
        for task, answer in self.majority.items():
            golds = [a for a, t in zip(self.eval["answer"], self.eval["task"]) if t == task]
            out[task] = sum(g == answer for g in golds) / len(golds)
        return out


def _room(template: Template, task: str, tokenizer, max_length: int, max_new_tokens: int) -> int:
    """Tokens left for the text once the template, the ellipsis and the longest answer (with its
    end-of-text token, or the decoding budget if larger) are counted: no pair is ever cut, and
    generation never runs past the model's context."""
    overhead = len(tokenizer(prompt_of(template.text.format(text="")))["input_ids"])
    answer = max(len(tokenizer(" " + o)["input_ids"]) + 1 for o in OPTIONS[task])
    ellipsis = len(tokenizer(" … ", add_special_tokens=False)["input_ids"]) + 1  # +1: a merge lost at the seam
    room = max_length - overhead - max(answer, max_new_tokens) - ellipsis
    if room < 4:
        raise ValueError(
            f"Template {template.name} leaves {room} tokens for the text within max_length={max_length}; "
            f"raise max_length or shorten the template."
        )
    return room


def _rows(
    task: str,
    texts: Sequence[str],
    labels: Sequence[int],
    sources: Sequence[str],
    templates: list[Template],
    rng: np.random.Generator,
    tokenizer,
    text_tokens: int,
    max_length: int,
    max_new_tokens: int,
) -> list[dict]:
    """One prompt/completion pair per text, each written with one of ``templates``. Reviews keep
    their end for the sentiment task (where reviewers sum up); other texts keep their start."""
    room = {t.name: min(text_tokens, _room(t, task, tokenizer, max_length, max_new_tokens)) for t in templates}
    # every template used equally often, in a random order (so no template goes with one class)
    choice = rng.permutation(np.arange(len(texts)) % len(templates))
    rows = []
    for text, label, source, k in zip(texts, labels, sources, choice):
        template = templates[k]
        body = shorten(tidy(text), tokenizer, room[template.name], keep_end=task == "sentiment")
        answer = OPTIONS[task][label]
        rows.append(
            {
                "prompt": prompt_of(template.text.format(text=body)),
                "completion": " " + answer,
                "task": task,
                "template": template.name,
                "answer": answer,
                "source": source,
                "text": body,
            }
        )
    return rows


def _source_ids(dataset: str, split: str, texts: Sequence[str]) -> list[str]:
    """Where each text comes from, by content (the Hub's datasets have no id column)."""
    return [f"{dataset}/{split}/{datasets.text_key(t):016x}" for t in texts]


def build_instructions(size: InstructSize, tokenizer, profile: Profile, seed: int = 0) -> InstructionData:
    """The FLAN-style mixture: for each task, ``train_per_task`` training pairs written with the
    training templates from training texts, and ``eval_per_task`` evaluation pairs written with
    the held-out templates from texts no training pair uses. Classes are balanced; the genre
    task takes half its texts from IMDB and half from AG News, none used by the other tasks."""
    rng = np.random.default_rng(seed)
    train_rows, eval_rows, seen_rows = [], [], []

    def add(task, texts, labels, sources, evaluation: bool):
        """Training pairs, or (``evaluation``) evaluation pairs with held-out templates and the
        same texts with training templates."""
        ts = [t for t in TEMPLATES if t.task == task]
        trained, held_out = [t for t in ts if not t.held_out], [t for t in ts if t.held_out]
        for templates, out in (
            ((held_out, eval_rows), (trained, seen_rows)) if evaluation else ((trained, train_rows),)
        ):
            out.extend(
                _rows(
                    task,
                    texts,
                    labels,
                    sources,
                    templates,
                    rng,
                    tokenizer,
                    size.text_tokens,
                    size.max_length,
                    size.max_new_tokens,
                )
            )

    # IMDB: training pairs from the train split, evaluation pairs from the test split; test
    # reviews whose text also occurs in train are skipped.
    imdb = {part: datasets.split_of("imdb", part) for part in ("train", "test")}
    train_texts = set(imdb["train"]["text"])
    duplicates = {i for i, t in enumerate(imdb["test"]["text"]) if t in train_texts}
    ag = datasets.ag_news_splits(profile, seed)
    for evaluation, part, n in ((False, "train", size.train_per_task), (True, "test", size.eval_per_task)):
        which = int(evaluation)  # each side draws with its own seeds
        reviews = imdb[part]
        review_labels, review_ids = np.asarray(reviews["label"]), _source_ids("imdb", part, reviews["text"])
        taken = set(duplicates) if evaluation else set()
        sentiment_idx = balanced_indices(review_labels, n, seed=seed + 10 + which, exclude=taken)
        add(
            "sentiment",
            reviews.select(sentiment_idx)["text"],
            review_labels[sentiment_idx].tolist(),
            [review_ids[i] for i in sentiment_idx],
            evaluation,
        )
        review_idx = balanced_indices(
            review_labels, n // 2, seed=seed + 20 + which, exclude=taken | set(sentiment_idx.tolist())
        )

        news = ag.test if evaluation else ag.train
        news_labels, news_ids = np.asarray(news["label"]), _source_ids("ag_news", part, news["text"])
        topic_idx = balanced_indices(news_labels, min(n, len(news)), seed=seed + 30 + which)
        add(
            "topic",
            news.select(topic_idx)["text"],
            news_labels[topic_idx].tolist(),
            [news_ids[i] for i in topic_idx],
            evaluation,
        )
        news_idx = balanced_indices(
            news_labels,
            min(n - n // 2, len(news) - len(topic_idx)),
            seed=seed + 40 + which,
            exclude=set(topic_idx.tolist()),
        )
        add(
            "genre",
            list(reviews.select(review_idx)["text"]) + list(news.select(news_idx)["text"]),
            [0] * len(review_idx) + [1] * len(news_idx),
            [review_ids[i] for i in review_idx] + [news_ids[i] for i in news_idx],
            evaluation,
        )

    train = Dataset.from_list(train_rows).shuffle(seed=seed)
    evaluation, seen = Dataset.from_list(eval_rows), Dataset.from_list(seen_rows)
    majority = {}
    for task in OPTIONS:
        answers = [a for a, t in zip(train["answer"], train["task"]) if t == task]
        majority[task] = max(OPTIONS[task], key=lambda o: (answers.count(o), -OPTIONS[task].index(o)))
    check_disjoint(train, evaluation)
    check_disjoint(train, seen, templates_held_out=False)
    note = (
        f"{len(train):,} training pairs ({size.train_per_task:,} per task at most, 4 training templates each) "
        f"and {len(evaluation):,} evaluation pairs ({size.eval_per_task:,} per task at most) written with "
        f"2 held-out templates per task from texts no training pair uses."
    )
    return InstructionData(train, evaluation, seen, dict(OPTIONS), majority, note)


def check_disjoint(train: Dataset, evaluation: Dataset, templates_held_out: bool = True) -> None:
    """Fail loudly if an evaluation template (unless ``templates_held_out`` is False) or an
    evaluation text leaked into training."""
    held_out = {t.name for t in TEMPLATES if t.held_out}
    leaked_templates = set(train["template"]) & held_out
    leaked_texts = set(train["text"]) & set(evaluation["text"])
    leaked_sources = set(train["source"]) & set(evaluation["source"])
    wrong = templates_held_out and not set(evaluation["template"]) <= held_out
    if leaked_templates or leaked_texts or leaked_sources or wrong:
        raise AssertionError(
            f"Evaluation data leaked into training: templates {sorted(leaked_templates)}, "
            f"{len(leaked_texts)} texts, {len(leaked_sources)} source ids."
        )


# --- evaluation ----------------------------------------------------------------------------


def normalise(answer: str) -> str:
    """Compare answers case-, space- and final-full-stop-insensitively, first line only."""
    lines = answer.strip().splitlines()
    return lines[0].strip().lower().rstrip(".!") if lines else ""


@torch.inference_mode()
def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 32) -> list[str]:
    """Plain greedy decoding: the most likely next token, repeatedly, until end-of-text or
    ``max_new_tokens``. Prompts are left-padded so every answer starts at the same column."""
    model.eval()
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    dev = next(model.parameters()).device
    out = []
    try:
        for s in range(0, len(prompts), batch_size):
            enc = tokenizer(list(prompts[s : s + batch_size]), return_tensors="pt", padding=True).to(dev)
            ids = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            out += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return out


@torch.inference_mode()
def option_logprobs(model, tokenizer, prompt: str, options: Sequence[str]) -> list[float]:
    """Constrained decoding (rank classification): the log-probability of each option, written as
    the completion `` option<eos>``, given the prompt. The answer is the most probable option."""
    dev = next(model.parameters()).device
    prompt_ids = tokenizer(prompt)["input_ids"]
    seqs, starts = [], []
    for option in options:
        ids = tokenizer(prompt + " " + option)["input_ids"] + [tokenizer.eos_token_id]
        start = next((i for i, (a, b) in enumerate(zip(prompt_ids, ids)) if a != b), len(prompt_ids))
        seqs.append(ids)
        starts.append(start)
    longest = max(map(len, seqs))
    ids = torch.full((len(seqs), longest), tokenizer.pad_token_id)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)], mask[row, : len(seq)] = torch.tensor(seq), 1
    logp = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits.float().log_softmax(-1).cpu()
    scores = []
    for row, (seq, start) in enumerate(zip(seqs, starts)):
        targets = torch.tensor(seq[start:])  # the option's tokens and end-of-text
        scores.append(logp[row, start - 1 : len(seq) - 1].gather(1, targets[:, None]).sum().item())
    return scores


def evaluate_instructions(model, tokenizer, evaluation: Dataset, size: InstructSize, constrained: bool = True) -> dict:
    """Exact match per task with greedy decoding (and, with ``constrained``, the accuracy of
    constrained decoding); every greedy response, and every option constrained decoding picked,
    is kept so the page can show them and count how many different answers a model gives."""
    with timer() as clock:
        responses = generate(model, tokenizer, evaluation["prompt"], size.max_new_tokens)
        picked = []
        for prompt, task in zip(evaluation["prompt"], evaluation["task"]) if constrained else ():
            scores = option_logprobs(model, tokenizer, prompt, OPTIONS[task])
            picked.append(OPTIONS[task][int(np.argmax(scores))])
    result = {"responses": responses, "eval_time_s": clock["seconds"], "exact_match": {}, "valid": {}}
    if constrained:
        result["constrained"], result["constrained_answers"] = {}, picked
    for task in OPTIONS:
        rows = [i for i, t in enumerate(evaluation["task"]) if t == task]
        gold = [evaluation["answer"][i] for i in rows]
        result["exact_match"][task] = float(np.mean([normalise(responses[i]) == g for i, g in zip(rows, gold)]))
        # the share of answers that are one of the task's options at all, right or wrong
        result["valid"][task] = float(np.mean([normalise(responses[i]) in OPTIONS[task] for i in rows]))
        if constrained:
            result["constrained"][task] = float(np.mean([picked[i] == g for i, g in zip(rows, gold)]))
    return result


def score(model, tokenizer, instructions: InstructionData, size: InstructSize) -> dict:
    """Held-out templates (greedy and constrained decoding), and the training templates on the
    same held-out texts (greedy), for the page's comparison."""
    held_out = evaluate_instructions(model, tokenizer, instructions.eval, size)
    seen = evaluate_instructions(model, tokenizer, instructions.eval_seen, size, constrained=False)
    return {
        **held_out,
        "exact_match_seen": seen["exact_match"],
        "responses_seen": seen["responses"],
        "eval_time_s": held_out["eval_time_s"] + seen["eval_time_s"],
    }


# --- tuning --------------------------------------------------------------------------------


def load_tokenizer(where: str):
    """The base model's tokenizer, with a padding token (end-of-text if it has none)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(where)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(where: str):
    """The base causal LM and its tokenizer."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(where), load_tokenizer(where)


def lora_config(size: InstructSize):
    """LoRA (Hu et al., 2021) on every linear layer of the blocks, rank ``size.lora_r``."""
    from peft import LoraConfig

    return LoraConfig(
        r=size.lora_r,
        lora_alpha=2 * size.lora_r,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
        modules_to_save=list(size.lora_also_train) or None,
    )


def sft_trainer(
    model,
    tokenizer,
    train: Dataset,
    size: InstructSize,
    lora: bool,
    output_dir: str,
    eval_dataset: Dataset | None = None,
    max_steps: int = -1,
    seed: int = 0,
):
    """``trl.SFTTrainer`` on prompt/completion pairs: loss on the completion only, sequences cut at
    ``size.max_length``; full tuning, or LoRA through ``peft_config``. Logs about 20 points."""
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    steps = max_steps if max_steps > 0 else size.epochs * math.ceil(len(train) / size.batch_size)
    every = max(1, steps // 20)
    on_gpu = torch.cuda.is_available()
    args = SFTConfig(
        output_dir=output_dir,
        max_length=size.max_length,
        completion_only_loss=True,
        num_train_epochs=size.epochs,
        max_steps=max_steps,
        per_device_train_batch_size=size.batch_size,
        learning_rate=size.lora_lr if lora else size.lr,
        lr_scheduler_type="linear",
        warmup_steps=0.1,
        weight_decay=0.0,
        max_grad_norm=1.0,
        seed=seed,
        data_seed=seed,
        logging_steps=every,
        per_device_eval_batch_size=64,
        eval_steps=max(1, steps // 4),
        eval_strategy="steps" if eval_dataset is not None else "no",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        # trl's defaults suit big models on GPUs; on a CPU, bf16 and activation recomputation only cost time
        bf16=on_gpu and torch.cuda.is_bf16_supported(),
        gradient_checkpointing=False,
        use_cpu=not on_gpu,
    )
    columns = ["prompt", "completion"]
    trainer = SFTTrainer(
        model=model,
        args=args,
        processing_class=tokenizer,
        train_dataset=train.select_columns(columns),
        eval_dataset=eval_dataset.select_columns(columns) if eval_dataset is not None else None,
        peft_config=lora_config(size) if lora else None,
    )
    trainer.remove_callback(PrinterCallback)  # the losses go into the run record, not onto the page
    return trainer
