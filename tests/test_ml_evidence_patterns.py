"""Statements in telecom terms: past fixes per code and alarm sequence, counted on the training tickets."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ml.core.dataset import example_from_ticket
from ml.serving import ensemble, evidence_patterns, inference
from ml.training import patterns
from repair_center import selectors


@dataclass
class _Example:
    label: str
    document: dict
    code_map: dict = field(default_factory=dict)


def _ticket(first: str, then: str | None, gap_min: int, *, raw_first: str | None = None) -> dict:
    events = [{"at": "2026-03-01T09:00:00Z", "kind": "alarm_raised", "code": raw_first or first}]
    if then:
        minute = 0 + gap_min
        events.append(
            {
                "at": f"2026-03-01T{9 + minute // 60:02d}:{minute % 60:02d}:00Z",
                "kind": "alarm_raised",
                "code": then,
            }
        )
    return {"events": events, "error_codes": [then or first]}


def test_a_sequence_of_alarms_is_stated_with_its_gap_and_its_share_of_past_fixes():
    examples = [_Example("REPLACE_SFP", _ticket("SFP_RX_LOW", "CPRI_LINK_DOWN", 3)) for _ in range(6)]
    examples += [_Example("RESET_RADIO", _ticket("SFP_RX_LOW", "CPRI_LINK_DOWN", 5)) for _ in range(2)]
    examples += [_Example("RESET_RADIO", _ticket("CPRI_LINK_DOWN", None, 0)) for _ in range(4)]
    table = patterns.count(examples)

    said = evidence_patterns.statements(table, _ticket("SFP_RX_LOW", "CPRI_LINK_DOWN", 4), {}, "REPLACE_SFP")

    assert table["pair:SFP_RX_LOW>CPRI_LINK_DOWN"] == {
        "tickets": 8,
        "fixes": {"REPLACE_SFP": 6, "RESET_RADIO": 2},
    }
    assert said[0]["statement"] == (
        "SFP_RX_LOW 4 min before CPRI_LINK_DOWN: "
        "75% of the 8 past tickets with this pattern were fixed by REPLACE_SFP"
    )
    assert (said[0]["tickets"], said[0]["fixed"], said[0]["gap_minutes"]) == (8, 6, 4)
    # Single codes follow the sequence: CPRI_LINK_DOWN alone was mostly fixed otherwise.
    assert [s["pattern"] for s in said] == [
        "pair:SFP_RX_LOW>CPRI_LINK_DOWN",
        "code:SFP_RX_LOW",
        "code:CPRI_LINK_DOWN",
    ]
    assert said[2]["statement"] == (
        "CPRI_LINK_DOWN: 50% of the 12 past tickets with this code were fixed by REPLACE_SFP"
    )


def test_raw_vendor_codes_count_as_the_curated_code_and_far_apart_alarms_are_no_pattern():
    mapped = _ticket("SFP_RX_LOW", "CPRI_LINK_DOWN", 2, raw_first="NL-7001")
    far = _ticket("SFP_RX_LOW", "CPRI_LINK_DOWN", evidence_patterns.PAIR_WINDOW_MIN + 1)

    keys = {p.key for p in evidence_patterns.ticket_patterns(mapped, {"NL-7001": "SFP_RX_LOW"})}

    assert "pair:SFP_RX_LOW>CPRI_LINK_DOWN" in keys and "code:NL-7001" not in keys
    assert not [p for p in evidence_patterns.ticket_patterns(far, {}) if p.key.startswith("pair:")]


def test_the_table_is_bounded_and_rare_patterns_are_left_out(monkeypatch):
    monkeypatch.setattr(patterns, "MAX_PATTERNS", 3)
    examples = [
        _Example("FIX", {"error_codes": [f"C{i % 5}"]}) for i in range(5 * evidence_patterns.MIN_TICKETS)
    ]
    examples += [_Example("FIX", {"error_codes": ["RARE"]})]

    table = patterns.count(examples)

    assert len(table) == 3 and "code:RARE" not in table
    assert all(row["tickets"] == evidence_patterns.MIN_TICKETS for row in table.values())


@pytest.mark.slow
@pytest.mark.django_db
def test_the_stored_statistics_are_those_of_the_models_training_tickets(trained_champion):
    version = trained_champion
    root = Path(version.artifact_path)
    split = json.loads((root / "split.json").read_text())
    learnt = set(split["train"]) | set(split["validation"])
    tickets = selectors.labelled_tickets().filter(pk__in=learnt)
    expected = patterns.count(example_from_ticket(t) for t in tickets)
    stored = json.loads((root / ensemble.SERVING_DIR / evidence_patterns.FILE).read_text())

    assert stored["patterns"] == expected and expected
    assert stored["tickets"] == len(learnt)
    assert f"{ensemble.SERVING_DIR}/{evidence_patterns.FILE}" in version.artifact_sha256
    # Never the evaluation tickets: SFP_RX_LOW is counted on the REPLACE_SFP tickets the model learnt from.
    sfp = sum(1 for t in tickets if t.resolution.code == "REPLACE_SFP")
    assert stored["patterns"]["code:SFP_RX_LOW"] == {"tickets": sfp, "fixes": {"REPLACE_SFP": sfp}}

    document = {
        "external_id": "P-1",
        "title": "optical receive power low",
        "site": "SITE-ML",
        "element": "SN-ML-1",
        "error_codes": ["SFP_RX_LOW"],
    }
    payload = inference.recommend(document, with_similar=False)
    top = payload["recommendations"][0]["resolution"]
    facts = payload["evidence"]["patterns"]
    if top == "REPLACE_SFP":
        assert (
            facts[0]["statement"]
            == f"SFP_RX_LOW: all {sfp} past tickets with this code were fixed by REPLACE_SFP"
        )
    else:
        assert facts == []  # none of the past SFP_RX_LOW tickets were fixed the way it recommends
