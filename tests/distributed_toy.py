"""Trained by tests/test_distributed.py in one process and in two (``torchrun``): the toy
classifier without dropout, whose update must not depend on how many processes compute it."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_training import SIZE, toy_task  # noqa: E402

from tap.core.devices import is_main_process  # noqa: E402
from tap.models.encoder import TransformerClassifier  # noqa: E402
from tap.training.loop import TrainConfig, predict, train  # noqa: E402


def trained(micro_batch: int = 0) -> tuple[dict, dict, torch.Tensor]:
    """``(record, weights, test predictions)``; batches of 7 leave a last batch of 6 rows."""
    torch.manual_seed(0)
    model = TransformerClassifier(SIZE, num_classes=2, dropout=0.0)
    record, model = train(
        model, toy_task(48), toy_task(20), TrainConfig(epochs=2, batch_size=7, micro_batch=micro_batch)
    )
    return record, model.state_dict(), predict(model, toy_task(40))[0]


if __name__ == "__main__":
    record, weights, predicted = trained(int(sys.argv[2]))
    if is_main_process():
        torch.save({"record": record, "weights": weights, "predicted": predicted}, sys.argv[1])
