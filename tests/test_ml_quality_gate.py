"""A failing data-quality gate stops training with a readable report, never a crash."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ml.core.dataset import build_dataset
from ml.models import ModelVersion, TrainingRun
from ml.monitoring import retraining
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
    documents = ml_ticket_documents(per_class=10, classes=["REPLACE_SFP", "ROLLBACK_SW"])
    documents += ml_ticket_documents(per_class=2, classes=["FIX_MAINS"], prefix="RARE")
    documents += ml_ticket_documents(per_class=1, classes=["RESET_RADIO"], prefix="ONCE")
    tickets_upsert(documents=documents, source="noc")
    report = check_quality(build_dataset())
    assert report.passed, report.text()
    assert report.rare_labels == {"FIX_MAINS": 2} and report.left_out_labels == {"RESET_RADIO": 1}
    assert "[note] trained on, too few to hold out: FIX_MAINS (2)" in report.text()
    assert "[note] left out of training, too few examples: RESET_RADIO (1)" in report.text()
    assert "2 classes with at least 5 examples (need 2); 2 below that" in report.text()
    assert report.to_json()["left_out_labels"] == {"RESET_RADIO": 1}


def test_a_failing_gate_stops_training_with_a_readable_report(db, model_dir):
    ml_catalogue()
    documents = ml_ticket_documents(per_class=3, classes=["REPLACE_SFP", "ROLLBACK_SW"])
    documents += [{"external_id": f"open-{i}", "title": "unlabelled"} for i in range(200)]
    tickets_upsert(documents=documents, source="noc")

    run = train_model(gate=GateConfig(min_examples=10))

    assert run.status == TrainingRun.Status.FAILED
    assert run.reason.splitlines()[0] == "Data-quality gate FAILED:"
    for line in (
        "[FAIL] label coverage: 6 of 206 tickets carry a resolution (2.9%; need 5%)",
        "[FAIL] enough examples: 0 usable examples in classes with at least 5 (need 10)",
        "[FAIL] enough classes: 0 classes with at least 5 examples (need 2); 2 below that",
        "[ok] newest tickets with text: every ticket has a title or description",
        "[note] trained on, too few to hold out: REPLACE_SFP (3), ROLLBACK_SW (3)",
        "To train anyway: --allow label-coverage --allow enough-examples --allow enough-classes",
    ):
        assert line in run.reason, run.reason
    assert run.quality_report["passed"] is False
    assert ModelVersion.objects.count() == 0
    assert not (model_dir.exists() and any(model_dir.iterdir()))


def _codes_only(documents):
    for document in documents:
        document.update(title="", description="")
    return documents


def test_a_codes_only_set_with_uncurated_vendor_codes_passes_with_a_curation_list(db):
    ml_catalogue()
    documents = _codes_only(ml_ticket_documents(per_class=6))
    for i, document in enumerate(documents):
        document["error_codes"] = [f"VX-{i % 3}"]
        document["events"] = [{"kind": "Raised", "code": f"VX-{i % 3}"}]
    tickets_upsert(documents=documents, source="noc")
    report = check_quality(build_dataset())
    assert report.passed, report.text()
    assert (
        "[ok] newest tickets with text: no ticket has a title or description: a codes-only set"
        in report.text()
    )
    assert "[WARN] unmapped-code rate: 100.0% of 48 code occurrences map to no curated code" in report.text()
    assert report.curation == {"VX-0": 16, "VX-1": 16, "VX-2": 16}
    assert "most frequent first: VX-0 (16), VX-1 (16), VX-2 (16)" in report.text()
    assert report.to_json()["warnings"] == ["unmapped-codes", "duplicates"]


def test_duplicates_are_a_warning_naming_the_fields_that_would_tell_them_apart(db):
    ml_catalogue()
    documents = ml_ticket_documents(per_class=6)
    for i, document in enumerate(documents):
        document.update(title="link down", description="", error_codes=["CPRI_LINK_DOWN"], events=[])
        document["resolution_notes"] = f"note {i}"  # an outcome, never an input: not named
    tickets_upsert(documents=documents, source="noc")
    dataset = build_dataset()
    for example in dataset.examples:  # as an export whose readings the serialiser would drop
        example.document["attributes"] = {"volume": example.ticket_id}
    report = check_quality(dataset)
    [duplicates] = [c for c in report.checks if c.key == "duplicates"]
    assert not duplicates.ok and not duplicates.stops and report.passed
    assert "23 examples repeat another's input exactly (95.8%" in duplicates.message
    assert "would tell them apart: attributes.volume (1 groups)" in duplicates.message


def test_a_lost_text_column_stops_training_and_can_be_overridden(db):
    ml_catalogue()
    documents = ml_ticket_documents(per_class=6)
    _codes_only(documents[-6:])  # the newest import came without its text column
    tickets_upsert(documents=documents, source="noc")
    report = check_quality(build_dataset())
    assert not report.passed
    assert (
        "[FAIL] newest tickets with text: 100% of the older tickets of 'noc' have a title or description "
        "but only 0%" in report.text()
    )
    [text] = [c for c in report.checks if c.key == "text-lost"]
    assert (text.value, text.limit) == (0.0, 0.1)  # the newest quarter's share, as the rule reads it
    allowed = check_quality(build_dataset(), allow=["text-lost"])
    assert allowed.passed and [c.key for c in allowed.overridden] == ["text-lost"]
    assert "[ALLOWED] newest tickets with text" in allowed.text()
    with pytest.raises(ValueError, match="unknown gate check"):
        check_quality(build_dataset(), allow=["everything"])


def test_an_override_is_recorded_on_the_run_and_kept_by_scheduled_retrains(db, model_dir, tmp_path):
    ml_catalogue()
    unlabelled = [{"external_id": f"open-{i}", "title": "unlabelled"} for i in range(600)]
    tickets_upsert(documents=ml_ticket_documents(per_class=6) + unlabelled, source="noc")
    assert not check_quality(build_dataset()).passed  # 24 of 624 labelled: label coverage fails
    with pytest.raises(CommandError, match="is not a Hugging Face model directory"):
        call_command(
            "train",
            "--sync",
            "--allow",
            "label-coverage",
            "--base-model",
            str(tmp_path / "none"),
            stdout=StringIO(),
        )
    run = TrainingRun.objects.get()
    # The gate ran with the override (it failed later, on the missing base model).
    assert run.config["allow"] == ["label-coverage"] and run.quality_report["allowed"] == ["label-coverage"]
    assert run.quality_report["passed"] is True and run.quality_report["overridden"] == ["label-coverage"]

    retrain = retraining.scheduled_retrain()
    assert retrain.trigger == TrainingRun.Trigger.SCHEDULE and retrain.config["allow"] == ["label-coverage"]

    strict = check_quality(build_dataset(), GateConfig(min_label_coverage=1.01), allow=run.config["allow"])
    assert strict.passed and strict.to_json()["overridden"] == ["label-coverage"]


def test_a_codes_only_source_imported_after_a_text_source_is_not_a_lost_text_column(db):
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=6), source="desk")
    codes_only = _codes_only(ml_ticket_documents(per_class=3, prefix="NET"))
    tickets_upsert(documents=codes_only, source="net")
    report = check_quality(build_dataset())
    assert report.passed, report.text()
    assert "[ok] newest tickets with text: 66.7% of tickets have a title or description" in report.text()
