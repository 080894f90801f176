"""Engineers accept, reject or correct a recommendation. On an open ticket that is a verdict and a plan
that leaves the ticket alone (accepting is "I'll try this", not resolving); on a resolved or closed one
the label counts at once and survives re-imports."""

import pytest

from ml.models import Feedback, ModelVersion, Recommendation, WebhookDelivery, WebhookSubscription
from ml.serving.feedback import FeedbackError, feedback_record, planned_resolution
from repair_center.models import Ticket
from repair_center.selectors import ticket_detail, ticket_document
from repair_center.services.history import Actor
from repair_center.services.resolution import ticket_content_hash, ticket_resolve
from repair_center.services.resolution_merge import merge_resolutions
from repair_center.services.tickets import tickets_upsert
from tests.factories import ResolutionCodeFactory, SiteFactory

pytestmark = pytest.mark.django_db

SOURCE_DOC = {
    "external_id": "NOC-1",
    "title": "optical receive power low on the fibre link",
    "description": "rx power dropped overnight",
    "status": "acknowledged",
    "opened_at": "2026-03-01T08:00:00Z",
    "site": "SITE-FB",
    "error_codes": ["SFP_RX_LOW"],
    "events": [{"at": "2026-03-01T07:55:00Z", "kind": "alarm_raised", "code": "SFP_RX_LOW"}],
}


@pytest.fixture
def ticket():
    SiteFactory(code="SITE-FB")
    for code in ("REPLACE_SFP", "CLEAN_CONNECTOR", "RESET_RADIO"):
        ResolutionCodeFactory(code=code)
    [result] = tickets_upsert(documents=[SOURCE_DOC], source="noc")
    assert result.status == "created"
    return Ticket.objects.get(pk=result.id)


def _url(ticket) -> str:
    return f"/api/v1/tickets/{ticket.pk}/feedback/"


def _close(ticket) -> None:
    tickets_upsert(
        documents=[{**SOURCE_DOC, "status": "closed", "resolution": "REPLACE_SFP", "resolved_at": None}],
        source="noc",
    )
    ticket.refresh_from_db()


