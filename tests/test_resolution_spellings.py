"""Hand-typed exports spell one fix several ways (``Hardware failure``, ``hardware  failure``,
``HARDWARE_FAILURE``): they are one resolution, so one class for the model, and the import says
which spellings it read as which code. Punctuation still tells codes apart."""

import csv
import threading
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from repair_center.documents import parse_ticket
from repair_center.models import ResolutionCode, Ticket
from repair_center.services import catalogue, resolution
from repair_center.services.tickets import tickets_upsert
from tests.factories import ResolutionCodeFactory

pytestmark = pytest.mark.django_db


def _csv(path, resolutions: list[str]):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "title", "status", "resolution"])
        for n, fix in enumerate(resolutions):
            writer.writerow([f"T-{n}", f"link down {n}", "closed", fix])
    return path


def _import(path, *options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_tickets", str(path), "--source", "desk", *options, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def _fixes() -> dict[str, str]:
    return dict(Ticket.objects.values_list("external_id", "resolution__code"))


def test_the_key_ignores_case_spaces_and_underscores_but_not_punctuation():
    key = catalogue.resolution_key
    assert key("Hardware failure") == key(" hardware   FAILURE ") == key("HARDWARE_FAILURE")
    assert key("Re-seat card") != key("Reseat card") and key("Re-seat card") != key("Re seat card")
    assert key("Straße") == key("STRASSE")  # casefold, not lower: the export's language decides nothing


def test_create_missing_makes_one_code_per_fix_spelled_as_most_rows_spell_it(tmp_path):
    spellings = ["Hardware failure", "hardware failure", "Hardware failure", "HARDWARE_FAILURE"]
    path = _csv(tmp_path / "desk.csv", [*spellings, "Re-seat card", "Reseat card"])

    summary, details = _import(path, "--create-missing")

    assert summary == "created 6, updated 0, unchanged 0, rejected 0"
    assert set(ResolutionCode.objects.values_list("code", flat=True)) == {
        "Hardware failure",
        "Re-seat card",
        "Reseat card",
    }
    fixes = _fixes()
    assert [fixes[f"T-{n}"] for n in range(4)] == ["Hardware failure"] * 4
    assert (
        "resolutions read as the catalogue code they are another name of (an alias, or the same but for "
        "case or spacing): "
        "'hardware failure' as 'Hardware failure' (1), 'HARDWARE_FAILURE' as 'Hardware failure' (1)"
    ) in details
    # The same file again changes nothing and says the same.
    assert _import(path, "--create-missing")[0] == "created 0, updated 0, unchanged 6, rejected 0"


def test_a_later_batch_is_read_as_the_code_an_earlier_one_created(tmp_path):
    path = _csv(tmp_path / "desk.csv", ["Hardware failure", "Hardware failure", "hardware failure"])

    _import(path, "--create-missing", "--batch-size", "2")

    assert list(ResolutionCode.objects.values_list("code", flat=True)) == ["Hardware failure"]
    assert set(_fixes().values()) == {"Hardware failure"}


def test_without_create_missing_a_catalogue_code_spelled_otherwise_is_read_as_it(tmp_path):
    ResolutionCodeFactory(code="REPLACE_SFP")
    path = _csv(tmp_path / "desk.csv", ["replace sfp", "Replace SFP", "replace-sfp"])

    summary, details = _import(path)

    assert summary == "created 2, updated 0, unchanged 0, rejected 1"
    assert _fixes() == {"T-0": "REPLACE_SFP", "T-1": "REPLACE_SFP"}
    assert "row 4 rejected: resolution: 'replace-sfp' is not in the resolution catalogue" in details
    assert ResolutionCode.objects.count() == 1


def test_a_spelling_two_catalogue_codes_share_is_not_guessed():
    ResolutionCodeFactory(code="REPLACE_SFP")
    ResolutionCodeFactory(code="Replace SFP")  # curated before this rule; both stay as they are

    results = tickets_upsert(
        documents=[{"external_id": "T-1", "title": "x", "status": "closed", "resolution": "replace sfp"}],
        source="desk",
    )

    assert results[0].status == "rejected"
    assert results[0].errors["resolution"] == [
        "'replace sfp' is spelled like several resolution codes ('REPLACE_SFP', 'Replace SFP') "
        "but for case or spacing; give one of them exactly"
    ]
    assert catalogue.find_resolution("Replace SFP").code == "Replace SFP"  # exact spelling still wins
    assert catalogue.find_resolution("replace sfp") is None
    with pytest.raises(resolution.ResolutionError, match="spelled like several resolution codes"):
        resolution.ticket_resolve(ticket_id=0, resolution_code="replace sfp", resolved_by="field")


def test_an_engineer_resolving_by_hand_may_spell_the_code_as_the_desk_does(db):
    ResolutionCodeFactory(code="REPLACE_SFP")
    [written] = tickets_upsert(
        documents=[{"external_id": "T-1", "title": "link down", "status": "inProgress"}], source="desk"
    )

    resolved = resolution.ticket_resolve(
        ticket_id=written.id, resolution_code="Replace SFP", resolved_by="field"
    )

    assert resolved.resolution.code == "REPLACE_SFP"
    with pytest.raises(resolution.ResolutionError, match="not in the resolution catalogue"):
        resolution.ticket_resolve(ticket_id=written.id, resolution_code="Replace-SFP", resolved_by="field")


def test_a_source_spelling_the_engineers_fix_otherwise_agrees_with_the_engineer(db):
    ResolutionCodeFactory(code="REPLACE_SFP")
    document = {"external_id": "T-1", "title": "x", "status": "closed", "resolution": "replace sfp"}
    label = resolution.EngineerLabel(
        resolution="REPLACE_SFP", notes="", status="resolved", resolved_at=None, resolved_by="field"
    )

    kept, resolved_by = resolution.keep_engineer_label(parse_ticket(document, default_source="desk"), label)

    assert kept.resolution == "replace sfp" and resolved_by == "field"


@pytest.mark.django_db(transaction=True)
def test_two_imports_at_once_make_one_code_for_two_spellings_of_a_new_fix():
    """The first import has made its code and not committed when the second, spelling the fix
    otherwise, reads the catalogue: the second waits for the first and takes its code."""
    assert connection.vendor == "postgresql", "this test needs DATABASE_URL=postgres://..."
    first_made_its_code, first_may_commit = threading.Event(), threading.Event()
    second: list = []

    def first_import():
        try:
            with transaction.atomic():
                catalogue.create_missing_resolutions(Counter({"Swap fan tray": 3}))
                first_made_its_code.set()
                first_may_commit.wait(timeout=30)
        finally:
            connection.close()

    def second_import():
        try:
            second.extend(
                tickets_upsert(
                    documents=[{"external_id": "T-2", "title": "fan alarm", "resolution": "swap  FAN_TRAY"}],
                    source="desk",
                    create_missing=True,
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=first_import), threading.Thread(target=second_import)]
    threads[0].start()
    assert first_made_its_code.wait(timeout=30)
    threads[1].start()
    threads[1].join(timeout=2)  # without the lock the second import is done by now, with a code of its own
    first_may_commit.set()
    for thread in threads:
        thread.join(timeout=30)

    assert [r.status for r in second] == ["created"]
    assert list(ResolutionCode.objects.values_list("code", flat=True)) == ["Swap fan tray"]
    assert _fixes() == {"T-2": "Swap fan tray"}
