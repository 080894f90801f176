"""A candidate becomes champion only by beating the champion on the same evaluation set by the margin."""

import json

import numpy as np
import pytest
from django.db import IntegrityError

from ml.core import registry
from ml.models import AuditLog, ModelVersion
from ml.training.promotion import MIN_COMPARED, decide_promotion


@pytest.fixture
def model_dir(settings, tmp_path):
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"
    settings.TICKETAI_PROMOTION_MARGIN = 0.02
    return settings.TICKETAI_MODEL_DIR


def _version(macro_f1: float, *, learnt_from: list[int] | None = None) -> ModelVersion:
    staging = registry.staging_dir()
    (staging / "weights.bin").write_bytes(b"w" * 10)
    if learnt_from is not None:  # the tickets of its split, as training writes them
        (staging / "split.json").write_text(json.dumps({"train": learnt_from, "validation": [], "eval": []}))
    return registry.register(
        staging, manifest={}, base_model="tiny", data_fingerprint="f" * 64, metrics={"macro_f1": macro_f1}
    )


def _champion_scores(score: float):
    calls = []

    def score_on_same_set(champion, *, eval_texts, eval_labels):
        calls.append((champion.pk, eval_texts, eval_labels))
        return score

    return score_on_same_set, calls


def test_the_margin_decides(db):
    assert registry.promotion_decision(candidate_score=0.80, champion_score=None, margin=0.02)[0]
    assert registry.promotion_decision(candidate_score=0.82, champion_score=0.80, margin=0.02)[0]
    promote, reason = registry.promotion_decision(candidate_score=0.81, champion_score=0.80, margin=0.02)
    assert not promote
    assert "does not beat the champion's 0.8000" in reason and "needs 0.8200" in reason


def test_a_candidate_within_the_margin_stays_candidate_with_the_reason(db, model_dir):
    champion = registry.promote(_version(0.70), reason="seed")
    candidate = _version(0.71)
    score, calls = _champion_scores(0.70)

    decide_promotion(candidate, eval_texts=["t1", "t2"], eval_labels=["A", "B"], score=score)

    candidate.refresh_from_db()
    champion.refresh_from_db()
    assert calls == [(champion.pk, ["t1", "t2"], ["A", "B"])]
    assert (candidate.status, champion.status) == ("candidate", "champion")
    assert "required margin 0.0200" in candidate.status_reason
    assert AuditLog.objects.first().action == AuditLog.Action.KEEP_CANDIDATE


def test_a_candidate_beating_the_margin_replaces_the_champion_and_rollback_restores_it(db, model_dir):
    old = registry.promote(_version(0.70), reason="seed")
    candidate = _version(0.75)
    score, _ = _champion_scores(0.70)

    decide_promotion(candidate, eval_texts=["t"], eval_labels=["A"], score=score)

    candidate.refresh_from_db()
    old.refresh_from_db()
    assert (candidate.status, old.status) == ("champion", "archived")
    entry = AuditLog.objects.filter(action=AuditLog.Action.PROMOTE).first()
    assert (entry.model_version, entry.previous_champion, entry.actor) == (candidate, old, "system")

    restored = registry.rollback(actor="boss", reason="bad feedback")
    candidate.refresh_from_db()
    assert (restored, restored.status, candidate.status) == (old, "champion", "archived")
    assert AuditLog.objects.first().action == AuditLog.Action.ROLLBACK


def test_a_champion_whose_files_are_corrupted_is_marked_failed_and_replaced(db, model_dir):
    broken = registry.promote(_version(0.90), reason="seed")
    (broken.artifact_dir / "weights.bin").write_bytes(b"garbage")
    candidate = _version(0.50)

    decide_promotion(candidate, eval_texts=["t"], eval_labels=["A"])

    broken.refresh_from_db()
    candidate.refresh_from_db()
    assert broken.status == "failed" and "corrupted" in broken.status_reason
    assert candidate.status == "champion" and "failed verification" in candidate.status_reason


def test_the_database_allows_one_champion_per_label_set(db, model_dir):
    registry.promote(_version(0.5))
    second = _version(0.6)
    with pytest.raises(IntegrityError):
        ModelVersion.objects.filter(pk=second.pk).update(status=ModelVersion.Status.CHAMPION)


def test_the_champion_is_scored_only_on_evaluation_tickets_it_never_learnt_from(db, model_dir):
    # Its served files learnt from every ticket of its split: on those it would look perfect.
    champion = registry.promote(_version(0.70, learnt_from=list(range(100, 110))), reason="seed")
    candidate = _version(0.60)  # its whole evaluation set, the seen tickets included
    eval_ids = list(range(100, 140))
    labels = ["A", "B"]
    eval_labels = ["A" if pk % 2 else "B" for pk in eval_ids]
    proba = np.array([[0.9, 0.1] if y == "A" else [0.1, 0.9] for y in eval_labels])
    proba[:10] = proba[:10, ::-1]  # wrong on the ten the champion saw, right on the thirty it did not
    score, calls = _champion_scores(0.70)

    decide_promotion(
        candidate,
        eval_texts=[f"t{pk}" for pk in eval_ids],
        eval_labels=eval_labels,
        eval_ids=eval_ids,
        candidate_proba=proba,
        labels=labels,
        score=score,
    )

    candidate.refresh_from_db()
    champion.refresh_from_db()
    assert calls == [(champion.pk, [f"t{pk}" for pk in eval_ids[10:]], eval_labels[10:])]
    assert (candidate.status, champion.status) == ("champion", "archived")
    assert "macro-F1 1.0000 beats" in candidate.status_reason
    assert f"the 30 of 40 evaluation tickets that the champion v{champion.pk} never learnt from" in (
        candidate.status_reason
    )


def test_a_candidate_is_kept_when_too_few_evaluation_tickets_are_new_to_the_champion(db, model_dir):
    seen = list(range(1, 1 + 30))
    champion = registry.promote(_version(0.70, learnt_from=seen), reason="seed")
    candidate = _version(0.95)
    eval_ids = [*seen, *range(500, 500 + MIN_COMPARED - 1)]
    score, calls = _champion_scores(1.0)

    decide_promotion(
        candidate,
        eval_texts=["t"] * len(eval_ids),
        eval_labels=["A"] * len(eval_ids),
        eval_ids=eval_ids,
        candidate_proba=np.tile([1.0, 0.0], (len(eval_ids), 1)),
        labels=["A", "B"],
        score=score,
    )

    candidate.refresh_from_db()
    champion.refresh_from_db()
    assert calls == []  # never scored on tickets it learnt from
    assert (candidate.status, champion.status) == ("candidate", "champion")
    assert f"learnt from 30 of the {len(eval_ids)} evaluation tickets" in candidate.status_reason
    assert f"only {MIN_COMPARED - 1} are new to it" in candidate.status_reason
