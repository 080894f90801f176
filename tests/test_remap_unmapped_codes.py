from repair_center.models import TicketErrorCode, TicketEvent, UnmappedCode
from repair_center.services.catalogue import remap_unmapped_codes
from repair_center.services.tickets import tickets_upsert
from tests.factories import ErrorCodeAliasFactory, ErrorCodeFactory, NetworkElementFactory


def _ticket(external_id: str, element: str | None) -> None:
    doc = {
        "external_id": external_id,
        "error_codes": ["XX-1"],
        "events": [{"at": "2026-01-01T10:00:00Z", "kind": "alarm_raised", "code": "XX-1"}],
    }
    if element:
        doc["element"] = element
    [result] = tickets_upsert(documents=[doc], source="noc")
    assert result.status == "created"


def test_new_aliases_remap_stored_codes_and_events_per_vendor_and_clear_the_curation_queue(db):
    NetworkElementFactory(serial="NL-1", vendor="nordlink")
    NetworkElementFactory(serial="VT-1", vendor="veltra")
    _ticket("nordlink", "NL-1")
    _ticket("veltra", "VT-1")
    assert TicketErrorCode.objects.filter(error_code__isnull=True).count() == 2

    # The same raw code means different things for the two vendors.
    ErrorCodeAliasFactory(vendor="nordlink", raw_code="XX-1", error_code=ErrorCodeFactory(code="SFP_RX_LOW"))
    ErrorCodeAliasFactory(vendor="veltra", raw_code="XX-1", error_code=ErrorCodeFactory(code="GNSS_LOST"))
    assert UnmappedCode.objects.count() == 2
    assert remap_unmapped_codes() == 4

    mapped = {
        (c.ticket.external_id, c.error_code.code if c.error_code else None)
        for c in TicketErrorCode.objects.all()
    }
    assert mapped == {("nordlink", "SFP_RX_LOW"), ("veltra", "GNSS_LOST")}
    assert TicketEvent.objects.get(ticket__external_id="nordlink").error_code.code == "SFP_RX_LOW"
    assert TicketEvent.objects.get(ticket__external_id="veltra").error_code.code == "GNSS_LOST"
    assert not UnmappedCode.objects.exists()
    assert remap_unmapped_codes() == 0


def test_a_curated_code_remaps_tickets_without_a_known_element(db):
    _ticket("no-element", None)
    ErrorCodeFactory(code="XX-1")
    assert remap_unmapped_codes() == 2
    assert TicketErrorCode.objects.get().error_code.code == "XX-1"
    assert not UnmappedCode.objects.exists()
