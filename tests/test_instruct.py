"""The FLAN-style instruction builder, completion-only labels, SFT and the decoding helpers,
on the tiny data mirror (``conftest.mirror``) and a tiny randomly initialised GPT-2 (no
network, seconds)."""

import dataclasses

import pytest
import torch
from datasets import Dataset

from tap.chapters.ch06_instruction_tuning import INSTRUCT_SIZES
from tap.core.profiles import get_profile
from tap.training import instruct as ins

SMOKE = INSTRUCT_SIZES["smoke"]
WORDS = "good bad film plot actor story great awful boring fun world sports market science team".split()


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A byte-level BPE tokenizer trained on the templates, and a 1-layer GPT-2 with random weights."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-lm")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    texts = [t.text for t in ins.TEMPLATES] + [" ".join(WORDS)] * 5 + list(ins.OPTIONS)
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(fast),
            n_positions=128,
            n_embd=32,
            n_layer=1,
            n_head=2,
            eos_token_id=fast.eos_token_id,
            bos_token_id=fast.eos_token_id,
        )
    )
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def built(mirror, tiny_lm):
    return ins.build_instructions(SMOKE, ins.load_tokenizer(tiny_lm), get_profile("smoke"))


def test_builder_never_puts_evaluation_templates_or_examples_into_training(built):
    held_out = {t.name for t in ins.TEMPLATES if t.held_out}
    assert set(built.eval["template"]) == held_out
    assert not set(built.train["template"]) & held_out
    assert not set(built.train["text"]) & set(built.eval["text"])
    assert not set(built.train["source"]) & set(built.eval["source"])
    # the "seen templates" check set: the same held-out texts, written with training templates
    assert sorted(built.eval_seen["source"]) == sorted(built.eval["source"])
    assert not set(built.eval_seen["template"]) & held_out
    assert not set(built.train["source"]) & set(built.eval_seen["source"])
    # the same review is never used twice, across tasks either
    assert len(set(built.train["source"])) == len(built.train)
    assert len(set(built.eval["source"])) == len(built.eval)
    for task in ins.OPTIONS:  # every task present on both sides, answers from its options only
        for ds in (built.train, built.eval):
            answers = {a for a, t in zip(ds["answer"], ds["task"]) if t == task}
            assert answers and answers <= set(ins.OPTIONS[task])


def test_check_disjoint_catches_a_leak(built):
    leaked = Dataset.from_list([*built.train.select(range(3)).to_list(), built.eval[0]])
    with pytest.raises(AssertionError, match="leaked"):
        ins.check_disjoint(leaked, built.eval)


def test_pairs_are_prompt_completion_and_the_majority_baseline_is_balanced(built):
    row = built.train[0]
    assert row["prompt"].endswith("\n" + ins.ANSWER)
    assert row["completion"] == " " + row["answer"]
    acc = built.majority_accuracy()
    assert acc["sentiment"] == 0.5 and acc["genre"] == 0.5 and acc["topic"] == 0.25


def test_shorten_cuts_at_a_token_boundary(tiny_lm):
    tok = ins.load_tokenizer(tiny_lm)
    text = "the film was good " * 20
    short = ins.shorten(text, tok, 10)
    assert short.endswith(" …") and text.startswith(short[:-2])
    assert len(tok(short[:-2], add_special_tokens=False)["input_ids"]) <= 10
    assert ins.shorten("good film", tok, 10) == "good film"
    tail = ins.shorten(text + "the end", tok, 10, keep_end=True)
    assert tail.startswith("… ") and (text + "the end").endswith(tail[2:]) and tail.endswith("the end")
    assert len(tok(tail[2:], add_special_tokens=False)["input_ids"]) <= 10


def test_labels_are_masked_on_the_prompt(built, tiny_lm, tmp_path):
    model, tok = ins.load_base(tiny_lm)
    trainer = ins.sft_trainer(model, tok, built.train.select(range(8)), SMOKE, lora=False, output_dir=str(tmp_path))
    for example, pair in zip(trainer.train_dataset, built.train.select(range(8))):
        ids, labels = example["input_ids"], example["labels"]
        n_prompt = len(tok(pair["prompt"])["input_ids"])
        assert all(lab == -100 for lab in labels[:n_prompt]), "the prompt must not be trained on"
        assert labels[n_prompt:] == ids[n_prompt:], "every completion token is a target"
        assert tok.decode(ids[n_prompt:]) == pair["completion"] + tok.eos_token


