"""A failing data-quality gate stops training with a readable report, never a crash."""

import pytest

from ml.core.dataset import build_dataset
from ml.models import ModelVersion, TrainingRun
from ml.training.quality import GateConfig, check_quality
from ml.training.services import train_model
from repair_center.services.tickets import tickets_upsert
from tests.factories import ml_catalogue, ml_ticket_documents


@pytest.fixture
def model_dir(settings, tmp_path):
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"
    return settings.TICKETAI_MODEL_DIR


def test_a_clean_set_passes_and_rare_classes_are_only_noted(db):
    ml_catalogue()
    documents = ml_ticket_documents(per_class=7, classes=["REPLACE_SFP", "ROLLBACK_SW", "RESET_RADIO"])
    documents += ml_ticket_documents(per_class=2, classes=["FIX_MAINS"], prefix="RARE")
    tickets_upsert(documents=documents, source="noc")
    report = check_quality(build_dataset())
    assert report.passed, report.text()
    assert report.rare_labels == {"FIX_MAINS": 2}
    assert "left out of training, too few examples: FIX_MAINS (2)" in report.text()


def test_a_failing_gate_stops_training_with_a_readable_report(db, model_dir):
    ml_catalogue()
    documents = ml_ticket_documents(per_class=3, classes=["REPLACE_SFP", "ROLLBACK_SW"])
    for document in documents[:4]:
        document.update(title="", description="", error_codes=["XX-1", "XX-2"], events=[])
    documents += [{"external_id": f"open-{i}", "title": "unlabelled"} for i in range(200)]
    tickets_upsert(documents=documents, source="noc")

    run = train_model(gate=GateConfig(min_examples=10, max_empty_text_rate=0.5, max_unmapped_code_rate=0.3))

    assert run.status == TrainingRun.Status.FAILED
    assert run.reason.splitlines()[0] == "Data-quality gate FAILED:"
    for line in (
        "[FAIL] label coverage: 6 of 206 tickets carry a resolution (2.9%; need 5%)",
        "[FAIL] enough examples: 0 usable examples in classes with at least 5 (need 10)",
        "[FAIL] enough classes: 0 classes with at least 5 examples (need 2); 2 below that",
        "[FAIL] empty-text rate: 66.7% of examples have no title or description",
        "[FAIL] unmapped-code rate: 57.1% of 14 code occurrences map to no curated code",
        "[FAIL] duplicate rate: 3 examples repeat another's input exactly (50.0%; at most 30%); "
        "1 repeated inputs carry different labels",
        "[note] left out of training, too few examples: REPLACE_SFP (3), ROLLBACK_SW (3)",
    ):
        assert line in run.reason, run.reason
    assert run.quality_report["passed"] is False
    assert ModelVersion.objects.count() == 0
    assert not (model_dir.exists() and any(model_dir.iterdir()))
