"""The champion serves recommendations: loaded verified and cached, reloaded when the champion
changes, a broken champion falls back to the previous one, and the web path never loads torch."""

import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from django.conf import settings
from django.db import connection

from ml.core import registry
from ml.models import ModelVersion
from ml.serving import inference
from tests.factories import ML_CLASSES

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def _document(resolution: str = "REPLACE_SFP", **extra) -> dict:
    code, kind, text = ML_CLASSES[resolution]
    return {
        "external_id": "NEW-1",
        "title": text,
        "site": "SITE-ML",
        "element": "SN-ML-1",
        "error_codes": [code],
        "events": [{"at": "2026-03-01T10:00:00Z", "kind": kind, "code": code}],
        **extra,
    }


def _copy_as_new_version(version: ModelVersion) -> ModelVersion:
    """The same files registered again (hard links: no copy of the weights)."""
    staging = registry.staging_dir()
    shutil.copytree(
        version.artifact_dir,
        staging,
        dirs_exist_ok=True,
        copy_function=os.link,
        ignore=shutil.ignore_patterns(registry.MANIFEST),
    )
    manifest = json.loads((version.artifact_dir / registry.MANIFEST).read_text())
    manifest.pop("files")
    return registry.register(
        staging,
        manifest=manifest,
        label_set_key=version.label_set_key,
        parent=version,
        base_model=version.base_model,
        data_fingerprint=version.data_fingerprint,
        label_set=version.label_set,
        hyperparameters=version.hyperparameters,
        metrics=version.metrics,
    )


@pytest.fixture
def restore_champion(trained_champion):
    yield trained_champion
    inference.reset_cache()
    ModelVersion.objects.exclude(pk=trained_champion.pk).delete()
    ModelVersion.objects.filter(pk=trained_champion.pk).update(status=ModelVersion.Status.CHAMPION)


def test_the_champion_is_loaded_once_and_scores_documents(trained_champion):
    inference.reset_cache()
    predictor = inference.load_champion()

    assert predictor is not None and predictor.version_id == trained_champion.pk
    assert predictor.labels == trained_champion.label_set
    assert inference.load_champion() is predictor
    proba = predictor.predict_proba([_document(r) for r in ML_CLASSES])
    assert proba.shape == (4, 4)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert predictor.predict_proba([]).shape == (0, 4)
    assert inference.champion_status() == {
        "state": "ok",
        "versions": {trained_champion.label_set_key: trained_champion.pk},
    }


