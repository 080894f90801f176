"""A model trained before two codes were merged learnt them as two labels. Until it is retrained it
answers the fix once, as the code kept: its chance is the two labels' together, its record the two
labels' counts read as one fix, and open tickets' stored answers listing the old code are answered
again once the merge has committed."""

from collections import Counter

import numpy as np
import pytest

from ml.models.recommendations import Recommendation
from ml.serving import inference, merged, track_record
from ml.serving.recommendations import recommendation_for_ticket
from ml.training import evaluation
from repair_center.models import Ticket
from repair_center.services.history import Actor
from repair_center.services.resolution_merge import merge_resolutions
from repair_center.services.tickets import tickets_upsert

LABELS = ["Re-seat card", "REPLACE_SFP", "Reseat card", "FIX_MAINS"]


def test_labels_merged_into_one_code_are_one_fix_whose_chance_is_their_sum():
    fixes = merged.Fixes.of(LABELS, {"Re-seat card": "Reseat card"})
    proba = np.array([[0.30, 0.35, 0.25, 0.10], [0.05, 0.10, 0.05, 0.80]])

    assert fixes.codes == ["Reseat card", "REPLACE_SFP", "FIX_MAINS"]
    assert fixes.members == [[0, 2], [1], [3]]
    np.testing.assert_allclose(fixes.proba(proba), [[0.55, 0.35, 0.10], [0.10, 0.10, 0.80]])
    assert fixes.top_label(0, proba[0]) == 0  # the evidence explains the label the model gave most


def test_without_a_merge_the_labels_are_the_fixes_and_the_chances_are_untouched():
    proba = np.array([[0.30, 0.35, 0.25, 0.10]])
    # An alias of a code the model never learnt renames its label; nothing is added up.
    fixes = merged.Fixes.of(LABELS, {"FIX_MAINS": "Fix mains"})

    assert fixes.codes == ["Re-seat card", "REPLACE_SFP", "Reseat card", "Fix mains"]
    assert fixes.proba(proba) is proba


def test_the_record_of_merged_labels_counts_a_ticket_fixed_as_one_and_put_first_as_the_other_right():
    truth = ["Re-seat card", "Re-seat card", "Reseat card", "REPLACE_SFP"]
    predicted = ["Reseat card", "Re-seat card", "REPLACE_SFP", "REPLACE_SFP"]
    labels = LABELS[:3]
    metrics = evaluation.report(truth, [[0.9 if a == p else 0.05 for a in labels] for p in predicted], labels)
    learnt = Counter({"Re-seat card": 7, "Reseat card": 5, "REPLACE_SFP": 9})

    record = track_record.record(["Re-seat card", "Reseat card"], learnt, metrics)

    assert record == {"learnt_from": 12, "held_out": 3, "recommended": 2, "right": 2}
    assert (
        track_record.record(["Reseat card"], learnt, metrics)
        == track_record.records(labels, learnt, metrics)["Reseat card"]
    )
    assert track_record.record(["Reseat card"], learnt, {}) is None  # an old version: no record


@pytest.mark.slow
@pytest.mark.django_db
def test_after_a_merge_the_champion_answers_the_fix_once_as_the_code_kept(trained_champion):
    predictor = inference.load_champion()
    document = {"external_id": "D-1", "title": "radio unit lost its cpri link to the baseband"}
    proba = dict(zip(predictor.labels, predictor.score([document]).proba[0].tolist(), strict=True))
    learnt = Counter(predictor.index_labels)
    merge_resolutions(["RESET_RADIO"], into="REPLACE_SFP", actor=Actor("admin"))

    payload = inference.recommend(document, predictor=predictor, top_k=4)
    [batch] = inference.predict_batch([document], predictor=predictor, top_k=4)

    answered = [r["resolution"] for r in payload["recommendations"]]
    assert sorted(answered) == ["FIX_MAINS", "REPLACE_SFP", "ROLLBACK_SW"]
    [fix] = [r for r in payload["recommendations"] if r["resolution"] == "REPLACE_SFP"]
    assert fix["confidence"] == round(proba["RESET_RADIO"] + proba["REPLACE_SFP"], 4)
    assert fix["record"]["learnt_from"] == learnt["RESET_RADIO"] + learnt["REPLACE_SFP"]
    assert fix["record_statement"] == track_record.statement(fix["record"])
    assert [(r["resolution"], r["confidence"]) for r in batch["recommendations"]] == [
        (r["resolution"], r["confidence"]) for r in payload["recommendations"]
    ]


@pytest.mark.slow
@pytest.mark.django_db
def test_an_open_tickets_stored_answer_listing_the_old_code_is_answered_again(
    trained_champion, eager_celery, django_capture_on_commit_callbacks
):
    [written] = tickets_upsert(
        documents=[
            {
                "external_id": "OPEN-1",
                "title": "radio unit lost its cpri link to the baseband",
                "status": "inProgress",
                "site": "SITE-ML",
            }
        ],
        source="noc",
    )
    ticket = Ticket.objects.get(pk=written.id)
    before = recommendation_for_ticket(ticket)
    assert "RESET_RADIO" in {r["resolution"] for r in before["recommendations"]}

    with django_capture_on_commit_callbacks(execute=True):
        merge_resolutions(["RESET_RADIO"], into="REPLACE_SFP", actor=Actor("admin"))

    row = Recommendation.objects.get(ticket=ticket, ticket_revision=ticket.revision)
    answered = [r["resolution"] for r in row.payload["recommendations"]]
    assert "RESET_RADIO" not in answered and answered.count("REPLACE_SFP") == 1
    assert row.payload == recommendation_for_ticket(ticket)
