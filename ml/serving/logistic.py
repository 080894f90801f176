"""Logistic regression as TicketAI fits it: the class weightings it chooses among, and the fit
itself (BLAS on one thread, class weights per ticket). scikit-learn is imported inside, so the web
process and the edge agent never load it."""

import math
from collections.abc import Sequence

import numpy as np


def class_weighting(labels: Sequence[str], scheme: str) -> dict[str, float] | None:
    """Per-class loss weights: none, inverse frequency (n / (k * count), scikit-learn's "balanced")
    or its square root (between the two: rare classes count more, without drowning the common ones)."""
    if scheme == "none":
        return None
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    inverse = {label: len(labels) / (len(counts) * n) for label, n in counts.items()}
    return inverse if scheme == "inverse" else {label: math.sqrt(w) for label, w in inverse.items()}


def fit_logistic(features, labels: Sequence[str], *, class_weight=None, start=None, **params):
    """scikit-learn's LogisticRegression(**params) fitted with BLAS on one thread.

    L-BFGS spends its time in BLAS calls on vectors of a few hundred thousand numbers, where
    OpenBLAS's threads cost far more than they save: one thread fitted a real 700-ticket export's
    lexical member in 0.9 s instead of 13 s on a busy 2-core host, in the same iterations.

    A ``class_weight`` dict is applied as per-ticket weights, which fit the same model: scikit-learn
    looks a dict's classes up through ``int()`` where it can, so labels such as "0", "1" and "2" (a
    fault severity, a numeric category) would miss their weights and fail the fit.

    ``start``, a regression fitted on the same features and labels (or any object with its
    ``coef_`` and ``intercept_`` in that layout), is where L-BFGS starts (a warm start). The class
    weightings fitted one after another, each from the last, reach their optimum in a fraction of
    the iterations from zero (121 classes, 4,800 tickets: 13 and 18 against 53 and 42); the problem
    is convex, so it is the same optimum, within the solver's tolerance."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    labels = list(labels)
    sample_weight = None
    if isinstance(class_weight, dict):
        sample_weight = np.array([class_weight.get(label, 1.0) for label in labels], dtype=np.float64)
        class_weight = None
    model = LogisticRegression(class_weight=class_weight, warm_start=start is not None, **params)
    if start is not None:
        model.coef_, model.intercept_ = start.coef_.copy(), start.intercept_.copy()
    with threadpool_limits(limits=1, user_api="blas"):
        return model.fit(features, labels, sample_weight=sample_weight)