def test_a_ticket_scores_the_same_alone_and_in_any_batch(trained_champion):
    # The served encoder is int8 with activations scaled per run: batched, a ticket's answer moved
    # with its neighbours (up to 1.7 in a logit on a real export). Each text now runs alone.
    predictor = inference.load_champion()
    assert predictor.config["encoder"] == "int8"
    words = ["optical", "power", "low", "alarm", "link", "down", "fan", "failure", "restart"]
    texts = [" ".join(words[: 1 + i % len(words)] * (1 + i // 3)) for i in range(40)]
    logits, features = predictor.encoder.run(texts)
    alone = [predictor.encoder.run([text]) for text in texts]
    assert np.array_equal(logits, np.vstack([a[0] for a in alone]))
    assert np.array_equal(features, np.vstack([a[1] for a in alone]))
    reversed_logits, _ = predictor.encoder.run(texts[::-1])
    assert np.array_equal(reversed_logits[::-1], logits)
    documents = [_document(r) for r in ML_CLASSES]
    together = predictor.predict_proba(documents)
    assert np.array_equal(together, np.vstack([predictor.predict_proba([d]) for d in documents]))


def test_without_a_champion_there_is_nothing_to_serve(trained_champion, restore_champion):
    ModelVersion.objects.filter(pk=trained_champion.pk).update(status=ModelVersion.Status.CANDIDATE)

    assert inference.load_champion() is None
    assert inference.champion_status()["state"] == "none"
    payload = inference.recommend(_document())
    assert payload["model_version"] is None and payload["recommendations"] == []


def test_a_new_champion_is_picked_up_without_a_restart(trained_champion, restore_champion):
    assert inference.load_champion().version_id == trained_champion.pk
    newer = registry.promote(_copy_as_new_version(trained_champion), reason="test")

    assert inference.load_champion().version_id == newer.pk


def test_a_champion_with_broken_files_falls_back_to_the_previous_one(
    trained_champion, restore_champion, caplog
):
    newer = registry.promote(_copy_as_new_version(trained_champion), reason="test")
    broken = newer.artifact_dir / "serving" / "lexical.npz"
    broken.unlink()  # its own link only: the earlier champion's file stays intact
    broken.write_bytes(b"not a model")

    with caplog.at_level(logging.ERROR, logger="ml.serving.inference"):
        predictor = inference.load_champion()

    assert predictor.version_id == trained_champion.pk
    assert f"champion v{newer.pk} cannot serve" in caplog.text and "lexical.npz is corrupted" in caplog.text
    status = inference.champion_status()
    assert status["state"] == "fallback" and status["versions"] == {newer.label_set_key: trained_champion.pk}


def test_a_recommendation_has_ranked_resolutions_with_steps_evidence_and_similar_tickets(trained_champion):
    payload = inference.recommend(_document("ROLLBACK_SW"), top_k=3)

    assert payload["model_version"] == trained_champion.pk
    ranked = payload["recommendations"]
    assert len(ranked) == 3
    assert [r["confidence"] for r in ranked] == sorted((r["confidence"] for r in ranked), reverse=True)
    assert ranked[0]["resolution"] == "ROLLBACK_SW"
    assert ranked[0]["title"] == "Fix ROLLBACK_SW" and ranked[0]["steps"] == ["Check the unit", "Swap it"]
    assert set(payload["evidence"]) == {"unit", "codes", "events", "words", "patterns"}
    similar = payload["similar"]
    assert len(similar) == 5
    assert [s["similarity"] for s in similar] == sorted((s["similarity"] for s in similar), reverse=True)
    assert similar[0]["resolution"] == "ROLLBACK_SW"
    assert {"ticket_id", "external_id", "title", "resolution", "similarity"} == set(similar[0])
    json.dumps(payload)  # plain JSON all the way down


def test_below_medium_confidence_it_abstains_and_says_why_in_plain_words(trained_champion, settings):
    predictor = inference.load_champion()
    confident = inference.recommend(_document("FIX_MAINS"), predictor=predictor, with_evidence=False)
    top = confident["recommendations"][0]

    settings.TICKETAI_CONFIDENCE_HIGH = 2.0  # out of reach: the band below is Medium
    settings.TICKETAI_CONFIDENCE_MEDIUM = top["confidence"] - 0.01
    served = inference.recommend(_document("FIX_MAINS"), predictor=predictor, with_evidence=False)
    settings.TICKETAI_CONFIDENCE_MEDIUM = top["confidence"] + 0.01
    abstained = inference.recommend(_document("FIX_MAINS"), predictor=predictor, with_evidence=False)

    assert (served["abstained"], served["abstain_reason"]) == (False, None)
    assert served["recommendations"][0]["band"] == "medium"
    assert abstained["abstained"]
    assert abstained["abstain_reason"].startswith(
        f"The model is unsure: its best guess, {top['resolution']}, is only"
    )
    assert abstained["recommendations"][0]["band"] == "low"
    assert "at least" in abstained["abstain_rule"]
    # The batch path used by predict and the edge comparison applies the same rule.
    [batch] = inference.predict_batch([_document("FIX_MAINS")], predictor=predictor)
    assert batch["abstained"] is True


WEB_PROCESS = """
import sys, django
django.setup()
from ml.serving import inference
from ml.api import recommendations
payload = inference.recommend({"external_id": "X", "error_codes": ["SW_CRASH"], "title": "restarting"})
print(payload["model_version"], payload["recommendations"][0]["resolution"])
print(",".join(m for m in ("torch", "transformers", "sklearn") if m in sys.modules) or "none")
"""


def test_serving_loads_neither_torch_nor_scikit_learn(trained_champion):
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{host}/{db['NAME']}"}
    result = subprocess.run(
        [sys.executable, "-c", WEB_PROCESS],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    version, _ = result.stdout.splitlines()[-2].split()
    assert int(version) == trained_champion.pk
    assert result.stdout.splitlines()[-1] == "none"


def _served_as(predictor, served: str, weights: dict | None = None):
    config = {**predictor.config, "served": served}
    if weights is not None:
        config["weights"] = weights
    return config


def test_probabilities_skip_the_encoder_only_when_the_served_predictor_does_not_use_it(
    trained_champion, monkeypatch
):
    predictor = inference.load_champion()
    documents = [_document(), _document("ROLLBACK_SW")]
    original = predictor.config
    calls = []
    run = predictor.encoder.run
    monkeypatch.setattr(predictor.encoder, "run", lambda texts: calls.append(len(texts)) or run(texts))
    try:
        for served, weights, uses_encoder in (
            ("lexical", None, False),
            ("ensemble", {"transformer": 0.0, "lexical": 1.0, "knn": 0.0}, False),
            ("ensemble", {"transformer": 0.2, "lexical": 0.8, "knn": 0.0}, True),
            ("knn", None, True),
            ("transformer", None, True),
        ):
            predictor.config = _served_as(predictor, served, weights)
            calls.clear()
            fast = predictor.predict_proba(documents)
            assert bool(calls) == uses_encoder, (served, weights)
            # The same numbers as the full path, which always runs the encoder.
            assert np.allclose(fast, predictor.score(documents).proba), (served, weights)
    finally:
        predictor.config = original
