"""Fitting the served probabilities' calibration on validation, and measuring it on evaluation.

The ensemble's own temperature (ml.serving.ensemble) is one number for every ticket; the map
fitted here is a non-decreasing function of the top probability (isotonic regression, pool
adjacent violators), so it can pull down the confident end without touching the middle. Each
block of the fit is shrunk towards its own mean confidence by PRIOR_TICKETS pseudo-tickets, so a
block of three tickets cannot claim 0% or 100%, and the most confident block is capped by the
rule of succession, (right + 1) / (tickets + 2): thirty right answers out of thirty are served as
97%, never "100%". Below the least confident validation ticket, where validation saw nothing, the
map is the identity (the model's own probability after its temperature), never above the lowest
block's value.

The report compares the evaluation tickets (never used to fit anything) before the calibration
stage and as served: ECE and the reliability bins of both, for the model page.
"""

import json
from pathlib import Path

import numpy as np

from edge_agent.calibration import FILE, Calibration
from ml.training import evaluation

PRIOR_TICKETS = 2.0


def _blocks(correct: np.ndarray, confidence: np.ndarray) -> list[tuple[float, float, float]]:
    """Pool adjacent violators over tickets ordered by confidence: [(tickets, right, sum conf)]."""
    order = np.argsort(confidence, kind="stable")
    blocks: list[list[float]] = []
    for i in order:
        blocks.append([1.0, float(correct[i]), float(confidence[i])])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] >= blocks[-1][1] / blocks[-1][0]:
            n, k, c = blocks.pop()
            blocks[-1][0] += n
            blocks[-1][1] += k
            blocks[-1][2] += c
    return [(n, k, c) for n, k, c in blocks]


def fit(y: np.ndarray, proba: np.ndarray) -> Calibration:
    """The top-label map from validation labels (index per row, -1 for unknown) and probabilities."""
    known = y >= 0
    y, proba = y[known], proba[known]
    if len(y) == 0:
        return Calibration(x=np.array([0.0, 1.0]), y=np.array([0.0, 1.0]), cap=1.0)
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(float)
    blocks = _blocks(correct, confidence)
    xs, ys = [], []
    for n, k, c in blocks:
        mean = c / n
        xs.append(mean)
        ys.append((k + PRIOR_TICKETS * mean) / (n + PRIOR_TICKETS))
    n, k, _ = blocks[-1]
    cap = min(1.0, (k + 1.0) / (n + 2.0))
    ys = list(np.maximum.accumulate(np.minimum(np.array(ys), cap)))
    # Below the least confident validation ticket validation says nothing: there the model's own
    # probability is served, never more than the lowest block was found right. Without these knots
    # the map was flat below it, and with every validation ticket right (one block) it served any
    # ticket, gibberish too, at the cap.
    lowest = float(confidence.min())
    floor = min(lowest, ys[0])
    anchors_x, anchors_y = [0.0, floor], [0.0, floor]
    if lowest > floor or ys[0] > floor:
        anchors_x.append(lowest)
        anchors_y.append(ys[0])
    return Calibration(x=np.array(anchors_x + xs), y=np.array(anchors_y + ys), cap=cap)


def _held_out(y: np.ndarray, proba: np.ndarray) -> dict:
    known = y >= 0
    # Evaluation labels the model never saw count as misses, as in evaluation.report.
    confidence = proba.max(axis=1) if len(proba) else np.zeros(0)
    correct = ((proba.argmax(axis=1) == y) & known).astype(float) if len(proba) else np.zeros(0)
    return {
        "ece": round(evaluation.expected_calibration_error(correct, confidence), 6),
        "bins": evaluation.calibration_bins(correct, confidence),
        "n": len(y),
    }


def fit_and_store(
    serving_dir: Path,
    *,
    y_validation: np.ndarray,
    validation_proba: np.ndarray,
    y_eval: np.ndarray,
    eval_uncalibrated: np.ndarray,
    eval_proba: np.ndarray,
) -> np.ndarray:
    """Fit on validation, write ``calibration.json`` beside the served model, return eval as served.

    ``validation_proba`` and ``eval_proba`` are the ensemble's probabilities after its temperature;
    ``eval_uncalibrated`` is the mix before any calibration, the "before" of the report."""
    calibration = fit(np.asarray(y_validation), np.asarray(validation_proba))
    served = calibration.apply(eval_proba)
    y_eval = np.asarray(y_eval)
    report = {
        "fitted_on": int((np.asarray(y_validation) >= 0).sum()),
        "before": _held_out(y_eval, eval_uncalibrated),
        "temperature_only": _held_out(y_eval, eval_proba),
        "after": _held_out(y_eval, served),
    }
    (Path(serving_dir) / FILE).write_text(json.dumps({**calibration.to_json(), "held_out": report}, indent=1))
    return served


def held_out_report(serving_dir: Path) -> dict:
    """What fit_and_store measured: {"fitted_on", "cap", "before", "temperature_only", "after"}."""
    path = Path(serving_dir) / FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {**data.get("held_out", {}), "cap": data.get("cap"), "method": data.get("method")}


def fit_on_half(serving_dir: Path, *, y: np.ndarray, proba: np.ndarray) -> dict:
    """For the edge student, whose only held-out tickets are its teacher's evaluation split: fit on
    every other ticket, measure on the rest, write ``calibration.json`` and return the report."""
    y, proba = np.asarray(y), np.asarray(proba)
    fit_rows, check_rows = np.arange(0, len(y), 2), np.arange(1, len(y), 2)
    calibration = fit(y[fit_rows], proba[fit_rows])
    report = {
        "fitted_on": int((y[fit_rows] >= 0).sum()),
        "before": _held_out(y[check_rows], proba[check_rows]),
        "after": _held_out(y[check_rows], calibration.apply(proba[check_rows])),
    }
    (Path(serving_dir) / FILE).write_text(json.dumps({**calibration.to_json(), "held_out": report}, indent=1))
    return {**report, "cap": calibration.cap}
