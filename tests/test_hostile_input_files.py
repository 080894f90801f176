"""Hostile rows in every importer (SECURITY.md, threat 9): the bad row costs only itself.

The classes of bad input of test_hostile_input_api.py, and for files also oversized CSV fields,
unterminated quotes, BOMs and mixed line ends.

Each file holds a good row, the bad one, and another good row; the bad row is rejected with a reason
and both good rows are stored. An ``import_*`` command without a row fails
``test_every_importer_has_a_row``.
"""

import dataclasses
import json
from collections.abc import Callable

import pytest
from django.core.management import call_command, get_commands

from repair_center.models import Alarm, RepairRecord, Site, Ticket

pytestmark = pytest.mark.slow  # an exhaustive matrix: every importer against every hostile input


CSV_TICKETS = "external_id,title,opened_at,events\n"


# The good rows hold a character UTF-8 encodes in two bytes, so each file reads as UTF-8 and a row of
# bytes that are not UTF-8 is rejected (a file with no UTF-8 character in it reads as Windows-1252).
def _ticket_csv(bad_row: bytes) -> bytes:
    return (CSV_TICKETS + "F-1,först,2026-01-01T00:00:00Z,\n").encode() + bad_row + b"F-3,third,,\n"


def _jsonl(bad_line: bytes) -> bytes:
    good = [json.dumps({"external_id": f"F-{n}", "title": "t", "rma_id": f"F-{n}"}).encode() for n in (1, 3)]
    return good[0] + b"\n" + bad_line + b"\n" + good[1] + b"\n"


def _json_array(bad_element: bytes) -> bytes:
    good = [json.dumps({"external_id": f"F-{n}", "title": "t", "rma_id": f"F-{n}"}).encode() for n in (1, 3)]
    return b"[" + good[0] + b",\n" + bad_element + b",\n" + good[1] + b"]"


def _bad_line(**fields) -> bytes:
    return json.dumps({"external_id": "F-2", "rma_id": "F-2", "title": "t", **fields}).encode()


