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
        top = line["recommendations"][0]
        assert set(top) == {"resolution", "confidence", "record", "record_statement"}
        assert top["record"]["learnt_from"] > 0 and top["record_statement"]  # what the answer rests on
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
            *(
                {**_doc("REPLACE_SFP", f"OPEN-{i}"), "opened_at": f"2030-01-0{i + 1}T00:00:00Z"}
                for i in range(3)
            ),
            _doc("REPLACE_SFP", "UNDATED"),  # no opening time: not among the newest (NULL sorts first)
        ],
        source="noc",
    )
    assert Ticket.objects.get(external_id="UNDATED").opened_at is None
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


def test_an_event_log_is_scored_as_import_tickets_reads_it(trained_champion, tmp_path):
    # one row per state change, dates in a local format, extra fields as attributes: predict folds
    # the rows into tickets exactly as the importer does, so a file that imports is a file that scores
    source = tmp_path / "log.csv"
    source.write_text(
        "Number,State,Updated,Summary,Group\n"
        "INC1,New,01-03-2016 09:00,site running on batteries,power\n"
        "INC1,Active,01-03-2016 09:05,site running on batteries after a mains failure,power\n"
        "INC2,New,02-03-2016 10:00,baseband keeps restarting since the upgrade,radio\n"
        "INC1,Closed,02-03-2016 11:00,mains failure fixed,power\n"
        "INC2,Active,31-02-2016 10:30,baseband keeps restarting since the upgrade,radio\n"
    )
    options = ["--map", "external_id=Number", "--map", "event.kind=State", "--map", "event.at=Updated"]
    options += [
        "--map",
        "title=Summary",
        "--map",
        "attributes.group=Group",
        "--date-format",
        "%d-%m-%Y %H:%M",
    ]
    out = tmp_path / "out.jsonl"

    call_command("predict", str(source), "--output", str(out), *options)

    lines = _lines(out)
    assert [(line["row"], line["external_id"], "error" in line) for line in lines] == [
        (6, "INC2", True),  # 31 February: a refused row as it is read, tickets once the log is read
        (2, "INC1", False),  # a ticket's line names its first row (the header is row 1)
        (4, "INC2", False),
    ]
    assert "does not match --date-format" in json.dumps(lines[0]["error"])
    folded = {
        "external_id": "INC1",
        "title": "mains failure fixed",  # INC1's rows come back after INC2's: still INC1's, the latest wins
        "attributes": {"group": "power"},
        "opened_at": "2016-03-01T09:00:00+00:00",  # an event log's ticket opens at its first event
        "events": [
            {"kind": "New", "at": "2016-03-01T09:00:00+00:00", "attrs": {}},
            {"kind": "Active", "at": "2016-03-01T09:05:00+00:00", "attrs": {}},
            {"kind": "Closed", "at": "2016-03-02T11:00:00+00:00", "attrs": {}},
        ],
    }
    by_hand = tmp_path / "by_hand.jsonl"
    by_hand.write_text(json.dumps(folded) + "\n")
    call_command("predict", str(by_hand), "--output", str(tmp_path / "by_hand_out.jsonl"))
    [expected] = _lines(tmp_path / "by_hand_out.jsonl")
    assert lines[1]["recommendations"] == expected["recommendations"]


def test_predict_reads_a_csv_in_the_encoding_it_is_given(trained_champion, tmp_path):
    source = tmp_path / "jp.csv"
    source.write_bytes("external_id,title\nJP-1,基地局の電源障害 mains failure\n".encode("cp932"))
    out = tmp_path / "out.jsonl"
    call_command("predict", str(source), "--output", str(out))
    assert _lines(out)[0]["error"] == "not valid UTF-8"
    call_command("predict", str(source), "--output", str(out), "--encoding", "cp932")
    [line] = _lines(out)
    assert line["external_id"] == "JP-1" and "recommendations" in line
