"""`manage.py predict FILE --output OUT.jsonl` scores a file in batch, one line per input row."""

import json

import pytest
from django.core.management import CommandError, call_command

from ml.models import ModelVersion
from tests.factories import ML_CLASSES

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def _doc(resolution: str, external_id: str) -> dict:
    code, _, text = ML_CLASSES[resolution]
    return {"external_id": external_id, "title": text, "error_codes": [code], "site": "SITE-ML"}


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_it_writes_one_line_per_row_and_an_error_line_for_a_bad_one(trained_champion, tmp_path):
    source = tmp_path / "tickets.jsonl"
    source.write_text(
        "\n".join(
            [
                json.dumps(_doc("REPLACE_SFP", "A-1")),
                "{not json",
                json.dumps({"external_id": "A-3", "priority": "urgent!", "title": "x"}),
                json.dumps(_doc("FIX_MAINS", "A-4")),
                json.dumps({"title": "no external id, keyed by row", "error_codes": ["SW_CRASH"]}),
            ]
        )
        + "\n"
    )
    out = tmp_path / "out.jsonl"

    call_command("predict", str(source), "--output", str(out))

    lines = _lines(out)
    assert [line["row"] for line in lines] == [1, 2, 3, 4, 5]
    assert [line["external_id"] for line in lines] == ["A-1", None, "A-3", "A-4", "tickets.jsonl:5"]
    assert "error" in lines[1] and "error" in lines[2] and "priority" in lines[2]["error"]
    for line in (lines[0], lines[3], lines[4]):
        assert line["model_version"] == trained_champion.pk
        assert isinstance(line["abstained"], bool)
        assert len(line["recommendations"]) == 3
        assert set(line["recommendations"][0]) == {"resolution", "confidence"}
    assert lines[0]["recommendations"][0]["resolution"] == "REPLACE_SFP"
    assert lines[3]["recommendations"][0]["resolution"] == "FIX_MAINS"


def test_it_reads_csv_with_the_importers_column_mapping(trained_champion, tmp_path):
    source = tmp_path / "export.csv"
    source.write_text(
        "Id,Summary,Codes\n"
        "C-1,baseband keeps restarting since the upgrade,SW_CRASH\n"
        "C-2,site running on batteries after a mains failure,MAINS_FAIL;UNKNOWN_X\n"
    )
    out = tmp_path / "out.jsonl"

    call_command(
        "predict",
        str(source),
        "--output",
        str(out),
        "--map",
        "external_id=Id",
        "--map",
        "title=Summary",
        "--map",
        "error_codes=Codes",
    )

    lines = _lines(out)
    assert [(line["external_id"], line["recommendations"][0]["resolution"]) for line in lines] == [
        ("C-1", "ROLLBACK_SW"),
        ("C-2", "FIX_MAINS"),
    ]


def test_it_refuses_clearly_without_a_champion(trained_champion, tmp_path):
    ModelVersion.objects.filter(pk=trained_champion.pk).update(status=ModelVersion.Status.CANDIDATE)
    source = tmp_path / "t.jsonl"
    source.write_text(json.dumps(_doc("REPLACE_SFP", "A-1")) + "\n")
    try:
        with pytest.raises(CommandError, match="no champion model yet"):
            call_command("predict", str(source), "--output", str(tmp_path / "out.jsonl"))
    finally:
        ModelVersion.objects.filter(pk=trained_champion.pk).update(status=ModelVersion.Status.CHAMPION)


def test_a_mapped_column_missing_from_the_csv_is_an_error(trained_champion, tmp_path):
    source = tmp_path / "t.csv"
    source.write_text("Id,Summary\nC-1,hello\n")
    with pytest.raises(CommandError, match="Nope"):
        call_command("predict", str(source), "--output", str(tmp_path / "o.jsonl"), "--map", "title=Nope")


def test_recommend_stores_answers_for_the_newest_open_tickets_once(trained_champion):
    from io import StringIO

    from ml.models import Recommendation
    from repair_center.models import Ticket
    from repair_center.services.tickets import tickets_upsert

    tickets_upsert(
        documents=[
            {**_doc("REPLACE_SFP", f"OPEN-{i}"), "opened_at": f"2030-01-0{i + 1}T00:00:00Z"} for i in range(3)
        ],
        source="noc",
    )
    out = StringIO()
    call_command("recommend", "--latest", "2", stdout=out)
    newest = Ticket.objects.filter(external_id__in=["OPEN-1", "OPEN-2"])
    assert set(Recommendation.objects.values_list("ticket_id", flat=True)) == set(
        newest.values_list("id", flat=True)
    )
    assert "2 computed, 0 already stored" in out.getvalue()
    again = StringIO()
    call_command("recommend", "--latest", "2", stdout=again)
    assert "0 computed, 2 already stored" in again.getvalue()
