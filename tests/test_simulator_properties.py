import pytest

from benchmarks.simulator_properties import ROW_NAMES, run

pytestmark = pytest.mark.slow  # trains models on 3,000 simulated tickets


def test_events_and_context_separate_the_fixes_that_text_codes_and_runbook_cannot():
    # At 3,000 tickets the gaps are ~45 points (20,000: see docs/simulator.md); the margins leave room for
    # small-sample noise while still failing if the decisive evidence leaks into text or codes.
    result = run(tickets=3000, seed=1)
    scores = {row["name"]: row for row in result["rows"]}
    assert [row["name"] for row in result["rows"]] == list(ROW_NAMES)
    assert result["tickets"] > 2900
    accuracy = {name: row["accuracy"] for name, row in scores.items()}
    assert accuracy["tfidf_all"] >= accuracy["tfidf_text"] + 0.25
    assert accuracy["tfidf_all"] >= accuracy["tfidf_codes"] + 0.25
    assert accuracy["tfidf_all"] >= accuracy["runbook"] + 0.3
    assert accuracy["majority"] < accuracy["runbook"]
    assert accuracy["oracle"] > 0.9
    assert accuracy["oracle"] > accuracy["tfidf_all"]
    assert scores["tfidf_all"]["macro_f1"] > scores["tfidf_codes"]["macro_f1"] + 0.25
