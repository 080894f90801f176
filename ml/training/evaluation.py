"""Honest numbers on the held-out split, for the model and for the baselines it must beat.

Every scorer produces a probability matrix over the same label list, so one function reports
them all: accuracy, macro-F1, top-3, per-class P/R/F1, confusion matrix, expected calibration
error, and coverage at 90% precision with the confidence thresholds it implies. Evaluation
labels the model never saw stay in: they count as misses, as they would in production.
"""

from collections import Counter, defaultdict
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

TARGET_PRECISION = 0.9
ECE_BINS = 10
_WORD_PATTERN = r"[^\s|]+"  # codes like SFP_RX_LOW and times like -2h05m stay whole tokens
MIN_CLASS_PREDICTIONS = 5  # fewer predictions of a class than this: use the global threshold


def _coverage_at_precision(correct: np.ndarray, confidence: np.ndarray, target: float) -> tuple[float, float]:
    """Largest share of tickets answerable with precision >= target, and the threshold doing it.

    Returns (0.0, inf) when no threshold reaches the target: the model should always abstain.
    """
    if len(correct) == 0:
        return 0.0, float("inf")
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(correct[order])
    precision = hits / np.arange(1, len(order) + 1)
    ok = np.nonzero(precision >= target)[0]
    if len(ok) == 0:
        return 0.0, float("inf")
    k = int(ok[-1])
    return (k + 1) / len(order), float(confidence[order][k])


def expected_calibration_error(correct: np.ndarray, confidence: np.ndarray, bins: int = ECE_BINS) -> float:
    if len(correct) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(ece)


def calibration_bins(correct: np.ndarray, confidence: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """The reliability diagram's points: per confidence bin (the ECE's bins), mean confidence and accuracy."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for low, high in pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            out.append(
                {
                    "confidence": float(confidence[inside].mean()),
                    "accuracy": float(correct[inside].mean()),
                    "count": int(inside.sum()),
                }
            )
    return out


def coverage_curve(correct: np.ndarray, confidence: np.ndarray, points: int = 50) -> list[dict]:
    """Precision against coverage as the confidence threshold falls, thinned to about ``points`` points."""
    if len(correct) == 0:
        return []
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(correct[order])
    answered = np.arange(1, len(order) + 1)
    keep = np.unique(np.linspace(0, len(order) - 1, min(points, len(order))).round().astype(int))
    return [
        {"coverage": float(answered[k] / len(order)), "precision": float(hits[k] / answered[k])} for k in keep
    ]


def report(y_true: Sequence[str], proba: np.ndarray, labels: Sequence[str]) -> dict:
    """All held-out metrics for one scorer; ``proba`` columns follow ``labels``."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(labels)
    n = len(y_true)
    proba = np.asarray(proba, dtype=np.float64).reshape(n, len(labels))
    predicted_idx = proba.argmax(axis=1) if n else np.zeros(0, dtype=int)
    y_pred = [labels[i] for i in predicted_idx]
    confidence = proba.max(axis=1) if n else np.zeros(0)
    correct = np.array([p == t for p, t in zip(y_pred, y_true, strict=True)], dtype=float)
    top3_idx = np.argsort(-proba, axis=1)[:, :3] if n else np.zeros((0, 3), dtype=int)
    top3 = (
        np.mean([t in {labels[i] for i in row} for t, row in zip(y_true, top3_idx, strict=True)])
        if n
        else 0.0
    )

    present = sorted(set(y_true))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=present, zero_division=0)
    per_class = {
        label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, label in enumerate(present)
    }
    matrix_labels = sorted(set(present) | set(y_pred))
    matrix = confusion_matrix(y_true, y_pred, labels=matrix_labels).tolist() if n else []

    coverage, threshold = _coverage_at_precision(correct, confidence, TARGET_PRECISION)
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(y_pred):
        by_class[label].append(i)
    thresholds = {}
    for label in labels:
        members = by_class.get(label, [])
        if len(members) < MIN_CLASS_PREDICTIONS:
            thresholds[label] = _finite(threshold)
            continue
        _, class_threshold = _coverage_at_precision(correct[members], confidence[members], TARGET_PRECISION)
        thresholds[label] = _finite(class_threshold)
    return {
        "n": n,
        "accuracy": float(correct.mean()) if n else 0.0,
        "macro_f1": float(np.mean(f)) if len(f) else 0.0,
        "top3": float(top3),
        "ece": expected_calibration_error(correct, confidence),
        "calibration": {"bins": calibration_bins(correct, confidence)},
        "coverage_curve": coverage_curve(correct, confidence),
        "coverage_at_90_precision": coverage,
        "threshold_at_90_precision": _finite(threshold),
        "class_thresholds": thresholds,
        "per_class": per_class,
        "confusion": {"labels": matrix_labels, "matrix": matrix},
    }


