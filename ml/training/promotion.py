"""Whether a freshly trained candidate replaces the champion: both scored on the same evaluation
tickets, and only on those the champion never learnt from.

A champion's served files learnt from every ticket of its split (the lexical member is fitted again
on all three parts and its evaluation tickets join the neighbour index), so scored on tickets it
was trained on it looks perfect: the neighbours find each ticket itself. A retrain on the same or
overlapping data would then never be promoted however good it is, and a worse one could be. The
candidate's evaluation tickets that the champion learnt from are left out of the comparison, for
both; its figures on the rest are its held-out ones, measured before its own files were refitted.
With fewer than ``MIN_COMPARED`` tickets left, nothing fair can be said: the candidate is kept,
with the reason, for an admin to promote by hand.
"""

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from django.conf import settings

from ml.core import registry
from ml.models import ModelVersion
from ml.training import evaluation
from ml.training.fine_tuning import predict_proba

# Fewer new evaluation tickets than this and a macro-F1 difference is noise, not a verdict.
MIN_COMPARED = 20


class NotComparable(Exception):
    """Too few evaluation tickets are new to the champion to compare the two fairly."""


def champion_score(champion: ModelVersion, *, eval_texts, eval_labels) -> float:
    """The champion's macro-F1 on the given evaluation tickets (its files verified first)."""
    from ml.serving.inference import NotServable, Predictor

    try:
        predictor = Predictor.for_version(champion)
    except NotServable:  # trained before serving files existed: score its transformer alone
        artifacts = registry.verify(champion)
        proba = predict_proba(
            Path(artifacts.path) / "model", eval_texts, max_length=champion.hyperparameters["max_length"]
        )
        return evaluation.report(eval_labels, proba, champion.label_set)["macro_f1"]
    return evaluation.report(eval_labels, predictor.score_texts(list(eval_texts)).proba, predictor.labels)[
        "macro_f1"
    ]


def learnt_from(version: ModelVersion) -> set[int]:
    """The tickets a version learnt from: every part of its split (split.json beside its files).
    A version whose files do not say (registered before they did) counts as having seen none."""
    try:
        parts = json.loads((version.artifact_dir / "split.json").read_text())
    except (OSError, ValueError):
        return set()
    return {int(pk) for part in ("train", "validation", "eval") for pk in parts.get(part) or ()}


def decide_promotion(
    candidate: ModelVersion,
    *,
    eval_texts: Sequence[str],
    eval_labels: Sequence[str],
    eval_ids: Sequence[int] | None = None,
    candidate_proba: np.ndarray | None = None,
    labels: Sequence[str] = (),
    score: Callable[..., float] = champion_score,
) -> ModelVersion:
    """Promote the candidate if it beats the champion by the margin on the evaluation tickets the
    champion never learnt from. ``candidate_proba`` (rows as ``eval_texts``, columns ``labels``) is
    the candidate's held-out answer, scored again on that part when the champion saw the rest."""
    current = registry.champion(candidate.label_set_key)
    current_score, candidate_score, note = None, candidate.metrics["macro_f1"], ""
    if current is not None and current.pk != candidate.pk:
        try:
            registry.verify(current)
            keep = _unseen(current, len(eval_texts), eval_ids, candidate_proba)
            if len(keep) < len(eval_texts):
                candidate_score = evaluation.report(
                    [eval_labels[i] for i in keep], candidate_proba[keep], list(labels)
                )["macro_f1"]
                note = (
                    f" (the {len(keep)} of {len(eval_texts)} evaluation tickets that the champion "
                    f"v{current.pk} never learnt from)"
                )
            current_score = score(
                current, eval_texts=[eval_texts[i] for i in keep], eval_labels=[eval_labels[i] for i in keep]
            )
        except registry.ArtifactError as e:
            registry.mark_failed(current, reason=str(e))
            note = f"; the champion v{current.pk} failed verification ({e})"
        except NotComparable as e:
            return registry.keep_candidate(candidate, reason=str(e))
    promote, reason = registry.promotion_decision(
        candidate_score=candidate_score,
        champion_score=current_score,
        margin=settings.TICKETAI_PROMOTION_MARGIN,
    )
    reason += note
    if promote:
        return registry.promote(candidate, actor="system", reason=reason)
    return registry.keep_candidate(candidate, reason=reason)


def _unseen(champion: ModelVersion, n: int, eval_ids, candidate_proba) -> list[int]:
    """Rows of the candidate's ``n`` evaluation tickets that the champion never learnt from (every
    row when their ids are not given); NotComparable when too few are left to compare on."""
    if eval_ids is None:
        return list(range(n))
    seen = learnt_from(champion)
    keep = [i for i, pk in enumerate(eval_ids) if pk not in seen]
    if len(keep) < n and (candidate_proba is None or len(keep) < MIN_COMPARED):
        raise NotComparable(
            f"kept as candidate: the champion v{champion.pk} learnt from {n - len(keep)} of the {n} "
            f"evaluation tickets, so it cannot be scored on them fairly, and only {len(keep)} are new "
            f"to it (at least {MIN_COMPARED} are needed to compare the two); promote it by hand if "
            "its own figures are good enough"
        )
    return keep
