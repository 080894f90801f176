"""The fitted temperature: what validation says on many tickets, near "as stated" on a few it got all
right (before the prior, such a set pushed every served probability to 1.0)."""

import numpy as np
import pytest

from ml.serving import ensemble


def _all_right(n: int, classes: int = 4, stated: float = 0.958) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % classes
    proba = np.full((n, classes), (1 - stated) / (classes - 1))
    proba[np.arange(n), y] = stated
    return y, proba


def _overconfident(rng, n: int, classes: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Right 85% of the time, with sharp logits: a fitted temperature above 1."""
    y = rng.integers(0, classes, n)
    logits = rng.normal(0, 1, (n, classes))
    predicted = np.where(rng.random(n) < 0.85, y, (y + rng.integers(1, classes, n)) % classes)
    logits[np.arange(n), predicted] += 2.0
    return y, ensemble.softmax(3.0 * logits)


def _unregularised(y: np.ndarray, proba: np.ndarray) -> float:
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 161))
    return float(grid[np.argmin([ensemble.log_loss(y, ensemble.calibrate(proba, t)) for t in grid])])


def test_a_validation_set_all_right_does_not_drive_the_temperature_to_its_floor():
    for n in (4, 8, 42):
        y, proba = _all_right(n)
        assert _unregularised(y, proba) == pytest.approx(0.05)  # what the fit chose before the prior
        temperature = ensemble.fit_temperature(y, proba)
        assert 0.5 < temperature < 1.0, (n, temperature)
        # a ticket the member knows nothing about stays near uniform instead of becoming certain
        unsure = ensemble.calibrate(np.array([[0.28, 0.25, 0.24, 0.23]]), temperature)
        assert unsure.max() < 0.35


def test_more_perfect_validation_tickets_are_evidence_for_a_lower_temperature():
    temperatures = [ensemble.fit_temperature(*_all_right(n)) for n in (4, 42, 400)]
    assert temperatures == sorted(temperatures, reverse=True)


def test_on_hundreds_of_validation_tickets_the_temperature_is_what_the_data_says():
    rng = np.random.default_rng(5)
    for n in (500, 3000):
        y, proba = _overconfident(rng, n)
        fitted, data = ensemble.fit_temperature(y, proba), _unregularised(y, proba)
        assert fitted > 1.5
        assert fitted == pytest.approx(data, rel=1e-3)  # its own optimum: validation alone decides
