from repair_center.models import Ticket, TicketErrorCode, TicketEvent, UnmappedCode
from repair_center.selectors import ticket_detail, ticket_document
from repair_center.services.tickets import tickets_upsert
from tests.factories import (
    ErrorCodeAliasFactory,
    ErrorCodeFactory,
    NetworkElementFactory,
    ResolutionCodeFactory,
)


def _doc(**overrides):
    doc = {
        "external_id": "T-1",
        "title": "CPRI link down on sector 2",
        "description": "site dark after upgrade",
        "site": "SITE-A",
        "element": "SN-RU-1",
        "error_codes": ["CPRI_LINK_DOWN", "NL-7001"],
        "events": [
            {"at": "2026-01-01T10:00:00Z", "kind": "software_upgrade", "code": None, "attrs": {"to": "R22"}},
            {"at": "2026-01-01T12:00:00Z", "kind": "alarm_raised", "code": "NL-7001", "attrs": {}},
        ],
        "resolution": "ROLLBACK_SW",
    }
    doc.update(overrides)
    return doc


def _catalogue():
    element = NetworkElementFactory(serial="SN-RU-1", site__code="SITE-A", vendor="nordlink")
    ErrorCodeFactory(code="CPRI_LINK_DOWN")
    ErrorCodeAliasFactory(vendor="nordlink", raw_code="NL-7001", error_code__code="SW_CRASH")
    ResolutionCodeFactory(code="ROLLBACK_SW")
    return element


def test_it_creates_then_leaves_an_identical_document_unchanged(db):
    _catalogue()
    [first] = tickets_upsert(documents=[_doc()], source="noc")
    assert first.status == "created"
    [again] = tickets_upsert(documents=[_doc()], source="noc")
    assert again.status == "unchanged"
    assert again.id == first.id
    assert Ticket.objects.count() == 1
    assert Ticket.objects.get().revision == 1


def test_it_updates_a_changed_document_and_bumps_the_revision(db):
    _catalogue()
    tickets_upsert(documents=[_doc()], source="noc")
    [result] = tickets_upsert(documents=[_doc(title="new title", events=[])], source="noc")
    assert result.status == "updated"
    ticket = Ticket.objects.get()
    assert (ticket.title, ticket.revision) == ("new title", 2)
    assert TicketEvent.objects.count() == 0
    assert TicketErrorCode.objects.count() == 2


def test_it_maps_codes_through_the_vendor_alias_and_keeps_order(db):
    _catalogue()
    tickets_upsert(documents=[_doc()], source="noc")
    codes = list(TicketErrorCode.objects.order_by("position").values_list("raw_code", "error_code__code"))
    assert codes == [("CPRI_LINK_DOWN", "CPRI_LINK_DOWN"), ("NL-7001", "SW_CRASH")]
    kinds = list(TicketEvent.objects.order_by("position").values_list("kind", "error_code__code"))
    assert kinds == [("software_upgrade", None), ("alarm_raised", "SW_CRASH")]


def test_it_keeps_unknown_codes_as_unmapped_for_curation(db):
    _catalogue()
    tickets_upsert(documents=[_doc(error_codes=["XX-999"], events=[])], source="noc")
    row = TicketErrorCode.objects.get()
    assert (row.raw_code, row.error_code_id) == ("XX-999", None)
    unmapped = UnmappedCode.objects.get()
    assert (unmapped.vendor, unmapped.raw_code, unmapped.occurrences) == ("nordlink", "XX-999", 1)


def test_one_bad_item_never_loses_the_good_ones(db):
    _catalogue()
    results = tickets_upsert(
        documents=[
            _doc(external_id="ok"),
            _doc(external_id="bad", resolution="NOPE"),
            "not an object",
            _doc(external_id="late", opened_at="yesterday"),
        ],
        source="noc",
    )
    assert [r.status for r in results] == ["created", "rejected", "rejected", "rejected"]
    assert "resolution" in results[1].errors
    assert "opened_at" in results[3].errors
    assert list(Ticket.objects.values_list("external_id", flat=True)) == ["ok"]


def test_create_missing_adds_flagged_catalogue_entries(db):
    _catalogue()
    [result] = tickets_upsert(
        documents=[_doc(resolution="NEW_FIX", site="NEW-SITE")], source="noc", create_missing=True
    )
    assert result.status == "created"
    ticket = Ticket.objects.select_related("resolution", "site").get()
    assert ticket.resolution.needs_curation and ticket.site.needs_curation


def test_a_key_repeated_in_one_call_is_applied_in_order(db):
    _catalogue()
    results = tickets_upsert(documents=[_doc(title="one"), _doc(title="two")], source="noc")
    assert [r.status for r in results] == ["created", "updated"]
    assert Ticket.objects.get().title == "two"


def test_the_exported_document_reimports_unchanged(db):
    _catalogue()
    tickets_upsert(documents=[_doc()], source="noc")
    exported = ticket_document(ticket_detail().get())
    assert exported["error_codes"] == ["CPRI_LINK_DOWN", "NL-7001"]
    [result] = tickets_upsert(documents=[exported], source="other")
    assert result.status == "unchanged"


def test_it_rejects_what_postgresql_would_refuse_instead_of_failing_the_batch(db):
    _catalogue()
    nul_attrs = _doc(
        external_id="nul",
        events=[{"at": "2026-01-01T10:00:00Z", "kind": "weather", "attrs": {"note": "a\x00b"}}],
    )
    ancient = _doc(external_id="ancient", opened_at="0001-01-01T00:30:00+01:00")
    results = tickets_upsert(documents=[nul_attrs, ancient, _doc(external_id="fine")], source="noc")
    assert [r.status for r in results] == ["rejected", "rejected", "created"]
    assert "events[0].attrs" in results[0].errors
    assert "opened_at" in results[1].errors