def test_a_few_sft_steps_lower_the_completion_loss(built, tiny_lm, tmp_path):
    model, tok = ins.load_base(tiny_lm)
    size = dataclasses.replace(SMOKE, lr=1e-2)
    subset = built.train.select(range(16))
    trainer = ins.sft_trainer(model, tok, subset, size, lora=False, output_dir=str(tmp_path), max_steps=15)
    before = trainer.evaluate(trainer.train_dataset)["eval_loss"]
    trainer.train()
    after = trainer.evaluate(trainer.train_dataset)["eval_loss"]
    assert after < 0.5 * before


def test_lora_through_peft_config_trains_only_the_adapters(built, tiny_lm, tmp_path):
    model, tok = ins.load_base(tiny_lm)
    total = sum(p.numel() for p in model.parameters())
    trainer = ins.sft_trainer(
        model, tok, built.train.select(range(8)), SMOKE, lora=True, output_dir=str(tmp_path), max_steps=2
    )
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in trainable)
    assert all("lora_" in n or "ln_f.modules_to_save" in n for n in trainable), "LoRA + the final LayerNorm only"
    frozen = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if not p.requires_grad}
    trainer.train()
    assert all(torch.equal(p, frozen[n]) for n, p in trainer.model.named_parameters() if n in frozen)
    assert sum(p.numel() for n, p in trainer.model.named_parameters() if n in trainable) < 0.2 * total


def test_batched_greedy_decoding_matches_one_prompt_at_a_time(built, tiny_lm):
    model, tok = ins.load_base(tiny_lm)
    prompts = built.eval["prompt"][:3]  # different lengths: left padding must not change the answers
    batched = ins.generate(model, tok, prompts, max_new_tokens=4)
    single = [ins.generate(model, tok, [p], max_new_tokens=4)[0] for p in prompts]
    assert batched == single


def test_option_scores_are_completion_log_probabilities(built, tiny_lm):
    model, tok = ins.load_base(tiny_lm)
    prompt = built.eval["prompt"][0]
    scores = ins.option_logprobs(model, tok, prompt, ["positive", "negative"])
    ids = tok(prompt + " positive")["input_ids"] + [tok.eos_token_id]
    n = len(tok(prompt)["input_ids"])
    with torch.no_grad():
        logp = model(torch.tensor([ids])).logits[0].log_softmax(-1)
    manual = sum(logp[i - 1, ids[i]].item() for i in range(n, len(ids)))
    assert scores[0] == pytest.approx(manual, abs=1e-4)
    assert all(s < 0 for s in scores)


def test_normalise_compares_answers_leniently_but_exactly():
    assert ins.normalise(" Positive.\nand more") == "positive"
    assert ins.normalise("positively") != "positive"
    assert ins.normalise("") == ""


@pytest.mark.parametrize("template", ins.TEMPLATES, ids=lambda t: t.name)
def test_every_template_names_its_tasks_answers(template):
    # A held-out topic prompt that named no topic was answered "news", the genre task's answer,
    # 0 times in 120 with a valid topic: a question without its options is not one task but several.
    import re

    named = {o for o in ins.OPTIONS[template.task] if re.search(rf"\b{o}\b", template.text, re.IGNORECASE)}
    assert named == set(ins.OPTIONS[template.task]), (
        f"{template.name} does not name {set(ins.OPTIONS[template.task]) - named}"
    )


def test_constrained_decoding_keeps_the_option_it_picked_for_every_prompt(built, tiny_lm):
    model, tok = ins.load_base(tiny_lm)
    evaluation = built.eval.select(range(6))
    result = ins.evaluate_instructions(model, tok, evaluation, SMOKE)
    picked = result["constrained_answers"]
    assert len(picked) == len(evaluation)
    assert all(p in ins.OPTIONS[t] for p, t in zip(picked, evaluation["task"]))
    for task, score in result["constrained"].items():  # the accuracy is the picks' agreement with the answers
        rows = [i for i, t in enumerate(evaluation["task"]) if t == task]
        if rows:
            assert score == pytest.approx(sum(picked[i] == evaluation["answer"][i] for i in rows) / len(rows))
