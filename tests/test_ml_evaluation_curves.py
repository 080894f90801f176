"""The evaluation records the points of the reliability diagram and the coverage-at-precision curve."""

import numpy as np
import pytest

from ml.training.evaluation import report

LABELS = ["A", "B"]


def test_calibration_bins_hold_mean_confidence_accuracy_and_count_per_bin():
    # Four confident right answers (0.95) and four hesitant answers (0.55), half of them wrong.
    proba = np.array([[0.95, 0.05]] * 4 + [[0.55, 0.45]] * 4)
    metrics = report(["A"] * 4 + ["A", "A", "B", "B"], proba, LABELS)
    bins = metrics["calibration"]["bins"]
    assert [b["count"] for b in bins] == [4, 4]
    assert bins[0]["confidence"] == pytest.approx(0.55) and bins[0]["accuracy"] == pytest.approx(0.5)
    assert bins[1]["confidence"] == pytest.approx(0.95) and bins[1]["accuracy"] == pytest.approx(1.0)


def test_the_coverage_curve_falls_in_precision_as_the_threshold_admits_doubtful_answers():
    proba = np.array([[0.95, 0.05]] * 4 + [[0.55, 0.45]] * 4)
    metrics = report(["A"] * 4 + ["B"] * 4, proba, LABELS)
    curve = metrics["coverage_curve"]
    assert curve[0] == {"coverage": 0.125, "precision": 1.0}
    assert curve[-1] == {"coverage": 1.0, "precision": 0.5}
    assert [p["coverage"] for p in curve] == sorted(p["coverage"] for p in curve)


def test_the_curve_is_thinned_for_a_large_evaluation_set():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1, 1], size=5000)
    curve = report(list(rng.choice(LABELS, size=5000)), proba, LABELS)["coverage_curve"]
    assert 40 <= len(curve) <= 50
