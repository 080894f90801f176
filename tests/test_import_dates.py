"""Dates as exports write them: Unix times (--date-format epoch / epoch_ms), MySQL's zero date
(blank), and null markers in a date column (the refusal names --missing instead of a format)."""

import json

from django.core.management import call_command

from repair_center.models import Ticket


def _import(path, *options) -> dict[str, dict]:
    rejects = path.parent / "rejects.jsonl"
    rejects.unlink(missing_ok=True)
    call_command("import_tickets", str(path), "--source", "sim", "--rejects", str(rejects), *options)
    lines = rejects.read_text().splitlines() if rejects.exists() else []
    return {r["external_id"]: [m for ms in r["errors"].values() for m in ms] for r in map(json.loads, lines)}


def _opened() -> dict[str, str | None]:
    return {t.external_id: t.opened_at and t.opened_at.isoformat() for t in Ticket.objects.all()}


def test_unix_times_are_refused_naming_epoch_and_read_with_it(db, tmp_path):
    seconds, millis = tmp_path / "s.csv", tmp_path / "ms.csv"
    seconds.write_text("external_id,title,opened_at\nA,psu,1709280000\nB,fan,1709280000.5\n")
    millis.write_text("external_id,title,opened_at\nC,door,1709280000000\n")
    assert _import(seconds) == {
        "A": ["'1709280000' is not an ISO 8601 date-time; --date-format epoch reads it as a Unix time "
              "(UTC): 2024-03-01T08:00:00+00:00"],
        "B": ["'1709280000.5' is not an ISO 8601 date-time; --date-format epoch reads it as a Unix time "
              "(UTC): 2024-03-01T08:00:00.500000+00:00"],
    }  # fmt: skip
    assert "--date-format epoch_ms reads it" in _import(millis)["C"][0]

    assert _import(seconds, "--date-format", "epoch") == {}
    assert _import(millis, "--date-format", "epoch_ms") == {}
    assert _opened() == {
        "A": "2024-03-01T08:00:00+00:00",
        "B": "2024-03-01T08:00:00.500000+00:00",
        "C": "2024-03-01T08:00:00+00:00",
    }
    # strptime has no %s; it names the same thing.
    assert _import(seconds, "--date-format", "%s") == {}


def test_unix_times_as_json_numbers_and_in_an_event_log(db, tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"external_id": "A", "title": "psu", "opened_at": 1709280000}]))
    assert "--date-format epoch reads it" in _import(path)["A"][0]
    assert _import(path, "--date-format", "epoch") == {}
    assert _opened() == {"A": "2024-03-01T08:00:00+00:00"}

    log = tmp_path / "log.csv"
    log.write_text("id,state,at\nL,New,1709280060\nL,Closed,1709280000\n")
    _import(
        log,
        "--date-format",
        "epoch",
        "--map",
        "external_id=id",
        "--map",
        "event.kind=state",
        "--map",
        "event.at=at",
    )
    kinds = [e.kind for e in Ticket.objects.get(external_id="L").events.order_by("position")]
    assert kinds == ["Closed", "New"]  # in time order


def test_a_zero_date_is_no_date_and_a_null_marker_is_refused_naming_missing(db, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "external_id,title,opened_at,resolved_at\n"
        "A,psu,2016-03-01 10:00,0000-00-00 00:00:00\n"
        "B,fan,N/A,\n"
        "C,door,-,0000-00-00\n"
        "D,mains,NULL,\n"
    )
    hint = "is not an ISO 8601 date-time; if it marks a missing date, --missing {} reads it as blank"
    assert _import(path) == {
        "B": ["'N/A' " + hint.format("'N/A'")],
        "C": ["'-' " + hint.format("'-'")],
        "D": ["'NULL' " + hint.format("'NULL'")],
    }
    assert Ticket.objects.get(external_id="A").resolved_at is None

    # With a --date-format too; a date that is simply wrong is still refused, not blanked.
    path.write_text(
        "external_id,title,opened_at\nE,psu,N/A\nF,fan,31-02-2016 01:16\nG,x,0000-00-00 00:00:00\n"
    )
    assert _import(path, "--date-format", "%d-%m-%Y %H:%M") == {
        "E": ["'N/A' does not match --date-format '%d-%m-%Y %H:%M'; if it marks a missing date, --missing "
              "'N/A' reads it as blank"],
        "F": ["'31-02-2016 01:16' does not match --date-format '%d-%m-%Y %H:%M'"],
    }  # fmt: skip
    assert _import(path, "--date-format", "%d-%m-%Y %H:%M", "--missing", "N/A") == {
        "F": ["'31-02-2016 01:16' does not match --date-format '%d-%m-%Y %H:%M'"]
    }
    assert _opened()["E"] is None and _opened()["G"] is None