FILE_CASES: dict[str, tuple[str, bytes]] = {
    # CSV
    "csv-invalid-utf8": (".csv", _ticket_csv(b"F-2,caf\xe9 \xff,,\n")),
    "csv-nul": (".csv", _ticket_csv(b"F-2,a\x00b,,\n")),
    "csv-oversized-field": (".csv", _ticket_csv(b'F-2,"' + b"x\n" * 600_000 + b'",,\n')),
    "csv-huge-string": (".csv", _ticket_csv(b"F-2," + b"x" * 600 + b",,\n")),
    "csv-impossible-date": (".csv", _ticket_csv(b"F-2,t,2026-13-45T00:00:00Z,\n")),
    "csv-impossible-offset": (".csv", _ticket_csv(b"F-2,t,2026-01-01T00:00:00+99:00,\n")),
    "csv-wrong-type": (".csv", _ticket_csv(b'F-2,t,,"{""not"": ""a list""}"\n')),
    "csv-too-many-values": (".csv", _ticket_csv(b"F-2,t,,,,extra\n")),
    "csv-unterminated-quote": (".csv", _ticket_csv(b'F-2,"never closed,,\n')),
    "csv-bom-and-mixed-newlines": (
        ".csv",
        b"\xef\xbb\xbf"
        + _ticket_csv(b"F-2,t,,,,extra\n").replace(b"\nF-1", b"\r\nF-1").replace(b",\nF-2", b",\rF-2"),
    ),
    # JSON lines and arrays
    "jsonl-lone-surrogate": (".jsonl", _jsonl(_bad_line(title="\ud800"))),
    "jsonl-nul": (".jsonl", _jsonl(_bad_line(title="a\x00b"))),
    "jsonl-invalid-utf8": (".jsonl", _jsonl(b'{"external_id": "F-2", "rma_id": "F-2", "title": "\xff"}')),
    "jsonl-deep-nesting": (
        ".jsonl",
        _jsonl(b'{"external_id": "F-2", "title": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ),
    "jsonl-huge-string": (".jsonl", _jsonl(_bad_line(title="x" * 200_000, unit_serial="x" * 200))),
    "jsonl-nan": (".jsonl", _jsonl(b'{"external_id": "F-2", "rma_id": "F-2", "title": NaN}')),
    "jsonl-infinity": (".jsonl", _jsonl(b'{"external_id": "F-2", "rma_id": "F-2", "title": -Infinity}')),
    "jsonl-duplicate-key": (
        ".jsonl",
        _jsonl(b'{"external_id": "F-2", "rma_id": "F-2", "title": "a", "title": "b"}'),
    ),
    "jsonl-wrong-type": (".jsonl", _jsonl(_bad_line(title={"not": "text"}, unit_serial=["x"]))),
    "jsonl-not-an-object": (".jsonl", _jsonl(b'["F-2", "t"]')),
    "jsonl-impossible-date": (
        ".jsonl",
        _jsonl(_bad_line(opened_at="0001-01-01T00:00:00+01:00", received_on="2026-02-30")),
    ),
    "json-array-lone-surrogate": (".json", _json_array(_bad_line(title="\udcff"))),
    "json-array-duplicate-key": (
        ".json",
        _json_array(b'{"external_id": "F-2", "rma_id": "F-2", "rma_id": "x"}'),
    ),
}
REPAIR_CASES = {"csv-impossible-date": b"rma_id,unit_serial,received_on\nF-1,a,\nF-2,b,2026-02-30\nF-3,c,\n"}


def _alarm(n, *, escaped: bool = False, **fields) -> bytes:
    alarm = {
        "externalAlarmId": f"F-{n}",
        "alarmedObject": {"id": "RU-1"},
        "state": "raised",
        "alarmType": "equipmentAlarm",
        "perceivedSeverity": "major",
        "probableCause": "lossOfSignal",
        "specificProblem": "först",
        "alarmRaisedTime": "2026-01-01T00:00:00Z",
    }
    # Raw UTF-8 (so the file reads as UTF-8), or escaped: a lone surrogate only exists as "\\ud800".
    return json.dumps({**alarm, **fields}, ensure_ascii=escaped).encode()


def _alarm_lines(bad: bytes, *, array: bool = False) -> bytes:
    rows = [_alarm(1), bad, _alarm(3)]
    return b"[" + b",\n".join(rows) + b"]" if array else b"\n".join(rows) + b"\n"


def _alarm_csv(bad_row: bytes) -> bytes:
    header = "externalAlarmId,alarmedObject,alarmRaisedTime,perceivedSeverity,specificProblem\n"
    good = "F-{},RU-1,2026-01-01T00:00:00Z,major,först\n"
    return (header + good.format(1)).encode() + bad_row + good.format(3).encode()


ALARM_CASES: dict[str, tuple[str, bytes]] = {
    "csv-invalid-utf8": (".csv", _alarm_csv(b"F-2,RU-1,2026-01-01T00:00:00Z,major,caf\xe9 \xff\n")),
    "csv-nul": (".csv", _alarm_csv(b"F-2,RU-1,2026-01-01T00:00:00Z,major,a\x00b\n")),
    "csv-oversized-field": (
        ".csv",
        _alarm_csv(b'F-2,RU-1,2026-01-01T00:00:00Z,major,"' + b"x\n" * 600_000 + b'"\n'),
    ),
    "csv-huge-string": (".csv", _alarm_csv(b"F-2,RU-1,2026-01-01T00:00:00Z,major," + b"x" * 600 + b"\n")),
    "csv-impossible-date": (".csv", _alarm_csv(b"F-2,RU-1,2026-13-45T00:00:00Z,major,x\n")),
    "csv-impossible-offset": (".csv", _alarm_csv(b"F-2,RU-1,2026-01-01T00:00:00+99:00,major,x\n")),
    "csv-wrong-choice": (".csv", _alarm_csv(b"F-2,RU-1,2026-01-01T00:00:00Z,apocalyptic,x\n")),
    "csv-too-many-values": (".csv", _alarm_csv(b"F-2,RU-1,2026-01-01T00:00:00Z,major,x,extra\n")),
    "csv-unterminated-quote": (".csv", _alarm_csv(b'F-2,"never closed,,,\n')),
    "jsonl-lone-surrogate": (".jsonl", _alarm_lines(_alarm(2, escaped=True, specificProblem="\ud800"))),
    "jsonl-nul": (".jsonl", _alarm_lines(_alarm(2, specificProblem="a\x00b"))),
    "jsonl-invalid-utf8": (".jsonl", _alarm_lines(_alarm(2).replace("först".encode(), b"\xff"))),
    "jsonl-deep-nesting": (
        ".jsonl",
        _alarm_lines(_alarm(2)[:-1] + b', "comment": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ),
    "jsonl-huge-string": (".jsonl", _alarm_lines(_alarm(2, specificProblem="x" * 200_000))),
    "jsonl-nan": (".jsonl", _alarm_lines(_alarm(2)[:-1] + b', "serviceAffecting": NaN}')),
    "jsonl-duplicate-key": (".jsonl", _alarm_lines(_alarm(2)[:-1] + b', "perceivedSeverity": "minor"}')),
    "jsonl-wrong-type": (".jsonl", _alarm_lines(_alarm(2, alarmedObject=["RU-1"]))),
    "jsonl-not-an-object": (".jsonl", _alarm_lines(b'["F-2", "t"]')),
    "jsonl-impossible-date": (".jsonl", _alarm_lines(_alarm(2, alarmRaisedTime="2026-02-30T00:00:00Z"))),
    "json-array-lone-surrogate": (
        ".json",
        _alarm_lines(_alarm(2, escaped=True, specificProblem="\udcff"), array=True),
    ),
}


@dataclasses.dataclass(frozen=True)
class Importer:
    run: Callable  # (path) -> None
    stored: Callable  # () -> the keys stored
    cases: dict


def _import(command: str, *args: str):
    return lambda path: call_command(command, str(path), *args, "--rejects", str(path) + ".rejects")


def _catalogue(path):
    call_command("import_catalogue", str(path.parent))


CATALOGUE_HEADER = b"code,name,region,climate,tier,latitude,longitude\n"


def _sites(bad: bytes) -> bytes:
    return CATALOGUE_HEADER + "C-1,Zürich,,,,1.5,2.5\n".encode() + bad + b"C-3,three,,,,,\n"


IMPORTERS: dict[str, Importer] = {
    "import_alarms": Importer(
        _import(
            "import_alarms",
            *("--source", "files", "--default", "alarmType=equipmentAlarm"),
            *("--default", "probableCause=lossOfSignal"),
        ),
        lambda: set(Alarm.objects.filter(source_system="files").values_list("external_id", flat=True)),
        ALARM_CASES,
    ),
    "import_tickets": Importer(
        _import("import_tickets", "--source", "files"),
        lambda: set(Ticket.objects.filter(source="files").values_list("external_id", flat=True)),
        FILE_CASES,
    ),
    "import_repairs": Importer(
        _import("import_repairs"),
        lambda: set(RepairRecord.objects.filter(rma_id__startswith="F-").values_list("rma_id", flat=True)),
        {name: case for name, case in FILE_CASES.items() if not name.startswith("csv-")}
        | {name: (".csv", data) for name, data in REPAIR_CASES.items()},
    ),
    "import_catalogue": Importer(
        _catalogue,
        lambda: set(Site.objects.filter(code__startswith="C-").values_list("code", flat=True)),
        {
            "csv-nan": (".csv", _sites(b"C-2,two,,,,nan,1\n")),
            "csv-infinity": (".csv", _sites(b"C-2,two,,,,1,-inf\n")),
            "csv-huge-number": (".csv", _sites(b"C-2,two,,,,1e308,1\n")),
            "csv-negative": (".csv", _sites(b"C-2,two,,,,-91,1\n")),
            "csv-nul": (".csv", _sites(b"C-2,t\x00wo,,,,,\n")),
            "csv-invalid-utf8": (".csv", _sites(b"C-2,\xff,,,,,\n")),
            "csv-huge-string": (".csv", _sites(b"C-2," + b"x" * 300 + b",,,,,\n")),
            "csv-oversized-field": (".csv", _sites(b'C-2,"' + b"x\n" * 600_000 + b'",,,,,\n')),
            "csv-unterminated-quote": (".csv", _sites(b'C-2,"two,,,,,\n')),
        },
    ),
}


def _file_cases() -> list:
    return [
        pytest.param(importer, case, id=f"{importer} {case}")
        for importer, spec in IMPORTERS.items()
        for case in spec.cases
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("importer", "case"), _file_cases())
def test_a_hostile_row_costs_only_itself_in_every_importer(tmp_path, importer, case):
    spec = IMPORTERS[importer]
    suffix, data = spec.cases[case]
    path = tmp_path / ("sites.csv" if importer == "import_catalogue" else f"hostile{suffix}")
    path.write_bytes(data)
    spec.run(path)
    good = {"import_catalogue": {"C-1", "C-3"}}.get(importer, {"F-1", "F-3"})
    assert spec.stored() == good
    if importer != "import_catalogue":
        rejects = [json.loads(line) for line in (tmp_path / f"{path.name}.rejects").read_text().splitlines()]
        assert rejects and all(r.get("reason") or r.get("errors") for r in rejects), rejects


def test_every_importer_has_a_row():
    commands = {name for name, app in get_commands().items() if name.startswith("import_")}
    assert commands == set(IMPORTERS), commands ^ set(IMPORTERS)
