"""Calibration: fitted on validation, it lowers ECE on held-out tickets, is stored with the model and
applied wherever probabilities are served; it never states "100%" on a handful of right answers."""

import json

import numpy as np
import pytest

from edge_agent.calibration import Calibration
from ml.serving import confidence, ensemble, inference
from ml.training import calibration, evaluation


def _overconfident(rng, n: int, classes: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """A model that states 90-99.9% but is right about 70% of the time (right more when surer)."""
    y = rng.integers(0, classes, n)
    stated = rng.uniform(0.9, 0.999, n)
    right = rng.random(n) < 0.55 + 2.0 * (stated - 0.9)
    predicted = np.where(right, y, (y + rng.integers(1, classes, n)) % classes)
    proba = np.tile(((1 - stated) / (classes - 1))[:, None], (1, classes))
    proba[np.arange(n), predicted] = stated
    return y, proba


def _ece(y: np.ndarray, proba: np.ndarray) -> float:
    return evaluation.expected_calibration_error((proba.argmax(1) == y).astype(float), proba.max(1))


def test_it_lowers_the_calibration_error_of_an_overconfident_model_on_held_out_tickets():
    rng = np.random.default_rng(7)
    y_val, val = _overconfident(rng, 3000)
    y_eval, held_out = _overconfident(rng, 3000)

    fitted = calibration.fit(y_val, val)
    served = fitted.apply(held_out)

    assert _ece(y_eval, held_out) > 0.2
    assert _ece(y_eval, served) < 0.05
    # A stated 90% is right about 90% of the time: the served top-confidence bins sit near the diagonal.
    for b in evaluation.calibration_bins((served.argmax(1) == y_eval).astype(float), served.max(1)):
        if b["count"] >= 200:
            assert abs(b["confidence"] - b["accuracy"]) < 0.06


def test_calibration_keeps_every_ranking_and_every_row_a_distribution():
    rng = np.random.default_rng(3)
    y, proba = _overconfident(rng, 500)
    proba = proba * rng.uniform(0.5, 1.5, proba.shape)
    proba /= proba.sum(axis=1, keepdims=True)
    served = calibration.fit(y, proba).apply(proba)

    assert np.allclose(served.sum(axis=1), 1.0)
    assert (served >= 0).all()
    assert (
        np.argsort(-served, axis=1, kind="stable")[:, :3] == np.argsort(-proba, axis=1, kind="stable")[:, :3]
    ).all()


def test_thirty_right_answers_out_of_thirty_are_served_as_97_percent_not_100():
    y = np.zeros(30, dtype=int)
    proba = np.tile([0.9999, 0.0001], (30, 1))

    fitted = calibration.fit(y, proba)
    served = fitted.apply(np.array([[1.0, 0.0], [0.99999, 0.00001]]))

    assert fitted.cap == pytest.approx(31 / 32)
    assert served[:, 0].max() <= 31 / 32
    assert confidence.percent(served[0, 0]) == "97%"


def test_a_map_that_is_not_monotone_or_out_of_range_is_refused():
    good = Calibration(x=np.array([0.2, 0.9]), y=np.array([0.1, 0.8]), cap=0.8).to_json()
    assert Calibration.from_json(good).cap == 0.8
    for broken in (
        {**good, "y": [0.8, 0.1]},
        {**good, "cap": 1.5},
        {**good, "x": []},
        {**good, "method": "magic"},
    ):
        with pytest.raises(ValueError):
            Calibration.from_json(broken)


@pytest.mark.slow
@pytest.mark.django_db
def test_a_trained_model_stores_its_calibration_and_serves_through_it(trained_champion):
    version = trained_champion
    stored = version.artifact_dir / ensemble.SERVING_DIR / "calibration.json"
    assert f"{ensemble.SERVING_DIR}/calibration.json" in version.artifact_sha256  # verified on load
    data = json.loads(stored.read_text())
    split = json.loads((version.artifact_dir / "split.json").read_text())
    report = version.metrics["calibration"]
    assert report["fitted_on"] == data["held_out"]["fitted_on"] == len(split["validation"])
    assert report["before"]["n"] == report["after"]["n"] == len(split["eval"])
    assert report["after"]["ece"] == pytest.approx(version.metrics["ece"], abs=1e-6)
    assert {"confidence", "accuracy", "count"} <= set(report["before"]["bins"][0])

    predictor = inference.load_champion()
    texts = ["[codes] SFP_RX_LOW [text] optical receive power low", "[codes] MAINS_FAIL [text] on batteries"]
    probas, _ = predictor._members(texts, encoder=True)
    uncalibrated = ensemble.served_proba(predictor.config, probas)
    served = predictor.score_texts(texts).proba

    assert np.allclose(served, Calibration.from_json(data).apply(uncalibrated))
    assert (
        served.max() <= data["cap"] < 1.0
    )  # the tiny model's 4 right validation answers are not "always right"


def test_with_every_validation_ticket_right_a_low_confidence_is_not_served_at_the_cap():
    # 42 validation tickets, all right at 93-99%: one block, so the map used to be flat at the cap.
    rng = np.random.default_rng(11)
    stated = rng.uniform(0.93, 0.99, 42)
    y = np.arange(42) % 4
    proba = np.tile(((1 - stated) / 3)[:, None], (1, 4))
    proba[np.arange(42), y] = stated
    fitted = calibration.fit(y, proba)

    assert fitted.cap == pytest.approx(43 / 44)
    assert fitted.top(np.array([0.97]))[0] == pytest.approx(43 / 44)  # what validation covered
    # Gibberish's near-uniform 28% and a half-sure 60%: validation never saw them, they stay as stated.
    assert fitted.top(np.array([0.28, 0.6])) == pytest.approx([0.28, 0.6])
    served = fitted.apply(np.array([[0.28, 0.25, 0.24, 0.23], [0.97, 0.01, 0.01, 0.01]]))
    assert served[0].max() == pytest.approx(0.28)
    assert served[0].max() < served[1].max()


def test_below_the_validation_range_the_map_never_states_more_than_the_lowest_block():
    rng = np.random.default_rng(7)
    y, proba = _overconfident(rng, 3000)  # stated 90-99.9%, right 55-100% of the time
    fitted = calibration.fit(y, proba)
    lowest_block = float(fitted.top(proba.max(axis=1).min(keepdims=True))[0])

    assert lowest_block < 0.7
    below = fitted.top(np.array([0.3, 0.5, 0.65, 0.8, 0.89]))
    assert below == pytest.approx(np.minimum([0.3, 0.5, 0.65, 0.8, 0.89], lowest_block), abs=1e-3)
    assert (np.diff(fitted.top(np.linspace(0.0, 1.0, 101))) >= -1e-12).all()  # still non-decreasing
    # the edge agent reads the same file
    assert Calibration.from_json(json.loads(json.dumps(fitted.to_json()))).top(np.array([0.3]))[0] == 0.3
