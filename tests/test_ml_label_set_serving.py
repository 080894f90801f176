"""A champion trained with `train --source NAME` serves that source's tickets: `predict --source`,
the recommendation API and the ticket page pick it, and fall back to the default champion."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from ml.core.labelsets import serving_keys
from ml.models import ModelVersion
from ml.serving import inference
from ml.serving.recommendations import recommend_tickets
from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert


def test_a_source_is_served_by_its_own_label_set_then_the_smallest_including_it_then_the_default():
    champions = ["resolution", "resolution:a,b", "resolution:a", "resolution:b,c,a"]
    assert serving_keys("a", champions) == [
        "resolution:a",
        "resolution:a,b",
        "resolution:b,c,a",
        "resolution",
    ]
    assert serving_keys("c", champions) == ["resolution:b,c,a", "resolution"]
    assert serving_keys("z", champions) == serving_keys(None, champions) == ["resolution"]


@pytest.fixture
def itsm_champion(trained_champion):
    """A second champion, for label set resolution:itsm (the same files: what differs is who it serves)."""
    fields = {
        f.name: getattr(trained_champion, f.name)
        for f in ModelVersion._meta.concrete_fields
        if f.name not in ("id", "label_set_key", "parent", "created_at")
    }
    version = ModelVersion.objects.create(**fields, label_set_key="resolution:itsm")
    inference.reset_cache()
    yield version
    version.delete()
    inference.reset_cache()


pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def _predict(tmp_path, *args) -> dict:
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"external_id": "P-1", "title": "site on batteries", "error_codes": ["MAINS_FAIL"]})
    )
    out = tmp_path / "out.jsonl"
    call_command("predict", str(source), "--output", str(out), *args)
    return json.loads(out.read_text())


def test_predict_source_uses_the_champion_of_that_source_and_falls_back_to_the_default(
    trained_champion, itsm_champion, tmp_path
):
    assert _predict(tmp_path, "--source", "itsm")["model_version"] == itsm_champion.pk
    assert _predict(tmp_path, "--source", "elsewhere")["model_version"] == trained_champion.pk
    assert _predict(tmp_path)["model_version"] == trained_champion.pk


def test_the_api_serves_a_tickets_source_champion_stored_or_draft(
    trained_champion, itsm_champion, engineer_client
):
    [result] = tickets_upsert(
        documents=[{"external_id": "I-1", "title": "baseband keeps restarting", "error_codes": ["SW_CRASH"]}],
        source="itsm",
    )
    itsm_ticket = Ticket.objects.get(pk=result.id)
    noc_ticket = Ticket.objects.get(external_id="ML-ROLLBACK_SW-007")
    for ticket, expected in ((itsm_ticket, itsm_champion.pk), (noc_ticket, trained_champion.pk)):
        body = engineer_client.get(f"/api/v1/tickets/{ticket.pk}/recommendation/").json()
        assert body["model_version"] == expected, ticket.source

    draft = {"title": "baseband keeps restarting", "error_codes": ["SW_CRASH"]}
    answer = engineer_client.post("/api/v1/recommendations/", {**draft, "source": "itsm"}, format="json")
    assert answer.json()["model_version"] == itsm_champion.pk
    answer = engineer_client.post("/api/v1/recommendations/", draft, format="json")
    assert answer.json()["model_version"] == trained_champion.pk

    background = recommend_tickets([itsm_ticket.pk, noc_ticket.pk])  # both answered above: cached
    assert background["model_version"] == sorted([itsm_champion.pk, trained_champion.pk])
    assert (background["computed"], background["cached"]) == (0, 2)

    itsm_ticket.delete()


def test_the_ticket_page_and_the_model_page_name_the_label_set(
    trained_champion, itsm_champion, client, engineer, admin_user
):
    [result] = tickets_upsert(
        documents=[{"external_id": "I-2", "title": "baseband keeps restarting", "error_codes": ["SW_CRASH"]}],
        source="itsm",
    )
    client.force_login(engineer)
    page = client.get(reverse("ticket-detail", args=[result.id])).content.decode()
    assert f"Model v{itsm_champion.pk}, label set <code>resolution:itsm</code>" in page
    client.force_login(admin_user)
    model_page = client.get(reverse("model-detail", args=[itsm_champion.pk])).content.decode()
    assert (
        "<code>resolution:itsm</code>" in model_page and "serves tickets from <code>itsm</code>" in model_page
    )
    Ticket.objects.filter(pk=result.id).delete()