def test_a_correction_on_a_closed_ticket_labels_it_at_once(engineer_client, ticket):
    _close(ticket)

    response = engineer_client.post(
        _url(ticket),
        {"action": "correct", "resolution": "CLEAN_CONNECTOR", "notes": "dirty fibre"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["action"] == "correct"
    assert response.json()["chosen_resolution"] == "CLEAN_CONNECTOR"
    assert response.json()["user"] == "eng"
    ticket.refresh_from_db()
    assert ticket.resolution.code == "CLEAN_CONNECTOR"
    assert ticket.resolution_notes == "dirty fibre"
    assert ticket.resolved_by == "eng"
    assert ticket.status == Ticket.Status.CLOSED
    assert ticket.revision == 3
    assert response.json()["ticket_revision"] == 3
    # The stored hash is that of the labelled document, as an upsert of it would compute.
    assert ticket.content_hash == ticket_content_hash(ticket_detail().get(pk=ticket.pk))
    api_ticket = engineer_client.get(f"/api/v1/tickets/{ticket.pk}/").json()
    assert "CLEAN_CONNECTOR" in str(api_ticket)
    [change] = ticket.changes.filter(action="label")
    assert (change.actor, change.changes["resolution"]) == (
        "eng",
        {"from": "REPLACE_SFP", "to": "CLEAN_CONNECTOR"},
    )


@pytest.mark.parametrize("action", ["accept", "correct"])
def test_feedback_on_an_open_ticket_leaves_its_status_and_label_alone(engineer_client, ticket, action):
    before = Ticket.objects.values("resolution", "revision", "content_hash", "status").get(pk=ticket.pk)

    response = engineer_client.post(
        _url(ticket), {"action": action, "resolution": "REPLACE_SFP"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert (
        Ticket.objects.values("resolution", "revision", "content_hash", "status").get(pk=ticket.pk) == before
    )
    feedback = Feedback.objects.get()
    assert (feedback.action, feedback.chosen_resolution.code) == (action, "REPLACE_SFP")
    # The fix chosen is what resolving the ticket later offers.
    assert planned_resolution(ticket) == "REPLACE_SFP"


def _recommend(ticket, *codes: str, abstained: bool = False) -> ModelVersion:
    version = ModelVersion.objects.create(
        base_model="test",
        data_fingerprint="f" * 64,
        artifact_path="/nowhere",
        format_version=1,
        serialization_version=1,
        status=ModelVersion.Status.CHAMPION,
    )
    Recommendation.objects.create(
        ticket=ticket,
        ticket_revision=ticket.revision,
        model_version=version,
        payload={
            "recommendations": [{"resolution": c, "confidence": 0.5} for c in codes],
            "abstained": abstained,
        },
        abstained=abstained,
        top_resolution=codes[0] if codes else "",
        top_confidence=0.5,
    )
    return version


def test_accepting_without_a_resolution_takes_the_top_recommendation(engineer_client, ticket):
    version = _recommend(ticket, "REPLACE_SFP", "RESET_RADIO")

    response = engineer_client.post(_url(ticket), {"action": "accept"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["recommended_resolution"] == "REPLACE_SFP"
    assert response.json()["chosen_resolution"] == "REPLACE_SFP"
    assert response.json()["model_version"] == version.pk
    ticket.refresh_from_db()
    assert (ticket.resolution, ticket.status) == (None, Ticket.Status.ACKNOWLEDGED)


def test_accepting_the_second_recommendation_is_allowed_but_not_an_unrecommended_one(engineer_client, ticket):
    _recommend(ticket, "REPLACE_SFP", "RESET_RADIO")

    refused = engineer_client.post(
        _url(ticket), {"action": "accept", "resolution": "CLEAN_CONNECTOR"}, format="json"
    )
    accepted = engineer_client.post(
        _url(ticket), {"action": "accept", "resolution": "RESET_RADIO"}, format="json"
    )

    assert refused.status_code == 400 and "use correct" in str(refused.json()["resolution"])
    assert accepted.status_code == 201
    assert Feedback.objects.get().chosen_resolution.code == "RESET_RADIO"


def test_accepting_a_fix_offered_under_a_code_merged_away_since_names_it_by_the_code_kept(
    engineer_client, ticket
):
    ResolutionCodeFactory(code="Replace optics")
    _recommend(ticket, "Replace optics", "RESET_RADIO")
    merge_resolutions(["Replace optics"], into="REPLACE_SFP", actor=Actor("admin"))

    accepted = engineer_client.post(
        _url(ticket), {"action": "accept", "resolution": "replace sfp"}, format="json"
    )

    assert accepted.status_code == 201, accepted.content
    assert Feedback.objects.get().chosen_resolution.code == "REPLACE_SFP"


def test_there_is_nothing_to_accept_when_the_model_abstained(engineer_client, ticket):
    _recommend(ticket, abstained=True)

    response = engineer_client.post(_url(ticket), {"action": "accept"}, format="json")
    with_code = engineer_client.post(
        _url(ticket), {"action": "accept", "resolution": "RESET_RADIO"}, format="json"
    )

    assert response.status_code == 400 and with_code.status_code == 400
    ticket.refresh_from_db()
    assert ticket.resolution is None


def test_a_rejection_is_stored_but_leaves_the_ticket_alone(engineer_client, ticket):
    before = Ticket.objects.values("resolution", "revision", "content_hash", "status").get(pk=ticket.pk)

    response = engineer_client.post(_url(ticket), {"action": "reject", "notes": "not the sfp"}, format="json")

    assert response.status_code == 201, response.content
    assert (
        Ticket.objects.values("resolution", "revision", "content_hash", "status").get(pk=ticket.pk) == before
    )
    feedback = Feedback.objects.get()
    assert (feedback.action, feedback.chosen_resolution, feedback.notes) == ("reject", None, "not the sfp")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "correct"}, "resolution"),
        ({"action": "correct", "resolution": "NO_SUCH_FIX"}, "resolution"),
        ({"action": "reject", "resolution": "REPLACE_SFP"}, "resolution"),
        ({"action": "accept"}, "action"),  # nothing was recommended, so there is nothing to accept
        ({"action": "shrug"}, "action"),
    ],
)
def test_it_refuses_feedback_that_does_not_make_sense(engineer_client, ticket, body, field):
    response = engineer_client.post(_url(ticket), body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Feedback.objects.exists()
    ticket.refresh_from_db()
    assert ticket.resolution is None and ticket.revision == 1


def test_only_engineers_and_admins_give_feedback(
    engineer_client, admin_client_api, integration_client, anon_client, ticket
):
    body = {"action": "reject"}
    assert anon_client.post(_url(ticket), body, format="json").status_code == 401
    assert integration_client.post(_url(ticket), body, format="json").status_code == 403
    assert engineer_client.post(_url(ticket), body, format="json").status_code == 201
    assert admin_client_api.post(_url(ticket), body, format="json").status_code == 201
    assert engineer_client.post("/api/v1/tickets/999999/feedback/", body, format="json").status_code == 404


def test_it_lists_a_tickets_feedback_newest_first(
    engineer_client, ticket, engineer, django_assert_max_num_queries
):
    feedback_record(ticket=ticket, user=engineer, action="reject")
    for code in ("RESET_RADIO", "REPLACE_SFP", "CLEAN_CONNECTOR"):
        feedback_record(ticket=ticket, user=engineer, action="correct", resolution_code=code)

    with django_assert_max_num_queries(7):
        response = engineer_client.get(_url(ticket))

    assert response.status_code == 200
    assert [f["action"] for f in response.json()["results"]] == ["correct"] * 3 + ["reject"]
    assert response.json()["results"][0]["chosen_resolution"] == "CLEAN_CONNECTOR"
    assert engineer_client.get("/api/v1/tickets/999999/feedback/").status_code == 404


def test_feedback_is_announced_to_subscribers_of_feedback_recorded(ticket, engineer):
    WebhookSubscription.objects.create(url="http://127.0.0.1:9/a", events=["feedback.recorded"])
    WebhookSubscription.objects.create(url="http://127.0.0.1:9/b", events=["recommendation.ready"])

    _close(ticket)
    feedback = feedback_record(ticket=ticket, user=engineer, action="correct", resolution_code="RESET_RADIO")

    [delivery] = WebhookDelivery.objects.all()
    assert delivery.event == "feedback.recorded"
    assert delivery.subscription.url.endswith("/a")
    assert delivery.payload["feedback_id"] == feedback.pk
    assert delivery.payload["action"] == "correct"
    assert delivery.payload["chosen_resolution"] == "RESET_RADIO"
    assert delivery.payload["ticket"] == {
        "id": ticket.pk,
        "source": "noc",
        "external_id": "NOC-1",
        "revision": 3,
        "resolution": "RESET_RADIO",
    }


def test_a_failed_feedback_records_nothing(ticket, engineer):
    with pytest.raises(FeedbackError):
        feedback_record(ticket=ticket, user=engineer, action="correct", resolution_code="NO_SUCH_FIX")
    assert not Feedback.objects.exists()


# --- Who wins when the source sends the ticket again -------------------------------------------


def test_an_identical_reimport_from_the_source_keeps_the_engineers_label(ticket):
    ticket_resolve(
        ticket_id=ticket.pk, resolution_code="CLEAN_CONNECTOR", notes="dirty fibre", resolved_by="eng"
    )

    [result] = tickets_upsert(documents=[SOURCE_DOC], source="noc")

    assert result.status == "unchanged"
    ticket.refresh_from_db()
    assert (ticket.resolution.code, ticket.resolved_by, ticket.revision) == ("CLEAN_CONNECTOR", "eng", 2)


def test_a_source_update_without_a_resolution_keeps_the_label_and_takes_the_other_changes(ticket):
    ticket_resolve(
        ticket_id=ticket.pk, resolution_code="CLEAN_CONNECTOR", notes="dirty fibre", resolved_by="eng"
    )

    [result] = tickets_upsert(documents=[{**SOURCE_DOC, "title": "rx low, customer complains"}], source="noc")

    assert result.status == "updated"
    ticket.refresh_from_db()
    assert ticket.title == "rx low, customer complains"
    assert (ticket.resolution.code, ticket.resolution_notes, ticket.resolved_by) == (
        "CLEAN_CONNECTOR",
        "dirty fibre",
        "eng",
    )
    assert ticket.status == Ticket.Status.RESOLVED


def test_a_different_resolution_from_the_source_wins(ticket):
    ticket_resolve(ticket_id=ticket.pk, resolution_code="CLEAN_CONNECTOR", notes="", resolved_by="eng")

    [result] = tickets_upsert(
        documents=[{**SOURCE_DOC, "resolution": "REPLACE_SFP", "status": "closed"}], source="noc"
    )

    assert result.status == "updated"
    ticket.refresh_from_db()
    assert (ticket.resolution.code, ticket.resolved_by, ticket.status) == ("REPLACE_SFP", "", "closed")


def test_reimporting_the_exported_labelled_ticket_is_unchanged(ticket):
    ticket_resolve(
        ticket_id=ticket.pk, resolution_code="CLEAN_CONNECTOR", notes="dirty fibre", resolved_by="eng"
    )
    exported = ticket_document(ticket_detail().get(pk=ticket.pk))

    [result] = tickets_upsert(documents=[exported], source="noc")

    assert result.status == "unchanged"


def test_resolving_again_with_the_same_label_is_not_a_new_revision(ticket):
    ticket_resolve(ticket_id=ticket.pk, resolution_code="CLEAN_CONNECTOR", notes="", resolved_by="eng")
    again = ticket_resolve(
        ticket_id=ticket.pk, resolution_code="CLEAN_CONNECTOR", notes="", resolved_by="eng"
    )

    assert again.revision == 2
    assert Ticket.objects.get(pk=ticket.pk).revision == 2


def test_accepting_a_recommendation_never_replaces_a_closed_tickets_recorded_fix(engineer_client, ticket):
    _close(ticket)  # closed as REPLACE_SFP
    _recommend(ticket, "RESET_RADIO", "REPLACE_SFP")

    refused = engineer_client.post(_url(ticket), {"action": "accept"}, format="json")

    assert refused.status_code == 400
    assert "would replace the recorded fix" in str(refused.json()["action"])
    ticket.refresh_from_db()
    assert ticket.resolution.code == "REPLACE_SFP" and not Feedback.objects.exists()
    # Accepting the fix it was closed with is a verdict; a correction changes it, as it names the fix.
    agreed = engineer_client.post(
        _url(ticket), {"action": "accept", "resolution": "REPLACE_SFP"}, format="json"
    )
    assert agreed.status_code == 201, agreed.content
    corrected = engineer_client.post(
        _url(ticket), {"action": "correct", "resolution": "RESET_RADIO"}, format="json"
    )
    assert corrected.status_code == 201
    ticket.refresh_from_db()
    assert ticket.resolution.code == "RESET_RADIO"
