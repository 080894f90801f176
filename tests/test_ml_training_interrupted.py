"""A training stopped by Ctrl-C (`train --sync`) or a task termination ends failed, not "running"."""

import pytest

from ml.models import ModelVersion, TrainingRun
from ml.training.fine_tuning import TrainingConfig
from ml.training.services import train_model
from repair_center.services.tickets import tickets_upsert
from tests.factories import ml_catalogue, ml_ticket_documents, tiny_encoder_dir

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_a_training_interrupted_mid_fine_tune_is_recorded_as_failed(db, settings, tmp_path, stop):
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=6), source="noc")
    config = TrainingConfig(
        base_model=str(tiny_encoder_dir(tmp_path / "base")), epochs=1, max_length=32, max_train_samples=8
    )

    def interrupt(progress: dict) -> None:  # what the terminal's Ctrl-C does between two steps
        raise stop()

    with pytest.raises(stop):
        train_model(config=config, progress=interrupt)

    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.FAILED
    assert run.reason == f"interrupted ({stop.__name__}) before it finished"
    assert run.finished_at is not None
    assert not ModelVersion.objects.exists()
    assert list((tmp_path / "models").iterdir()) == []  # the staged files went with it
