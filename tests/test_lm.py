"""Chapter 03: tokenizers, the masked-LM collator, pre-training, saving and reloading, the classifier
built on the masked LM, and the samples' decoding."""

import random

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer, BertForMaskedLM, GPT2LMHeadModel

from tap.data import subwords
from tap.training import lm
from tap.training.lm import LMSize, MaskedLMCollator

WORDS = "the a movie film was great terrible acting plot actor ending boring loved hated it and but really".split()
SIZE = LMSize(
    d_model=32,
    num_layers=1,
    num_heads=2,
    d_ff=64,
    block_size=16,
    train_tokens=0,
    batch_size=8,
    lr=5e-3,
    evals=2,
    heldout_blocks=8,
    epochs=2,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Models this small train fastest on one thread (and do not fight other processes for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def texts():
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 15))) + "." for _ in range(300)]


@pytest.fixture(scope="module")
def wordpiece(texts):
    return subwords.train_wordpiece(texts, vocab_size=120)


@pytest.fixture(scope="module")
def bpe(texts):
    return subwords.train_bpe(texts, vocab_size=300)


def test_wordpiece_round_trips_and_marks_unknown_characters(wordpiece):
    ids = wordpiece("The movie was GREAT.<br />Loved it.")["input_ids"]
    assert ids[0] == wordpiece.cls_token_id and ids[-1] == wordpiece.sep_token_id
    assert wordpiece.decode(ids, skip_special_tokens=True) == "the movie was great. loved it."
    unknown = wordpiece("great ☃ film")["input_ids"]
    assert wordpiece.unk_token_id in unknown and len(unknown) == 5
    assert subwords.unknown_rate(wordpiece, ["great ☃ film"]) == pytest.approx(1 / 3)


def test_bpe_round_trips_any_text_exactly(bpe):
    text = "Naïve café ☃ — the plot was terrible!!\n\nLoved it."
    ids = bpe(text)["input_ids"]
    assert bpe.decode(ids) == text
    assert subwords.unknown_rate(bpe, [text]) == 0.0
    assert bpe.eos_token == bpe.bos_token == subwords.EOS and bpe.pad_token_id != bpe.eos_token_id


def test_tokenized_dataset_pads_with_the_tokenizers_pad_id(bpe):
    from tap.data.hf_data import TokenizedDataset

    ds = TokenizedDataset.from_tokenizer(bpe, ["great film", "the movie was really boring and long"], [1, 0], 32)
    inputs, labels = next(ds.batches(2, shuffle=False))
    short = inputs["attention_mask"][0] == 0
    assert short.any() and (inputs["input_ids"][0][short] == bpe.pad_token_id).all()
    assert inputs["attention_mask"].dtype == torch.long and labels.tolist() == [1, 0]


def test_token_blocks_are_full_length_with_end_of_text(bpe, texts):
    blocks = lm.token_blocks(bpe, texts, block_size=16, add_eos=True)
    assert blocks and all(len(b) == 16 for b in blocks)
    assert sum(b.count(bpe.eos_token_id) for b in blocks) >= len(texts) * 0.9
    assert len(lm.token_blocks(bpe, texts, block_size=16, max_tokens=64)) == 4


def test_mlm_collator_masks_15_percent_and_never_special_tokens(wordpiece, texts):
    blocks = lm.token_blocks(wordpiece, texts * 4, block_size=32)
    collator = MaskedLMCollator(wordpiece, 0.15, seed=0)
    batch = collator([{"input_ids": b} for b in blocks])
    original = torch.tensor(blocks)
    special = torch.isin(original, torch.tensor(wordpiece.all_special_ids))
    masked = batch["labels"] != -100
    assert special.any() and not (masked & special).any()
    assert masked[~special].float().mean().item() == pytest.approx(0.15, abs=0.02)
    assert torch.equal(batch["labels"][masked], original[masked])
    replaced = batch["input_ids"][masked] == wordpiece.mask_token_id
    assert replaced.float().mean().item() == pytest.approx(0.8, abs=0.05)
    once = collator.mask_once(blocks[:4])
    assert collator(once)["labels"].tolist() == [f["labels"] for f in once]


@pytest.mark.parametrize("kind", ["masked", "causal"])
def test_a_few_training_steps_lower_the_held_out_loss(kind, wordpiece, bpe, texts):
    torch.manual_seed(0)
    if kind == "masked":
        tok = wordpiece
        model = BertForMaskedLM(lm.bert_config(tok, SIZE))
        collator = MaskedLMCollator(tok, seed=0)
        blocks = lm.token_blocks(tok, texts, SIZE.block_size)
        heldout = collator.mask_once(blocks[:8])
    else:
        tok = bpe
        model = GPT2LMHeadModel(lm.gpt2_config(tok, SIZE))
        from transformers import DataCollatorForLanguageModeling

        collator = DataCollatorForLanguageModeling(tok, mlm=False)
        blocks = lm.token_blocks(tok, texts, SIZE.block_size, add_eos=True)
        heldout = [{"input_ids": b} for b in blocks[:8]]
    record = lm.pretrain(model, tok, [{"input_ids": b} for b in blocks[8:88]], heldout, collator, SIZE)
    losses = [h["val_loss"] for h in record["history"]]
    assert losses[0] > losses[-1] + 0.5, losses
    assert record["history"][0]["step"] == 0 and record["trainable_params"] == sum(
        p.numel() for p in model.parameters()
    )


