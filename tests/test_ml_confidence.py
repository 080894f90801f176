"""Confidence a person can trust: bands with the number on demand, never "100%", and one abstention
rule, stated in plain words, that the page, the queue filter and the API apply alike."""

import pytest

from ml.models import ModelVersion, Recommendation
from ml.serving import confidence
from repair_center.models import Ticket


@pytest.mark.parametrize(
    ("value", "band", "shown"),
    [
        (0.9999, "high", "over 99%"),
        (0.995, "high", "over 99%"),
        (0.994, "high", "99%"),
        (0.8, "high", "80%"),
        (0.79, "medium", "79%"),
        (0.5, "medium", "50%"),
        (0.42, "low", "42%"),
        (0.004, "low", "under 1%"),
        (0.0, "low", "under 1%"),
    ],
)
def test_bands_and_the_number_shown_on_demand(value, band, shown):
    assert (confidence.band(value).key, confidence.band(value).percent) == (band, shown)


def test_the_bands_follow_the_settings(settings):
    settings.TICKETAI_CONFIDENCE_HIGH, settings.TICKETAI_CONFIDENCE_MEDIUM = 0.9, 0.7
    assert [confidence.band(v).label for v in (0.95, 0.8, 0.6)] == ["High", "Medium", "Low"]
    assert confidence.abstains(0.69) and not confidence.abstains(0.7)
    assert "at least 70% sure" in confidence.rule_text()


def _payload(top: float, similar_fixes: list[str]) -> dict:
    return {
        "model_version": 3,
        "abstained": False,
        "abstain_reason": None,
        "recommendations": [
            {"resolution": "REBOOT_BASEBAND", "confidence": top},
            {"resolution": "REPLACE_SFP", "confidence": 1 - top},
        ],
        "similar": [{"resolution": fix} for fix in similar_fixes],
    }


def test_an_unsure_model_says_how_many_ways_similar_tickets_were_fixed():
    payload = confidence.apply(
        _payload(0.42, ["REBOOT_BASEBAND", "REPLACE_SFP", "RESEAT_CPRI", "REPLACE_SFP"])
    )

    assert payload["abstained"] is True
    assert payload["abstain_reason"] == (
        "The model is unsure: its best guess, REBOOT_BASEBAND, is only 42% likely, "
        "and similar past tickets were fixed in 3 different ways."
    )
    assert [r["band"] for r in payload["recommendations"]] == ["low", "medium"]


def test_a_confident_answer_is_served_whatever_the_stored_flag_said():
    stale = {
        **_payload(0.76, ["REBOOT_BASEBAND"]),
        "abstained": True,
        "abstain_reason": "needs an expert: 0.94",
    }

    payload = confidence.apply(stale)

    assert (payload["abstained"], payload["abstain_reason"]) == (False, None)
    assert payload["recommendations"][0]["band"] == "medium"


@pytest.mark.django_db
def test_the_database_filter_is_the_same_rule():
    ticket = Ticket.objects.create(source="t", external_id="T-1", content_hash="0" * 64)
    version = ModelVersion.objects.create(
        base_model="t",
        data_fingerprint="f" * 64,
        artifact_path="/nowhere",
        format_version=1,
        serialization_version=1,
    )
    for revision, value in enumerate((0.3, 0.49, 0.5, 0.97), start=1):
        Recommendation.objects.create(
            ticket=ticket, ticket_revision=revision, model_version=version, top_confidence=value
        )
    unsure = Recommendation.objects.filter(confidence.abstains_q()).values_list("top_confidence", flat=True)
    assert sorted(unsure) == [0.3, 0.49]
    assert all(confidence.abstains(v) == (v in unsure) for v in (0.3, 0.49, 0.5, 0.97))
