"""Fine-tuning is seeded: the same data and config give the same model, and rare classes weigh more."""

import numpy as np
import pytest
import torch

from ml.training.fine_tuning import TrainingConfig, class_weights, fine_tune, predict_proba

pytestmark = pytest.mark.slow

TEXTS = [
    "[codes] SFP_RX_LOW low rx power",
    "[codes] SW_CRASH restart loop",
    "[codes] MAINS_FAIL on battery",
] * 3
LABELS = ["REPLACE_SFP", "ROLLBACK_SW", "FIX_MAINS"] * 3


def _train(tmp_path, name: str, seed: int):
    config = TrainingConfig(epochs=1, max_length=16, batch_size=4, seed=seed)
    info = fine_tune(
        train_texts=TEXTS,
        train_labels=LABELS,
        val_texts=TEXTS[:3],
        val_labels=LABELS[:3],
        labels=sorted(set(LABELS)),
        config=config,
        output_dir=tmp_path / name,
    )
    return info, predict_proba(tmp_path / name, TEXTS[:3], max_length=16)


def test_the_same_seed_gives_the_same_model_and_another_seed_does_not(tmp_path):
    info, first = _train(tmp_path, "a", seed=7)
    _, again = _train(tmp_path, "b", seed=7)
    _, other = _train(tmp_path, "c", seed=8)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert (info["epochs_run"], info["max_length"], info["train_examples"]) == (1, 16, 9)
    gpu = torch.cuda.is_available()
    assert info["device"] == (f"cuda ({torch.cuda.get_device_name(0)})" if gpu else "cpu")
    assert info["history"][0]["val_macro_f1"] is not None


def test_class_weights_favour_rare_classes_and_are_capped():
    assert class_weights([0, 0, 0, 1], 2) == [4 / 6, 2.0]
    assert class_weights([0] * 100 + [1], 2)[1] == 10.0
    assert class_weights([0, 0], 3)[1:] == [0.0, 0.0]
