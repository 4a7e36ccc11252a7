"""Chapter 06's metrics, and the book's training loop run as chapter 06 runs it (BERT's weight-decay
recipe, macro-F1 at each validation); run as a script (by ``torchrun``), it trains the
dropout-free tiny BERT for the two-process test."""

import sys

import pytest
import torch
from sklearn.metrics import f1_score
from transformers import BertConfig, BertForSequenceClassification

from tap.core.devices import is_main_process
from tap.core.profiles import get_profile
from tap.data.hf_data import TokenizedDataset
from tap.training import multiclass as mc
from tap.training.loop import TrainConfig, param_groups, train


def test_accuracy_macro_f1_and_confusion_match_a_hand_computed_example():
    pred = torch.tensor([0, 1, 2, 2])
    gold = torch.tensor([0, 1, 1, 2])
    assert mc.accuracy(pred, gold) == 0.75
    # class 0: F1 1; class 1: P 1, R 1/2 -> F1 2/3; class 2: P 1/2, R 1 -> F1 2/3
    assert mc.macro_f1(pred, gold, 3) == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert mc.confusion(pred, gold, 3).tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]


def test_macro_f1_agrees_with_scikit_learn_and_counts_unpredicted_classes_as_zero():
    g = torch.Generator().manual_seed(0)
    gold, pred = (
        torch.randint(0, 4, (200,), generator=g),
        torch.randint(0, 3, (200,), generator=g),
    )  # class 3 never predicted
    assert mc.macro_f1(pred, gold, 4) == pytest.approx(f1_score(gold, pred, average="macro"))


def test_majority_baseline_predicts_the_most_frequent_training_class():
    base = mc.majority_baseline([2, 2, 1, 0], [2, 1, 1, 0], num_classes=3)
    assert base["majority_class"] == 2
    assert base["test_accuracy"] == 0.25
    assert base["test_macro_f1"] == pytest.approx((0 + 0 + 0.4) / 3)  # F1 of class 2: P 1/4, R 1
    assert not base["majority_tied"]
    tied = mc.majority_baseline([0, 1, 1, 0, 2], [0, 1], num_classes=3)
    assert tied["majority_tied"] and tied["majority_class"] == 0  # the first of the classes tied for most


def toy_split(n: int = 64) -> TokenizedDataset:
    """Class c is marked by token 10 + c among random tokens: learnable in a few steps."""
    g = torch.Generator().manual_seed(0)
    ids, labels = [], []
    for i in range(n):
        y = i % 3
        ids.append([1] + torch.randint(20, 50, (6,), generator=g).tolist() + [10 + y, 2])
        labels.append(y)
    return TokenizedDataset(ids=ids, labels=labels, pad_id=0)


def tiny_bert(dropout: float = 0.1) -> BertForSequenceClassification:
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        num_labels=3,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    return BertForSequenceClassification(cfg)


def fine_tune(model, train_data: TokenizedDataset, val_data: TokenizedDataset, cfg: TrainConfig):
    """Chapter 06's call of the loop, on three classes."""
    cfg = TrainConfig(**{**cfg.to_dict(), "no_decay": mc.BERT_NO_DECAY})
    return train(model, train_data, val_data, cfg, validate=mc.validation(val_data, 3))


def test_berts_recipe_leaves_biases_and_layernorm_gains_undecayed():
    model = tiny_bert()
    decayed, kept = param_groups(model, TrainConfig(weight_decay=0.01, no_decay=mc.BERT_NO_DECAY))
    names = {id(p): n for n, p in model.named_parameters()}
    assert decayed["weight_decay"] == 0.01 and kept["weight_decay"] == 0.0
    assert all(names[id(p)].endswith("bias") or "LayerNorm" in names[id(p)] for p in kept["params"])
    assert not any(names[id(p)].endswith("bias") or "LayerNorm" in names[id(p)] for p in decayed["params"])
    assert len(decayed["params"]) + len(kept["params"]) == len(list(model.parameters()))
    (everything,) = param_groups(model, TrainConfig(weight_decay=0.01))  # the default: one group, all decayed
    assert len(everything["params"]) == len(list(model.parameters()))
    model.bert.requires_grad_(False)  # frozen weights are not the optimiser's
    assert [len(g["params"]) for g in param_groups(model, TrainConfig(no_decay=mc.BERT_NO_DECAY))] == [1, 1]


