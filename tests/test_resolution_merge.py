"""merge_resolutions: a fix the catalogue holds under two codes becomes one; the old code lives on as
an alias, so sources, engineers and models trained before the merge are read as the code kept."""

import csv
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from ml.models import Feedback
from ml.serving import merged
from ml.serving.inference import _resolutions
from repair_center.models import ResolutionAlias, ResolutionCode, Ticket, TicketChange
from repair_center.services import catalogue, resolution
from repair_center.services.tickets import tickets_upsert
from tests.factories import ResolutionCodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_codes():
    ResolutionCodeFactory(
        code="Reseat card", title="Reseat the line card", steps="Pull the card\nPush it back"
    )
    ResolutionCodeFactory(code="Re-seat card", title="Re-seat card")
    tickets_upsert(
        documents=[
            {"external_id": f"T-{n}", "title": "card fault", "status": "closed", "resolution": fix}
            for n, fix in enumerate(["Re-seat card", "Re-seat card", "Reseat card"])
        ],
        source="desk",
    )
    return {t.external_id: t for t in Ticket.objects.all()}


def _merge(*args) -> str:
    out = StringIO()
    call_command("merge_resolutions", *args, stdout=out)
    return out.getvalue().strip()


def test_the_merged_codes_tickets_take_the_code_kept_with_a_line_in_their_history(
    two_codes, django_capture_on_commit_callbacks
):
    chose = Feedback.objects.create(
        ticket=two_codes["T-0"],
        username="field",
        action="correct",
        chosen_resolution=ResolutionCode.objects.get(code="Re-seat card"),
        ticket_revision=two_codes["T-0"].revision,
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert _merge("Re-seat card", "--into", "Reseat card") == (
            "merged 'Re-seat card' into 'Reseat card': 2 tickets relabelled"
        )

    # ticket_workflow_changed, as for any label an engineer sets; and open tickets' answers refreshed
    assert len(callbacks) == 2
    assert list(ResolutionCode.objects.values_list("code", flat=True)) == ["Reseat card"]
    assert set(Ticket.objects.values_list("resolution__code", flat=True)) == {"Reseat card"}
    for key in ("T-0", "T-1"):
        ticket = Ticket.objects.get(external_id=key)
        assert ticket.revision == two_codes[key].revision + 1 and ticket.resolved_by == ""
        change = TicketChange.objects.get(ticket=ticket, revision=ticket.revision)
        assert (change.action, change.actor) == ("label", "merge_resolutions")
        assert change.changes == {"resolution": {"from": "Re-seat card", "to": "Reseat card"}}
    assert Ticket.objects.get(external_id="T-2").revision == two_codes["T-2"].revision
    chose.refresh_from_db()
    assert chose.chosen_resolution.code == "Reseat card"
    assert ResolutionAlias.objects.get().resolution.code == "Reseat card"


def test_after_a_merge_the_old_name_and_its_spellings_are_read_as_the_code_kept(two_codes, tmp_path):
    _merge("Re-seat card", "--into", "Reseat card")
    path = tmp_path / "desk.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "title", "status", "resolution"])
        writer.writerows(
            [["N-1", "card", "closed", "Re-seat card"], ["N-2", "card", "closed", "RE-SEAT  CARD"]]
        )
    out, err = StringIO(), StringIO()

    call_command("import_tickets", str(path), "--source", "desk", stdout=out, stderr=err)

    assert out.getvalue().strip() == "created 2, updated 0, unchanged 0, rejected 0"
    assert set(
        Ticket.objects.filter(external_id__startswith="N-").values_list("resolution__code", flat=True)
    ) == {"Reseat card"}
    assert "'Re-seat card' as 'Reseat card' (1), 'RE-SEAT  CARD' as 'Reseat card' (1)" in err.getvalue()
    assert catalogue.find_resolution("Re-seat card").code == "Reseat card"
    resolved = resolution.ticket_resolve(
        ticket_id=two_codes["T-2"].pk, resolution_code="re-seat card", resolved_by="field"
    )
    assert resolved.resolution.code == "Reseat card"


def test_a_model_trained_before_the_merge_shows_the_kept_codes_title_and_steps(two_codes):
    _merge("Re-seat card", "--into", "Reseat card")

    fixes = merged.of_predictor(["Re-seat card", "Reseat card", "GONE"])
    shown = _resolutions(fixes.codes)

    assert fixes.codes == ["Reseat card", "GONE"]  # a code deleted since is shown as the model says it
    assert shown == {"Reseat card": ("Reseat the line card", ["Pull the card", "Push it back"])}


def test_a_merge_naming_an_unknown_code_writes_nothing(two_codes):
    with pytest.raises(CommandError, match="not in the resolution catalogue: 'Reseat crad'"):
        _merge("Re-seat card", "Reseat crad", "--into", "Reseat card")
    with pytest.raises(CommandError, match="'Nope' is not in the resolution catalogue"):
        _merge("Re-seat card", "--into", "Nope")

    assert ResolutionCode.objects.count() == 2 and not ResolutionAlias.objects.exists()
    assert Ticket.objects.filter(resolution__code="Re-seat card").count() == 2


def test_an_alias_may_not_be_a_code_itself(two_codes):
    alias = ResolutionAlias(alias="Re-seat card", resolution=ResolutionCode.objects.get(code="Reseat card"))

    with pytest.raises(ValidationError, match="merge it instead"):
        alias.full_clean()


def test_a_source_naming_the_engineers_fix_by_its_old_code_agrees_with_the_engineer(two_codes):
    resolution.ticket_resolve(
        ticket_id=two_codes["T-2"].pk, resolution_code="Reseat card", resolved_by="field"
    )
    _merge("Re-seat card", "--into", "Reseat card")

    [result] = tickets_upsert(
        documents=[
            {
                "external_id": "T-2",
                "title": "card fault again",
                "status": "closed",
                "resolution": "Re-seat card",
            }
        ],
        source="desk",
    )

    ticket = Ticket.objects.get(pk=result.id)
    assert result.status == "updated" and (ticket.resolution.code, ticket.resolved_by) == (
        "Reseat card",
        "field",
    )


def test_an_admin_merges_in_the_browser_choosing_the_code_to_keep(two_codes, admin_client):
    ids = [str(pk) for pk in ResolutionCode.objects.values_list("pk", flat=True)]
    changelist = "/admin/repair_center/resolutioncode/"

    asked = admin_client.post(changelist, {"action": "merge_selected", "_selected_action": ids})

    assert asked.status_code == 200 and "Keep which code?" in asked.text
    # The code with the most tickets is offered first, checked.
    assert asked.text.index("Re-seat card") < asked.text.index("<strong>Reseat card")
    assert "2 tickets" in asked.text and "1 ticket)" in asked.text
    done = admin_client.post(
        changelist,
        {"action": "merge_selected", "_selected_action": ids, "into": "Reseat card", "apply": "Merge"},
        follow=True,
    )

    assert "Merged &#x27;Re-seat card&#x27; into &#x27;Reseat card&#x27;: 2 tickets relabelled" in done.text
    assert list(ResolutionCode.objects.values_list("code", flat=True)) == ["Reseat card"]
    assert TicketChange.objects.filter(action="label", actor="boss", user__username="boss").count() == 2


def test_the_admin_asks_for_two_codes_to_merge(two_codes, admin_client):
    one = str(ResolutionCode.objects.get(code="Reseat card").pk)

    response = admin_client.post(
        "/admin/repair_center/resolutioncode/",
        {"action": "merge_selected", "_selected_action": [one]},
        follow=True,
    )

    assert "Select two codes or more to merge." in response.text
    assert ResolutionCode.objects.count() == 2
