"""A model trained on a few easy tickets is not sure of everything: gibberish, another language and
alarm codes it never saw get a lower confidence than a ticket like those it learnt from, and, since
nothing in them resembles those tickets, it abstains; the API, the pages' filter and predict agree."""

import json

import pytest

from ml.models import ModelVersion, Recommendation
from ml.serving import confidence, ensemble, inference
from repair_center.models import Ticket
from tests.factories import ML_CLASSES

TYPICAL = {
    "title": ML_CLASSES["REPLACE_SFP"][2],
    "site": "SITE-ML",
    "element": "SN-ML-1",
    "error_codes": ["SFP_RX_LOW"],
}
UNFAMILIAR = {
    "gibberish": {"title": "xyz"},
    "hello": {"title": "hello world"},
    "german": {
        "title": "Drucker druckt nicht",
        "description": "Papierstau im Fach 2, bitte Techniker schicken",
        "site": "SITE-ML",
        "element": "SN-ML-1",
    },
    "unseen codes": {
        "error_codes": ["ZZ_ALARM_991"],
        "events": [{"kind": "alarm_raised", "code": "ZZ_ALARM_991"}],
    },
}


def _answer(predictor, name: str, document: dict) -> dict:
    document = {"external_id": name, **document}
    return inference.recommend(document, predictor=predictor, with_evidence=False, with_similar=False)


@pytest.mark.slow
@pytest.mark.django_db
def test_a_tiny_perfect_model_is_less_sure_of_what_it_never_saw_and_abstains(
    trained_champion, engineer_client
):
    config = json.loads((trained_champion.artifact_dir / ensemble.SERVING_DIR / "ensemble.json").read_text())
    assert trained_champion.metrics["ensemble"]["validation"]["ensemble"]["accuracy"] == 1.0  # all right
    assert min([config["temperature"], *config["member_temperatures"].values()]) > 0.3  # not the 0.05 floor
    predictor = inference.load_champion()

    typical = _answer(predictor, "typical", TYPICAL)
    assert (typical["abstained"], typical["unfamiliar"]) == (False, False)
    sure = typical["recommendations"][0]["confidence"]
    assert typical["recommendations"][0]["resolution"] == "REPLACE_SFP" and sure >= 0.8

    # misspelt throughout, yet every word one slip from the model's: not unfamiliar (edge_agent.abstention)
    misspelt = _answer(predictor, "misspelt", {"title": "opticl recieve powr lw on teh fiber"})
    assert misspelt["unfamiliar"] is False

    conflicting = _answer(
        predictor, "conflict", {"title": "alarms", "error_codes": ["SFP_RX_LOW", "MAINS_FAIL"]}
    )
    assert conflicting["recommendations"][0]["confidence"] < sure

    documents = [{"external_id": name, **document} for name, document in UNFAMILIAR.items()]
    batch = inference.predict_batch(documents, predictor=predictor)
    for document, scored in zip(documents, batch, strict=True):
        answer = _answer(predictor, document["external_id"], document)
        assert answer["recommendations"][0]["confidence"] < sure - 0.3, document
        assert answer["unfamiliar"] and answer["abstained"], document
        assert answer["abstain_reason"] == confidence.UNFAMILIAR
        assert (
            "nothing in this ticket resembles the tickets the model learnt from" in answer["abstain_reason"]
        )
        assert (scored["abstained"], scored["unfamiliar"]) == (True, True)  # manage.py predict agrees

    over_api = engineer_client.post(
        "/api/v1/recommendations/", {"external_id": "API-1", "title": "xyz"}, format="json"
    )
    assert over_api.status_code == 200
    assert over_api.json()["abstained"] and over_api.json()["abstain_reason"] == confidence.UNFAMILIAR


def test_an_unfamiliar_ticket_abstains_however_high_its_confidence():
    payload = confidence.apply(
        {
            "model_version": 3,
            "unfamiliar": True,
            "recommendations": [{"resolution": "REPLACE_SFP", "confidence": 0.97}],
            "similar": [],
        }
    )
    assert payload["abstained"] and payload["abstain_reason"] == confidence.UNFAMILIAR
    assert confidence.abstains(0.97, unfamiliar=True) and not confidence.abstains(0.97)
    assert "shares words or codes with the tickets it learnt from" in confidence.rule_text()


@pytest.mark.django_db
def test_the_needs_an_expert_filter_holds_unfamiliar_tickets_too():
    ticket = Ticket.objects.create(source="t", external_id="T-1", content_hash="0" * 64)
    version = ModelVersion.objects.create(
        base_model="t",
        data_fingerprint="f" * 64,
        artifact_path="/nowhere",
        format_version=1,
        serialization_version=1,
    )
    rows = {1: (0.97, {"unfamiliar": True}), 2: (0.97, {"unfamiliar": False}), 3: (0.97, {}), 4: (0.3, {})}
    for revision, (value, payload) in rows.items():
        Recommendation.objects.create(
            ticket=ticket,
            ticket_revision=revision,
            model_version=version,
            top_confidence=value,
            payload=payload,
        )
    unsure = Recommendation.objects.filter(confidence.abstains_q()).values_list("ticket_revision", flat=True)
    assert sorted(unsure) == [1, 4]