def test_the_loop_learns_and_keeps_the_best_checkpoint():
    data = toy_split()
    model = tiny_bert()
    before = mc.evaluate_split(model, data, 3)
    record, model = fine_tune(model, data, data, TrainConfig(epochs=15, lr=1e-2, batch_size=16, evals_per_epoch=2))
    after = mc.evaluate_split(model, data, 3)
    assert after["loss"] < before["loss"]
    assert record["history"][-1]["train_loss"] < 0.5 * record["history"][0]["train_loss"]
    assert after["accuracy"] == record["best_val_accuracy"] == max(h["val_accuracy"] for h in record["history"])
    assert after["accuracy"] > 0.9
    assert record["processes"] == 1 and all("val_macro_f1" in h for h in record["history"])
    for field in ("wall_time_s", "examples_per_s", "peak_memory_mb", "trainable_params", "total_params"):
        assert record[field]


def trained_without_dropout(micro_batch: int = 0) -> tuple[dict, dict, list]:
    """``(record, weights, test probabilities)``: batches of 7 leave a last batch of 5 rows, the
    20 validation rows are one batch (a second process scores none), the 150 test rows three."""
    record, model = fine_tune(
        tiny_bert(dropout=0.0),
        toy_split(40),
        toy_split(20),
        TrainConfig(epochs=6, lr=3e-3, batch_size=7, evals_per_epoch=2, micro_batch=micro_batch),
    )
    return record, model.state_dict(), mc.score_test_split(model, toy_split(150), 3)["test_probs"]


def test_two_processes_fine_tune_as_one_does(tmp_path):
    """``torchrun --nproc-per-node 2`` (gloo on a CPU), each batch split across the processes
    and into micro-batches of 2: the weights agree with one process's to float rounding, and the
    validation and test scores, computed in shares and gathered, are the same."""
    from test_distributed import two_processes

    two_processes(__file__, str(tmp_path / "two.pt"), "2")
    two = torch.load(tmp_path / "two.pt")
    record, weights, probs = trained_without_dropout()
    assert two["record"]["processes"] == 2 and record["processes"] == 1
    for name, w in weights.items():  # the key bias's true gradient is 0: it moves by rounding noise,
        atol = 3e-3 if name.endswith("key.bias") else 1e-5  # which AdamW may scale up to a step of lr (3e-3)
        torch.testing.assert_close(two["weights"][name], w, rtol=1e-4, atol=atol, msg=name)
    assert record["best_val_accuracy"] > 0.9  # it learned: the comparison is not between two untrained models
    assert [h["val_accuracy"] for h in two["record"]["history"]] == [h["val_accuracy"] for h in record["history"]]
    torch.testing.assert_close(torch.tensor(two["probs"]), torch.tensor(probs), rtol=0, atol=1e-3)


def test_score_test_split_reports_probabilities_that_sum_to_one():
    data = toy_split(12)
    scores = mc.score_test_split(tiny_bert(), data, 3)
    probs = torch.tensor(scores["test_probs"])
    assert probs.shape == (12, 3)
    assert torch.allclose(probs.sum(-1), torch.ones(12), atol=1e-3)
    assert sum(map(sum, scores["confusion"])) == 12
    assert scores["test_accuracy"] == mc.accuracy(probs.argmax(-1), torch.tensor(data.labels))


def test_task_splits_are_disjoint_balanced_and_say_where_they_come_from(mirror):
    s = mc.task_splits("ag_news", get_profile("smoke"))
    texts = [set(ds["text"]) for ds in (s.train, s.val, s.test)]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    assert len(s.train) == mc.SIZES["smoke"].train
    assert len(set(torch.bincount(torch.tensor(s.train["label"])).tolist())) == 1
    assert "only the 7,600-row test split" in s.note and "This chapter uses" in s.note
    with pytest.raises(ValueError, match="Unknown task"):
        mc.task_splits("sst2", get_profile("smoke"))


def test_misclassified_lists_the_most_confident_errors_first():
    from datasets import Dataset

    test = Dataset.from_dict({"text": ["a", "b", "c", "d"], "label": [0, 1, 1, 0]})
    probs = [[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]]  # c is wrong at 0.7, d at 0.6
    table = mc.misclassified(probs, test, ["neg", "pos"], k=5)
    assert table["text"].tolist() == ["c", "d"] and table["true"].tolist() == ["pos", "neg"]
    assert table["p(predicted)"].tolist() == [0.7, 0.6] and table["p(true)"].tolist() == [0.3, 0.4]


if (
    __name__ == "__main__"
):  # python -m torch.distributed.run --nproc-per-node 2 tests/test_multiclass.py OUT MICRO_BATCH
    record, weights, probs = trained_without_dropout(int(sys.argv[2]))
    if is_main_process():
        torch.save({"record": record, "weights": weights, "probs": probs}, sys.argv[1])
