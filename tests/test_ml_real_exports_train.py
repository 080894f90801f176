"""Real exports train through the user's path with no options: a codes-only event log and a text-only
desk export (slices in tests/data/real, provenance in its README), import -> train -> a model.

The training config is tiny (one epoch, short sequences, few samples) but the path is the real one:
the quality gate, the split, the fine-tune, the served mix and the registry."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from ml.models import ModelVersion, TrainingRun
from tests.real_exports import INCIDENT_LOG_MAP, REAL

TINY = ["--sync", "--epochs", "1", "--max-length", "48", "--max-train-samples", "40"]
pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture
def model_dir(settings, tmp_path):
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"


def _import(path, *args) -> str:
    out = StringIO()
    call_command("import_tickets", str(path), "--create-missing", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def _train() -> tuple[dict, TrainingRun]:
    out = StringIO()
    call_command("train", *TINY, stdout=out, stderr=StringIO())
    return json.loads(out.getvalue()), TrainingRun.objects.get()


def test_a_codes_only_event_log_without_dates_trains_with_no_options(model_dir):
    summary = _import(
        REAL / "incident_event_log_100.csv",
        "--source",
        "itsm",
        *INCIDENT_LOG_MAP,
    )
    assert summary == "created 100, updated 0, unchanged 0, rejected 0"

    result, run = _train()

    assert result["status"] == "succeeded", run.reason
    report = run.quality_report
    assert report["passed"] is True and report["overridden"] == [] and run.config["allow"] == []
    [text] = [c for c in report["checks"] if c["key"] == "text-lost"]
    assert text["ok"] and "codes-only set" in text["message"]
    version = ModelVersion.objects.get()
    assert version.split["method"] == "random" and version.split["seed"] is not None
    assert "carry an open time" in version.split["reason"]
    assert 0.0 <= result["metrics"]["macro_f1"] <= 1.0


def test_a_text_only_desk_export_trains_with_no_options(model_dir):
    mapping = ["--map", "description=Document", "--map", "resolution=Topic_group"]
    summary = _import(REAL / "it_tickets_200.csv", "--source", "desk", *mapping)
    assert summary == "created 200, updated 0, unchanged 0, rejected 0"

    result, run = _train()

    assert result["status"] == "succeeded", run.reason
    assert run.quality_report["passed"] is True and run.quality_report["overridden"] == []
    version = ModelVersion.objects.get()
    assert version.split["method"] == "random"
    topics = {"HR Support", "Access", "Hardware", "Miscellaneous", "Purchase", "Storage"}
    assert set(version.label_set) <= topics | {"Administrative rights", "Internal Project"}
