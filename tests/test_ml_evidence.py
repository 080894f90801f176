"""Evidence by occlusion: the codes, events and words whose removal lowers the top resolution."""

import time

import pytest

from ml.serving import evidence, inference

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def _explain(document: dict) -> dict:
    predictor = inference.load_champion()
    context = inference.document_context(document)
    proba = predictor.predict_proba([document], [context])[0]
    return evidence.explain(predictor, document, context, proba)


def test_the_code_that_drives_the_prediction_outweighs_an_unknown_one(trained_champion):
    result = _explain(
        {"external_id": "E-1", "title": "site visit", "error_codes": ["ZZ_UNKNOWN", "SW_CRASH"]}
    )

    weights = {item["code"]: item["weight"] for item in result["codes"]}
    assert set(weights) == {"SW_CRASH", "ZZ_UNKNOWN"}
    assert weights["SW_CRASH"] > 0 and weights["SW_CRASH"] > weights["ZZ_UNKNOWN"]
    assert result["codes"][0]["code"] == "SW_CRASH"  # strongest first


def test_events_are_named_by_position_kind_and_code(trained_champion):
    document = {
        "external_id": "E-2",
        "opened_at": "2026-03-01T10:00:00Z",
        "events": [
            {"at": "2026-03-01T09:00:00Z", "kind": "note"},
            {"at": "2026-03-01T09:55:00Z", "kind": "power", "code": "MAINS_FAIL"},
        ],
    }
    result = _explain(document)

    by_index = {item["index"]: item for item in result["events"]}
    assert set(by_index) == {0, 1}
    assert (by_index[1]["kind"], by_index[1]["code"]) == ("power", "MAINS_FAIL")
    assert by_index[1]["weight"] > by_index[0]["weight"]


def test_words_of_the_text_are_ranked_and_capped(trained_champion):
    result = _explain(
        {
            "external_id": "E-3",
            "title": "optical receive power low on the fibre link",
            "description": "seen twice",
        }
    )

    words = [item["word"] for item in result["words"]]
    assert 1 <= len(words) <= evidence.MAX_WORDS
    assert [w["weight"] for w in result["words"]] == sorted(
        (w["weight"] for w in result["words"]), reverse=True
    )
    assert set(words) <= {"optical", "receive", "power", "low", "the", "fibre", "link", "seen", "twice"}


def test_a_long_ticket_is_explained_with_at_most_forty_variants(trained_champion):
    events = [
        {"at": f"2026-03-01T09:{m:02d}:00Z", "kind": "alarm_raised", "code": "SFP_RX_LOW"} for m in range(60)
    ]
    document = {"external_id": "E-4", "error_codes": ["SFP_RX_LOW", "CPRI_LINK_DOWN"], "events": events,
                "title": " ".join(f"word{i}" for i in range(50))}  # fmt: skip
    started = time.monotonic()

    result = _explain(document)

    assert len(result["codes"]) + len(result["events"]) <= evidence.MAX_VARIANTS
    assert len(result["codes"]) == 2 and len(result["events"]) == evidence.MAX_VARIANTS - 2
    assert result["words"] == []  # no room left: codes and events come first
    assert time.monotonic() - started < 60
