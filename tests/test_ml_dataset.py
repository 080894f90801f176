"""Training examples come from the database: labelled tickets serialised with codes, events and context."""

from ml.core.dataset import build_dataset
from repair_center.models import RepairRecord, Ticket
from repair_center.services.tickets import tickets_upsert
from tests.factories import ErrorCodeAliasFactory, RepairRecordFactory, ml_catalogue, ml_ticket_documents


def _load(**kwargs):
    ml_catalogue()
    results = tickets_upsert(documents=ml_ticket_documents(**kwargs), source="noc")
    assert {r.status for r in results} == {"created"}
    return results


def test_every_labelled_ticket_becomes_an_example_with_codes_events_and_context(db):
    _load(per_class=2)
    tickets_upsert(documents=[{"external_id": "open-1", "title": "no label yet"}], source="noc")
    dataset = build_dataset()
    assert len(dataset.examples) == 8
    assert dataset.total_tickets == 9
    example = next(e for e in dataset.examples if e.label == "ROLLBACK_SW")
    assert example.text.startswith(
        "[site] code=SITE-ML region=north climate=urban tier=cell-site [unit] kind=radio-unit vendor=nordlink"
    )
    assert (
        "[codes] SW_CRASH [events] -5m software_upgrade SW_CRASH | +0m alarm_raised SW_CRASH" in example.text
    )
    assert example.text.endswith("baseband keeps restarting since the upgrade")
    assert (example.first_code, example.has_text, example.code_count, example.unmapped_count) == (
        "SW_CRASH",
        True,
        3,
        0,
    )


def test_vendor_codes_are_shown_as_their_curated_code(db):
    ml_catalogue()
    ErrorCodeAliasFactory(vendor="nordlink", raw_code="NL-7001", error_code__code="SW_CRASH")
    [document] = ml_ticket_documents(per_class=1, classes=["ROLLBACK_SW"])
    document["error_codes"] = ["NL-7001", "XX-1"]
    tickets_upsert(documents=[document], source="noc")
    [example] = build_dataset().examples
    assert "[codes] SW_CRASH XX-1 " in example.text
    assert (example.first_code, example.unmapped_count) == ("SW_CRASH", 1)


def test_tickets_with_only_codes_or_only_text_both_become_examples(db):
    ml_catalogue()
    codes_only, text_only = ml_ticket_documents(per_class=1, classes=["REPLACE_SFP", "FIX_MAINS"])
    codes_only.update(title="", description="")
    text_only.update(error_codes=[], events=[], site=None, element=None)
    tickets_upsert(documents=[codes_only, text_only], source="noc")
    examples = {e.label: e for e in build_dataset().examples}
    assert "[text]" not in examples["REPLACE_SFP"].text
    assert not examples["REPLACE_SFP"].has_text
    assert examples["FIX_MAINS"].text.startswith("[text] site running on batteries")


def test_a_swap_the_repair_centre_found_no_fault_in_is_not_taught(db):
    _load(per_class=3)
    nff, mixed, unlinked = Ticket.objects.order_by("id")[:3]
    RepairRecordFactory(ticket=nff, finding=RepairRecord.Finding.NO_FAULT_FOUND)
    RepairRecordFactory(ticket=mixed, finding=RepairRecord.Finding.NO_FAULT_FOUND)
    RepairRecordFactory(ticket=mixed, finding=RepairRecord.Finding.CONFIRMED_FAULT)
    RepairRecordFactory(
        ticket=None,
        ticket_source="noc",
        ticket_external_id=unlinked.external_id,
        finding=RepairRecord.Finding.NO_FAULT_FOUND,
    )
    RepairRecordFactory(ticket=Ticket.objects.order_by("id")[5], finding=RepairRecord.Finding.PENDING)
    dataset = build_dataset()
    assert dataset.excluded_no_fault_found == sorted([nff.pk, unlinked.pk])
    ids = {e.ticket_id for e in dataset.examples}
    assert nff.pk not in ids and unlinked.pk not in ids
    assert mixed.pk in ids
    assert len(dataset.examples) == 10
    assert dataset.labelled == 12


def test_sources_narrow_the_training_set(db):
    _load(per_class=1)
    tickets_upsert(documents=ml_ticket_documents(per_class=1, prefix="OTHER"), source="other")
    assert len(build_dataset().examples) == 8
    assert len(build_dataset(sources=["other"]).examples) == 4


def test_the_tickets_of_a_site_whose_data_must_stay_local_are_never_trained_on_centrally(db):
    """Placement promises such a site that central trains "on other sites' pooled data only"."""
    from ml.core.dataset import fingerprint
    from ml.models import SiteComputeProfile
    from repair_center.models import Site

    _load(per_class=2)
    local = [
        {**d, "external_id": f"LOCAL-{d['external_id']}", "site": "SITE-LOCAL", "element": ""}
        for d in ml_ticket_documents(per_class=1)
    ]
    Site.objects.create(code="SITE-LOCAL", name="Local")
    tickets_upsert(documents=local, source="noc")
    pooled = build_dataset()
    assert len(pooled.examples) == 12 and pooled.excluded_kept_local == []

    SiteComputeProfile.objects.create(site=Site.objects.get(code="SITE-LOCAL"), data_must_stay_local=True)
    central = build_dataset()
    kept = set(Ticket.objects.filter(site__code="SITE-LOCAL").values_list("pk", flat=True))
    assert len(central.examples) == 8 and set(central.excluded_kept_local) == kept and len(kept) == 4
    assert not kept & {e.ticket_id for e in central.examples}
    assert central.labelled == pooled.labelled == 12
    assert fingerprint(central) != fingerprint(pooled)  # the next retrain is not skipped as unchanged
