"""A recommendation says how much history stands behind it: learnt from how many past tickets, and
how it did on the held-out tickets, or that it was never measured."""

from collections import Counter

from ml.serving import track_record
from ml.training import evaluation

LABELS = ["FIX_MAINS", "REPLACE_SFP", "RESET_RADIO"]


def _metrics() -> dict:
    # Held out: 4 FIX_MAINS (3 put first, 1 taken for REPLACE_SFP), 2 REPLACE_SFP (1 put first, 1 taken
    # for RESET_RADIO); none of RESET_RADIO, which had too few tickets to set any aside.
    truth = ["FIX_MAINS"] * 4 + ["REPLACE_SFP"] * 2
    predicted = ["FIX_MAINS", "FIX_MAINS", "FIX_MAINS", "REPLACE_SFP", "REPLACE_SFP", "RESET_RADIO"]
    proba = [[0.9 if label == p else 0.05 for label in LABELS] for p in predicted]
    return evaluation.report(truth, proba, LABELS)


def test_each_label_counts_its_past_tickets_and_its_held_out_check():
    index_labels = ["FIX_MAINS"] * 20 + ["REPLACE_SFP"] * 9 + ["RESET_RADIO"] * 3

    table = track_record.records(LABELS, Counter(index_labels), _metrics())

    assert table == {
        "FIX_MAINS": {"learnt_from": 20, "held_out": 4, "recommended": 3, "right": 3},
        "REPLACE_SFP": {"learnt_from": 9, "held_out": 2, "recommended": 2, "right": 1},
        "RESET_RADIO": {"learnt_from": 3, "held_out": 0, "recommended": 1, "right": 0},
    }


def test_the_statement_says_plainly_what_was_measured_and_what_was_not():
    table = track_record.records(LABELS, Counter(FIX_MAINS=20, REPLACE_SFP=9, RESET_RADIO=3), _metrics())

    assert track_record.statement(table["FIX_MAINS"]) == (
        "Learnt from 20 past tickets. Held-out check: put first for 3 tickets, right for 3; found 3 of 4 "
        "fixed this way."
    )
    assert track_record.statement(table["REPLACE_SFP"]).endswith(
        "put first for 2 tickets, right for 1; found 1 of 2 fixed this way."
    )
    assert track_record.statement(table["RESET_RADIO"]) == (
        "Rests on only 3 past tickets: too few to set any aside to check it, so how often this fix is "
        "right has not been measured. In the check it was put first for 1 ticket fixed another way."
    )
    # A common fix none of whose tickets fell among the newest, which a time split holds out.
    assert track_record.statement({"learnt_from": 40, "held_out": 0, "recommended": 0, "right": 0}) == (
        "Learnt from 40 past tickets, none of them among the held-out tickets, so how often this fix is "
        "right has not been measured."
    )
    never = {"learnt_from": 1, "held_out": 2, "recommended": 0, "right": 0}
    assert track_record.statement(never) == (
        "Learnt from 1 past ticket. Held-out check: never put first, though 2 tickets were fixed this way."
    )


def test_recommendations_get_their_record_and_an_old_version_answers_as_before():
    table = {"FIX_MAINS": {"learnt_from": 2, "held_out": 0, "recommended": 0, "right": 0}}
    recommendations = [{"resolution": "FIX_MAINS", "confidence": 0.8}, {"resolution": "X", "confidence": 0.1}]

    annotated = track_record.annotate(recommendations, table)

    assert annotated[0]["record"] == table["FIX_MAINS"]
    assert annotated[0]["record_statement"].startswith("Rests on only 2 past tickets")
    assert annotated[1] == recommendations[1]
    # Metrics from before the confusion matrix was kept: no record rather than a wrong one.
    assert track_record.records(LABELS, Counter(["FIX_MAINS"]), {"accuracy": 0.9}) == {}
    assert track_record.annotate(recommendations, {}) == recommendations
