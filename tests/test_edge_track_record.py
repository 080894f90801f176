"""The edge answers each fix with the track record central measured for the shipped student, as the
central pages and API word it; a head retrained at the site was never measured, so it has none."""

import pytest

from edge_agent import bundle as edge_bundle
from ml.core import signing
from ml.serving import track_record
from tests.edge_fixtures import LABELS, build_test_bundle, offline_agent, signing_key  # noqa: F401

pytestmark = pytest.mark.usefixtures("signing_key")

COUNTS = {
    "REPLACE_SFP": {"learnt_from": 40, "held_out": 9, "recommended": 8, "right": 7},
    "RESTART_BASEBAND": {"learnt_from": 3, "held_out": 0, "recommended": 1, "right": 0},
    "CLEAN_FIBRE": {"learnt_from": 20, "held_out": 4, "recommended": 0, "right": 0},
}  # REPLACE_PSU left out: a label the table does not hold is answered without a record
TABLE = {label: {**counts, "statement": track_record.statement(counts)} for label, counts in COUNTS.items()}
TICKET = {"external_id": "T-1", "text": "link down after fibre works", "codes": ["SFP_RX_LOW"]}


def test_each_recommended_fix_carries_its_record_and_centrals_words(tmp_path):
    agent = offline_agent(tmp_path, capacity=100, track_record=TABLE)

    answer = agent.predict(TICKET, top_k=len(LABELS))

    by_label = {r["resolution"]: r for r in answer["recommendations"]}
    assert set(by_label) == set(LABELS)
    for label, counts in COUNTS.items():
        assert by_label[label]["record"] == counts
        assert by_label[label]["record_statement"] == track_record.statement(counts)
    assert "record" not in by_label["REPLACE_PSU"] and "record_statement" not in by_label["REPLACE_PSU"]
    assert by_label["RESTART_BASEBAND"]["record_statement"].startswith("Rests on only 3 past tickets")


def test_a_head_retrained_at_the_site_answers_without_the_shipped_models_record(tmp_path):
    agent = offline_agent(tmp_path, capacity=100, track_record=TABLE)
    shipped = agent.model
    agent.model = shipped.with_head(edge_bundle.Head(W=shipped.shipped_head.W * 2, b=shipped.shipped_head.b))

    answer = agent.predict(TICKET)

    assert answer["model_version"] == "b1+local"
    assert all("record" not in r and "record_statement" not in r for r in answer["recommendations"])
    assert shipped.served_records == TABLE


def test_a_bundle_without_a_track_record_answers_as_before(tmp_path):
    agent = offline_agent(tmp_path, capacity=100)

    answer = agent.predict(TICKET)

    assert agent.model.records == {}
    assert all(set(r) == {"resolution", "confidence"} for r in answer["recommendations"])


@pytest.mark.parametrize(
    "broken",
    [
        {"REPLACE_SFP": {**COUNTS["REPLACE_SFP"]}},  # no statement
        {"REPLACE_SFP": {**TABLE["REPLACE_SFP"], "right": "7"}},  # a count that is not a number
        {"REPLACE_SFP": {"statement": "Learnt from 40 past tickets."}},  # no counts
    ],
)
def test_a_signed_bundle_with_a_broken_track_record_is_refused(tmp_path, broken):
    path = build_test_bundle(tmp_path / "r.zip", version="r", track_record=broken)

    with pytest.raises(edge_bundle.BundleError, match=r"track_record\.json"):
        edge_bundle.load_model(path, signing.public_key_pem())
