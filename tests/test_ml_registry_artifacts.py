"""Artifacts are published whole and verified on load: corruption and format changes are caught."""

import json

import pytest

from ml.core import registry
from ml.models import ModelVersion


@pytest.fixture
def model_dir(settings, tmp_path):
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"
    return settings.TICKETAI_MODEL_DIR


def _register() -> ModelVersion:
    staging = registry.staging_dir()
    (staging / "model").mkdir()
    (staging / "model" / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (staging / "metrics.json").write_text('{"macro_f1": 0.5}')
    return registry.register(
        staging,
        manifest={"label_map": {"0": "A", "1": "B"}},
        base_model="tiny",
        data_fingerprint="f" * 64,
        label_set=["A", "B"],
        metrics={"macro_f1": 0.5},
    )


def test_a_registered_version_is_published_whole_and_verifies(db, model_dir):
    version = _register()
    path = version.artifact_dir
    assert path.parent == model_dir and not path.name.startswith(".")
    assert not list(model_dir.glob(".staging-*"))
    assert set(version.artifact_sha256) == {"model/weights.bin", "metrics.json"}
    assert version.format_version == registry.FORMAT_VERSION
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["files"] == version.artifact_sha256
    assert registry.verify(version).manifest["label_map"] == {"0": "A", "1": "B"}


def test_a_corrupted_file_is_detected_on_load(db, model_dir):
    version = _register()
    weights = version.artifact_dir / "model" / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(registry.ArtifactError, match=r"model/weights.bin is corrupted \(sha256 mismatch\)"):
        registry.verify(version)


def test_a_missing_or_added_file_is_detected(db, model_dir):
    version = _register()
    (version.artifact_dir / "metrics.json").unlink()
    with pytest.raises(registry.ArtifactError, match=r"missing files metrics\.json"):
        registry.verify(version)
    other = _register()
    (other.artifact_dir / "model" / "extra.bin").write_bytes(b"x")
    with pytest.raises(registry.ArtifactError, match=r"unexpected files model/extra\.bin"):
        registry.verify(other)


def test_a_manifest_edited_to_match_tampered_files_disagrees_with_the_registry(db, model_dir):
    version = _register()
    path = version.artifact_dir
    (path / "metrics.json").write_text('{"macro_f1": 0.99}')
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["metrics.json"] = registry.sha256_file(path / "metrics.json")
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(registry.ArtifactError, match="differ from the registry"):
        registry.verify(version)


def test_another_format_version_is_refused(db, model_dir):
    version = _register()
    manifest_path = version.artifact_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = registry.FORMAT_VERSION + 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(registry.ArtifactError, match="format version 2, this code reads 1; retrain it"):
        registry.verify(version)


def test_a_failed_database_write_leaves_no_published_directory(db, model_dir):
    staging = registry.staging_dir()
    (staging / "weights.bin").write_bytes(b"w")
    with pytest.raises(TypeError):
        registry.register(staging, manifest={}, no_such_field=1)
    assert list(model_dir.iterdir()) == []
    assert ModelVersion.objects.count() == 0
