"""Repair records: repairs_upsert keyed on rma_id, and the import_repairs command."""

import json
from io import StringIO

from django.core.management import call_command

from repair_center.models import RepairRecord
from repair_center.services.repairs import repairs_upsert
from repair_center.services.tickets import tickets_upsert

HEADER = (
    "rma_id,unit_kind,unit_serial,ticket_source,ticket_external_id,reported_fault_code,finding,"
    "repair_action,received_on,closed_on\n"
)


def _row(**overrides) -> dict:
    row = {
        "rma_id": "RMA-1",
        "unit_kind": "sfp",
        "unit_serial": "SFP-9",
        "ticket_source": "noc",
        "ticket_external_id": "T-1",
        "reported_fault_code": "SFP_RX_LOW",
        "finding": "no_fault_found",
        "repair_action": "retested, no fault",
        "received_on": "2026-01-10",
        "closed_on": "2026-01-12",
    }
    row.update(overrides)
    return row


def _ticket():
    [result] = tickets_upsert(documents=[{"external_id": "T-1", "title": "rx low"}], source="noc")
    return result.id


def test_it_creates_links_the_ticket_and_leaves_a_repeat_unchanged(db):
    ticket_id = _ticket()
    [first] = repairs_upsert(rows=[_row()])
    assert (first.status, first.external_id) == ("created", "RMA-1")
    record = RepairRecord.objects.get()
    assert record.ticket_id == ticket_id and str(record.received_on) == "2026-01-10"
    [again] = repairs_upsert(rows=[_row()])
    assert (again.status, again.id) == ("unchanged", first.id)


def test_a_changed_row_updates_the_record_and_a_late_ticket_gets_linked(db):
    repairs_upsert(rows=[_row()])
    assert RepairRecord.objects.get().ticket_id is None
    [changed] = repairs_upsert(rows=[_row(finding="confirmed_fault")])
    assert changed.status == "updated"
    ticket_id = _ticket()
    [linked] = repairs_upsert(rows=[_row(finding="confirmed_fault")])
    assert linked.status == "updated"
    record = RepairRecord.objects.get()
    assert (record.finding, record.ticket_id) == ("confirmed_fault", ticket_id)


def test_it_rejects_bad_rows_with_reasons_and_keeps_the_good_ones(db):
    results = repairs_upsert(
        rows=[
            _row(rma_id="ok"),
            _row(rma_id="bad-finding", finding="broken"),
            _row(rma_id="bad-date", received_on="10/01/2026"),
            _row(rma_id="backwards", closed_on="2026-01-01"),
            _row(rma_id=""),
            {"rma_id": "x", "colour": "red"},
        ]
    )
    assert [r.status for r in results] == ["created"] + ["rejected"] * 5
    assert "finding" in results[1].errors
    assert "YYYY-MM-DD" in results[2].errors["received_on"][0]
    assert results[3].errors == {"closed_on": ["is before received_on"]}
    assert results[4].errors == {"rma_id": ["this field is required"]}
    assert "unknown fields: colour" in results[5].errors["non_field_errors"][0]
    assert list(RepairRecord.objects.values_list("rma_id", flat=True)) == ["ok"]


def test_a_repeated_rma_id_in_one_call_is_applied_in_order(db):
    results = repairs_upsert(
        rows=[_row(repair_action="one"), _row(repair_action="two"), _row(repair_action="two")]
    )
    assert [r.status for r in results] == ["created", "updated", "unchanged"]
    assert RepairRecord.objects.get().repair_action == "two"


def test_import_repairs_reads_the_contract_csv_and_reports_rejects(db, tmp_path):
    path = tmp_path / "repairs.csv"
    rejects = tmp_path / "rejects.jsonl"
    path.write_text(
        HEADER
        + "RMA-1,sfp,SFP-9,noc,T-1,SFP_RX_LOW,no_fault_found,retested,2026-01-10,2026-01-12\n"
        + "RMA-2,psu,PSU-1,,,,melted,,2026-01-10,\n"
        + "RMA-3,psu,PSU-2,,,,,,,\n"
    )
    out = StringIO()
    call_command("import_repairs", str(path), "--rejects", str(rejects), stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == "created 2, updated 0, unchanged 0, rejected 1"
    [entry] = map(json.loads, rejects.read_text().splitlines())
    assert (entry["row"], entry["external_id"]) == (3, "RMA-2") and "finding" in entry["errors"]
    assert RepairRecord.objects.get(rma_id="RMA-3").finding == "pending"

    out = StringIO()
    call_command("import_repairs", str(path), stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == "created 0, updated 0, unchanged 2, rejected 1"


def test_import_repairs_reads_jsonl_with_a_mapping(db, tmp_path):
    path = tmp_path / "repairs.jsonl"
    path.write_text(
        json.dumps({"rma": "RMA-7", "finding": "physical_damage", "received_on": "2026-02-01"}) + "\n"
    )
    out = StringIO()
    call_command("import_repairs", str(path), "--map", "rma_id=rma", stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == "created 1, updated 0, unchanged 0, rejected 0"
    assert RepairRecord.objects.get().finding == "physical_damage"


def test_a_reports_footer_is_not_stored_as_a_repair_record(db, tmp_path):
    # A repair record needs only its RMA id, so "Total: 1 record" under the last row would be one.
    path = tmp_path / "repairs.csv"
    path.write_text(HEADER + "RMA-1,sfp,SFP-9,,,,no_fault_found,,,\n" + "Total: 1 record,,,,,,,,,\n")
    out, err = StringIO(), StringIO()
    call_command("import_repairs", str(path), stdout=out, stderr=err)
    assert out.getvalue().strip() == "created 1, updated 0, unchanged 0, rejected 1"
    assert "one value after the last record, a report's footer: 'Total: 1 record'" in err.getvalue()
    assert list(RepairRecord.objects.values_list("rma_id", flat=True)) == ["RMA-1"]
