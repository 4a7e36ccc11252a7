"""Chapter 03's tokenizers give the same token ids in every process (so every build of the book)."""

import json
import os
import subprocess
import sys

import pytest
from transformers import AutoTokenizer

from tap.data import subwords

SAMPLE = "The quixotic director's zany, jumbled plot was great.<br />Loved it!"

# Trains both tokenizers on a fixed corpus of a few hundred varied sentences (whose words use
# most letters inside words, so many '##x' pieces) and prints their vocabularies and an encoding.
TRAIN = """
import hashlib, json, random
from tap.data import subwords
words = ("the a movie film was great terrible acting plot actor ending boring loved hated it and but really "
         "quick brown fox jumps over lazy dog zany quixotic jumbled wizard vexing buzz jazz pixel squeeze "
         "rhythm oxygen fjord kayak yacht gnome whisky jinx awkward twelfth sphinx crypt glyph lymph").split()
rng = random.Random(0)
texts = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 15))) + "." for _ in range(400)]
out = {}
for kind, size in [("wordpiece", 300), ("bpe", 400)]:
    tok = getattr(subwords, "train_" + kind)(texts, vocab_size=size)
    out[kind] = {"vocab": tok.get_vocab(), "ids": tok(SAMPLE)["input_ids"],
                 "file": hashlib.sha256(tok.backend_tokenizer.to_str().encode()).hexdigest()}
print(json.dumps(out, sort_keys=True))
""".replace("SAMPLE", repr(SAMPLE))


@pytest.fixture(scope="module")
def processes():
    """The same training run in three fresh interpreters (different hash seeds), side by side."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", TRAIN],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        for seed in ("1", "2", "3")
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs)
    return [json.loads(out) for out in outputs]


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_training_gives_the_same_ids_in_every_process(processes, kind):
    first, *others = (run[kind] for run in processes)
    for other in others:
        assert first["vocab"] == other["vocab"]
        assert first["ids"] == other["ids"]
        assert first["file"] == other["file"]  # the saved tokenizer, byte for byte


def test_wordpiece_ids_start_with_the_special_tokens_and_survive_saving(tmp_path):
    texts = ["the quick brown fox jumps over the lazy dog.", "a zany quixotic wizard vexing the jury!"] * 20
    tok = subwords.train_wordpiece(texts, vocab_size=120)
    assert [tok.convert_ids_to_tokens(i) for i in range(5)] == subwords.WORDPIECE_SPECIALS
    assert sorted(tok.added_tokens_decoder) == [0, 1, 2, 3, 4]  # '##x' pieces are ordinary pieces
    ids = tok("The lazy wizard.")["input_ids"]
    assert ids[0] == tok.cls_token_id == 2 and ids[-1] == tok.sep_token_id == 3
    pair = tok("The lazy", "wizard.")["input_ids"]
    assert pair[0] == 2 and pair.count(3) == 2 and pair[-1] == 3
    assert tok.decode(ids, skip_special_tokens=True) == "the lazy wizard."
    tok.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded("The lazy wizard.")["input_ids"] == ids and reloaded.get_vocab() == tok.get_vocab()