def _finite(value: float) -> float | None:
    """JSON has no infinity: None means "no threshold reaches the target precision; abstain"."""
    return None if value == float("inf") else float(value)


def summary(metrics: dict) -> dict:
    """The headline numbers of a report, for tables and comparisons."""
    keys = ("n", "accuracy", "macro_f1", "top3", "ece", "coverage_at_90_precision")
    return {key: metrics[key] for key in keys if key in metrics}


def runbook_proba(
    train_codes: Sequence[str], train_labels: Sequence[str], eval_codes: Sequence[str], labels: Sequence[str]
) -> np.ndarray:
    """What an engineer with the runbook does: the fix most often used for the ticket's first code.

    Scores are the resolution frequencies for that code in the training part (overall frequencies
    for codes never seen there), so top-3 and calibration are measured too.
    """
    index = {label: i for i, label in enumerate(labels)}
    overall = Counter(train_labels)
    per_code: dict[str, Counter] = defaultdict(Counter)
    for code, label in zip(train_codes, train_labels, strict=True):
        per_code[code][label] += 1
    proba = np.zeros((len(eval_codes), len(labels)))
    for row, code in enumerate(eval_codes):
        counts = per_code.get(code) or overall
        total = sum(counts.values())
        for label, count in counts.items():
            if label in index:
                proba[row, index[label]] = count / total
    return proba


def baseline_vectorizer(n_classes: int):
    """The TF-IDF baseline's vectoriser (word 1-2 grams, sublinear). Past the lexical member's
    coefficient budget (classes x terms, ``MAX_COEFFICIENTS``) its vocabulary keeps its most
    frequent terms, as the member's does: every word pair of 20,000 tickets, in hundreds of
    classes, would need tens of gigabytes to fit. Below the budget the cap does not bind."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from ml.training.lexical import MAX_COEFFICIENTS

    return TfidfVectorizer(
        ngram_range=(1, 2),
        sublinear_tf=True,
        min_df=1,
        token_pattern=_WORD_PATTERN,
        max_features=MAX_COEFFICIENTS // max(1, n_classes),
    )


def tfidf_proba(
    train_texts: Sequence[str], train_labels: Sequence[str], eval_texts: Sequence[str], labels: Sequence[str]
) -> np.ndarray:
    """TF-IDF (word 1-2 grams) + class-balanced logistic regression on the same model input."""
    from ml.serving.logistic import fit_logistic

    vectorizer = baseline_vectorizer(len(labels))
    features = vectorizer.fit_transform(train_texts)
    classifier = fit_logistic(features, train_labels, max_iter=2000, class_weight="balanced", C=10.0)
    raw = classifier.predict_proba(vectorizer.transform(eval_texts))
    proba = np.zeros((len(eval_texts), len(labels)))
    index = {label: i for i, label in enumerate(labels)}
    for column, label in enumerate(classifier.classes_):
        if label in index:
            proba[:, index[label]] = raw[:, column]
    return proba
