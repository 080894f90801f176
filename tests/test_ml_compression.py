"""The compression pipeline: distil -> ONNX -> int8 -> signed bundle -> EdgeBundle, and delta updates."""

import base64
import json
import zipfile
from collections import Counter
from io import StringIO

import numpy as np
import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from edge_agent import abstention
from edge_agent import bundle as edge_bundle
from edge_agent.delta import DeltaError, apply_delta
from ml.compression.distillation import DistillationConfig
from ml.compression.pipeline import BUNDLE_FILES, CompressionConfig, compress
from ml.core import signing
from ml.core.bundles import bundle_files, verify_bundle
from ml.core.serialization import SERIALIZATION_VERSION
from ml.models import EdgeBundle
from ml.serving import track_record
from ml.serving.inference import Predictor
from ml.tasks import distil_model_task
from tests.factories import ModelVersionFactory, ml_ticket_documents
from tests.trained_models import TEACHER_OPEN_TICKETS

pytestmark = pytest.mark.slow

STUDENT = DistillationConfig(layers=2, hidden_size=32, epochs=2, batch_size=8, learning_rate=3e-3)
# The tests below that are not about the fallback serve the first student whatever it keeps.
ONE_SIZE = {"fallback": ()}


def test_the_distil_task_registers_a_signed_bundle_with_lineage_metrics_and_checksums(teacher, tmp_path):
    config = CompressionConfig(distillation=STUDENT, **ONE_SIZE).to_json()

    result = distil_model_task.apply(args=[teacher.pk, "cell-site", config]).get()

    assert result["status"] == "succeeded", result
    assert result["architecture"] == "L2H32" and [t["architecture"] for t in result["students_tried"]] == [
        "L2H32"
    ]
    bundle = EdgeBundle.objects.get()
    assert (bundle.version, bundle.kind, bundle.intended_tier) == (result["bundle"], "full", "cell-site")
    assert bundle.model_version == teacher and bundle.version.startswith(f"t{teacher.pk}-L2H32-")
    manifest = verify_bundle(bundle.file, signing.public_key_pem())
    assert manifest["model_version"] == bundle.version and manifest["parent"] is None
    assert manifest["teacher"] == teacher.pk and manifest["intended_tier"] == "cell-site"
    assert manifest["serialization_version"] == SERIALIZATION_VERSION and manifest["created_at"]
    assert set(manifest["files"]) == {
        *BUNDLE_FILES,
        "calibration.json",
        "track_record.json",
        "vocabulary.json",
    }
    metrics = manifest["metrics"]
    # Measured on the teacher's own held-out evaluation set (8 tickets), beside the teacher's numbers.
    assert metrics["n"] == 8 and 0.0 <= metrics["macro_f1"] <= 1.0 and "accuracy" in metrics["teacher"]
    assert (
        metrics["distillation"]["unlabelled"] == TEACHER_OPEN_TICKETS
        and metrics["export_max_abs_error"] < 1e-5
    )
    assert 0 < metrics["distillation"]["augmented"] <= metrics["distillation"]["labelled"]
    assert bundle.metrics["bundle_bytes"] == bundle.bytes
    # The student's calibration: fitted on half the held-out tickets, measured on the other half.
    calibration = metrics["calibration"]
    assert calibration["fitted_on"] == 4 and calibration["before"]["n"] == calibration["after"]["n"] == 4
    assert 0 < calibration["cap"] < 1

    files = bundle_files(bundle.file)
    assert json.loads(files["labels.json"]) == teacher.label_set
    # The student's own track record on those 8 tickets, in central's words, over what the teacher
    # learnt from (its neighbour index).
    records = json.loads(files["track_record.json"])
    learnt = Counter(Predictor.for_version(teacher).index_labels)
    assert set(records) == set(teacher.label_set)
    assert (
        sum(r["held_out"] for r in records.values()) == sum(r["recommended"] for r in records.values()) == 8
    )
    for label, record in records.items():
        assert record["learnt_from"] == learnt[label] and record["right"] <= record["recommended"]
        assert record["statement"] == track_record.statement(record)
    # What an agent does with the bundle: tokenizers + onnxruntime, then the numpy head.
    import onnxruntime as ort
    from tokenizers import Tokenizer

    folder = tmp_path / "agent"
    zipfile.ZipFile(bundle.file).extractall(folder)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    ids = np.array([tokenizer.encode("[codes] MAINS_FAIL [text] site on batteries").ids], dtype=np.int64)
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    logits, features = session.run(
        ["logits", "features"], {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    )
    head = np.load(folder / "head.npz")
    assert logits.shape == (1, 4) and features.shape == (1, 32)
    assert np.abs(features @ head["W"] + head["b"] - logits).max() < 1e-4
    # The int8 student scales its activations per run: a batch is run a ticket at a time, so a
    # ticket gets what predict_one, the agent's path, gives it, whatever it is scored beside.
    model = edge_bundle.load_model(bundle.file, signing.public_key_pem())
    words = ["mains", "fail", "on", "batteries", "rectifier", "alarm", "fan", "tray", "temperature"]
    texts = [" ".join(words[: 2 + i % 8] * (1 + i % 3)) for i in range(24)]
    batch_logits, batch_features = model.run(texts)
    alone = [model.run([text]) for text in texts]
    assert np.array_equal(batch_logits, np.concatenate([a[0] for a in alone]))
    assert np.array_equal(batch_features, np.concatenate([a[1] for a in alone]))
    assert np.allclose(model.predict_proba(texts), np.stack([model.predict_one(t) for t in texts]), atol=1e-6)
    assert model.predict_proba([]).shape == (0, 4)
    assert model.served_records == records


def test_a_bundle_carries_the_teachers_vocabulary_and_the_threshold_of_its_build(teacher, settings):
    settings.TICKETAI_CONFIDENCE_MEDIUM = 0.6

    bundle, _ = compress(teacher=teacher, config=CompressionConfig(distillation=STUDENT, **ONE_SIZE))

    assert verify_bundle(bundle.file, signing.public_key_pem())["confidence_medium"] == 0.6
    # The teacher's distinctive tokens, as central computes them: the agent calls the tickets
    # central calls unfamiliar unfamiliar, and no others.
    vocabulary = json.loads(bundle_files(bundle.file)["vocabulary.json"])["distinctive_words"]
    predictor = Predictor.for_version(teacher)
    assert vocabulary == sorted(predictor.distinctive_words) and vocabulary
    model = edge_bundle.load_model(bundle.file, signing.public_key_pem())
    assert model.vocabulary == predictor.distinctive_words and model.confidence_medium == 0.6
    typical, gibberish = predictor.inputs([ml_ticket_documents(per_class=1)[0], {"title": "xqzv blorp"}])
    for text, unfamiliar in ((typical, False), (gibberish, True)):
        assert abstention.unfamiliar(text, model.vocabulary) is unfamiliar
        assert predictor.unfamiliar([text]) == [unfamiliar]


def test_a_second_compression_warm_starts_from_the_first_and_ships_a_smaller_delta(teacher):
    config = CompressionConfig(distillation=STUDENT, intended_tier="cell-site", **ONE_SIZE)
    first, no_delta = compress(teacher=teacher, config=config)
    second, delta = compress(teacher=teacher, config=config)

    assert no_delta is None
    manifest = verify_bundle(second.file, signing.public_key_pem())
    assert manifest["parent"] == first.version
    delta_manifest = verify_bundle(delta.file, signing.public_key_pem())
    assert (delta.kind, delta.base_version, delta_manifest["target_version"]) == (
        "delta",
        first.version,
        second.version,
    )
    assert delta.bytes < second.bytes
    second.refresh_from_db()
    assert second.metrics["delta"]["bytes_saved"] == second.bytes - delta.bytes > 0
    # Unchanged files travel as references; the model as a patch.
    assert delta_manifest["delta"]["tokenizer.json"]["method"] == "same"
    assert delta_manifest["delta"]["model.onnx"]["method"] == "sub8-lzma"

    rebuilt = apply_delta(bundle_files(first.file), bundle_files(delta.file), delta_manifest["delta"])
    assert rebuilt == bundle_files(second.file)
    with pytest.raises(DeltaError, match="another base"):
        apply_delta(bundle_files(second.file), bundle_files(delta.file), delta_manifest["delta"])


def test_a_student_under_the_accuracy_floor_is_distilled_again_at_the_fallback_size(teacher):
    # No student keeps 200% of the teacher: both sizes are tried and the more accurate one served.
    config = CompressionConfig(distillation=STUDENT, fallback=((1, 16), (2, 32)), accuracy_floor=2.0)

    bundle, _ = compress(teacher=teacher, config=config)

    tried = bundle.metrics["students_tried"]
    assert [t["architecture"] for t in tried] == ["L2H32", "L1H16"]  # the first size is not tried twice
    assert not any(t["keeps_floor"] for t in tried) and bundle.metrics["accuracy_floor"] == 2.0
    best = max(tried, key=lambda t: t["accuracy"])
    assert (
        bundle.metrics["architecture"] == best["architecture"]
        and bundle.metrics["accuracy"] == best["accuracy"]
    )
    assert bundle.version.startswith(f"t{teacher.pk}-{best['architecture']}-")
    reference = bundle.metrics["teacher_transformer"]["accuracy"]
    assert reference == teacher.metrics["members"]["transformer"]["accuracy"]
    assert tried[0]["share_of_teacher"] == round(tried[0]["accuracy"] / reference, 4)
    # One bundle registered, one student kept for warm starts, no work folder left behind.
    assert EdgeBundle.objects.count() == 1
    bundle_dir = django_settings.TICKETAI_EDGE_BUNDLE_DIR
    assert [p.name for p in (bundle_dir / "students").iterdir()] == [bundle.version]
    assert not list(bundle_dir.glob(".work-*"))


def test_a_student_that_keeps_the_floor_is_served_without_trying_the_fallback(teacher):
    config = CompressionConfig(distillation=STUDENT, fallback=((1, 16),), accuracy_floor=0.0)

    bundle, _ = compress(teacher=teacher, config=config)

    assert [t["architecture"] for t in bundle.metrics["students_tried"]] == ["L2H32"]
    assert bundle.metrics["students_tried"][0]["keeps_floor"] is True
    assert bundle.version.startswith(f"t{teacher.pk}-L2H32-")


def test_the_fallback_round_trips_through_the_task_payload():
    config = CompressionConfig(distillation=STUDENT, fallback=((2, 64),), accuracy_floor=0.95)
    again = CompressionConfig.from_json(config.to_json())
    assert (again.fallback, again.accuracy_floor) == (((2, 64),), 0.95)
    assert CompressionConfig.from_json({}).fallback == ((2, 192),)
    ladder = again.ladder()
    assert [(d.layers, d.hidden_size) for d in ladder] == [(2, 32), (2, 64)]
    assert ladder[1].epochs == STUDENT.epochs and ladder[1].intermediate_size == 0


def test_distil_without_sync_queues_the_task_on_the_training_queue(db):
    version = ModelVersionFactory(
        base_model="x",
        serialization_version=SERIALIZATION_VERSION,
        label_set=["A", "B"],
    )
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    broker.delete("training")
    out = StringIO()

    call_command(
        "distil",
        "--teacher",
        str(version.pk),
        "--tier",
        "cell-site",
        "--epochs",
        "2",
        "--augment",
        "3",
        stdout=out,
    )

    [message] = broker.lrange("training", 0, -1)
    headers = json.loads(message)["headers"]
    assert (headers["task"], headers["id"]) == ("ml.tasks.distil_model_task", out.getvalue().strip())
    assert headers["argsrepr"].startswith(f"({version.pk}, 'cell-site', {{'distillation': {{'layers': 1")
    assert "'epochs': 2," in headers["argsrepr"] and "'augment': 3," in headers["argsrepr"]
    config = _task_config(message)
    assert (config["distillation"]["layers"], config["distillation"]["hidden_size"]) == (1, 192)
    assert config["fallback"] == [[2, 192]]

    broker.delete("training")
    call_command("distil", "--teacher", str(version.pk), "--no-fallback", stdout=StringIO())
    [message] = broker.lrange("training", 0, -1)
    assert _task_config(message)["fallback"] == []


def _task_config(message: bytes) -> dict:
    """The CompressionConfig a queued distil_model_task message carries (its third argument)."""
    envelope = json.loads(message)
    args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
    return args[2]


def test_distil_without_a_champion_or_with_an_unknown_teacher_says_so(db):
    with pytest.raises(CommandError, match="no champion"):
        call_command("distil", stdout=StringIO())
    with pytest.raises(CommandError, match="no model version 999"):
        call_command("distil", "--teacher", "999", stdout=StringIO())
    with pytest.raises(CommandError, match="--augment must be 0 or more"):
        call_command("distil", "--teacher", "999", "--augment", "-1", stdout=StringIO())