@pytest.mark.parametrize("kind", ["masked", "causal"])
def test_saved_models_reload_with_identical_outputs(kind, wordpiece, bpe, tmp_path):
    torch.manual_seed(0)
    tok = wordpiece if kind == "masked" else bpe
    model = (
        BertForMaskedLM(lm.bert_config(tok, SIZE)) if kind == "masked" else GPT2LMHeadModel(lm.gpt2_config(tok, SIZE))
    )
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    auto = AutoModelForMaskedLM if kind == "masked" else AutoModelForCausalLM
    again, tok_again = auto.from_pretrained(tmp_path).eval(), AutoTokenizer.from_pretrained(tmp_path)
    inputs = tok_again(["the movie was great", "boring"], return_tensors="pt", padding=True)
    assert inputs["input_ids"].tolist() == tok(["the movie was great", "boring"], padding=True)["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model.eval()(**inputs).logits, again(**inputs).logits, atol=1e-6)
    assert tok_again.pad_token_id == tok.pad_token_id and tok_again.eos_token_id == tok.eos_token_id


def test_unigram_perplexity_is_the_vocabulary_size_for_unseen_text(bpe):
    from tap.chapters.ch03_language_model import unigram_perplexity

    seen = len(bpe("great", add_special_tokens=False)["input_ids"])
    assert unigram_perplexity(bpe, ["great"], ["qqq"]) == pytest.approx(len(bpe) + seen)  # every token unseen
    assert unigram_perplexity(bpe, ["the movie"] * 50, ["the movie"]) < 10


def test_classifier_starts_from_the_masked_lm_and_ignores_padding(wordpiece, tmp_path):
    from tap.models.lm_finetune import bert_classifier

    torch.manual_seed(1)  # bert_classifier seeds 0: the from-scratch model differs from this one
    mlm = BertForMaskedLM(lm.bert_config(wordpiece, SIZE))
    mlm.save_pretrained(tmp_path)
    pretrained, scratch = bert_classifier(tmp_path, True), bert_classifier(tmp_path, False)
    emb = mlm.bert.embeddings.word_embeddings.weight
    assert torch.equal(pretrained.bert.embeddings.word_embeddings.weight, emb)
    assert not torch.equal(scratch.bert.embeddings.word_embeddings.weight, emb)
    assert sum(p.numel() for p in pretrained.parameters()) == sum(p.numel() for p in scratch.parameters())
    pretrained.eval()
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    padded = torch.tensor([[2, 10, 11, 12, 3, 0, 0]])
    with torch.no_grad():
        short = pretrained(input_ids=ids, attention_mask=torch.ones_like(ids))
        long = pretrained(input_ids=padded, attention_mask=(padded != 0).long() | (torch.arange(7) < 5).long())
    assert short.shape == (1, 2) and torch.allclose(short, long, atol=1e-5)


def test_samples_are_readable_whole_characters_without_replacement_marks(bpe):
    from tap.chapters.ch03_language_model import readable_text

    text = "Naïve café ☃ — the plot was terrible!!\n\nLoved it."
    ids = bpe(text)["input_ids"]
    assert readable_text(bpe, ids) == " ".join(text.split())
    for end in range(1, len(ids) + 1):  # a sample may stop inside a multi-byte character
        assert "\ufffd" not in readable_text(bpe, ids[:end])
    lone_bytes = [bpe.convert_tokens_to_ids(t) for t in ("Ã", "Ġthe", "¯")]  # bytes of no whole character
    assert "\ufffd" in bpe.decode(lone_bytes) and readable_text(bpe, lone_bytes) == "the"
    assert readable_text(bpe, [bpe.eos_token_id] + ids + [bpe.pad_token_id]) == readable_text(bpe, ids)


def test_each_prompt_gets_its_own_seed_and_both_models_the_same(bpe):
    import pandas as pd

    from tap.chapters.ch03_language_model import generate, sample_words
    from tap.data.text import Vocabulary

    torch.manual_seed(0)
    model = GPT2LMHeadModel(lm.gpt2_config(bpe, SIZE))
    prompts = ["the movie", "the movie"]
    first, second = generate(model, bpe, prompts, seed=3, max_new_tokens=12)
    assert first != second  # the same prompt twice: different seeds, different samples
    assert generate(model, bpe, prompts, seed=3, max_new_tokens=12) == [first, second]  # deterministic
    assert generate(model, bpe, prompts[:1], seed=4, max_new_tokens=12) == [second]  # prompt i: seed + i
    vocab = Vocabulary.build(["great film", "bad film"], max_size=10, min_freq=1)
    table = sample_words(pd.DataFrame({"a": ["great film film", "zzz"], "b": ["great", "great"]}), vocab)
    assert table.loc["a", "words"] == 4 and table.loc["a", "known words (%)"] == 75.0
    assert table.loc["a", "distinct words (%)"] == 75.0 and table.loc["b", "different samples"] == 1
