"""Artefact locations are portable: rows keep paths relative to their root setting, so a restored
backup or a moved data folder still serves its champion, verifies its files and offers its bundles."""

import importlib
import json
import shutil

import pytest
from django.apps import apps
from django.urls import reverse

from ml.core import bundles, registry, signing
from ml.models import EdgeBundle, ModelVersion
from ml.serving import inference
from tests.edge_fixtures import build_test_bundle, signing_key  # noqa: F401
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db
MIGRATION = importlib.import_module("ml.migrations.0018_artefact_paths_relative")
COPIED = ("label_set_key", "base_model", "data_fingerprint", "row_counts", "split", "label_set")
COPIED += ("hyperparameters", "metrics", "baselines")


def _registered_again(trained: ModelVersion) -> ModelVersion:
    """The trained model's files registered through the write path training uses."""
    staging = registry.staging_dir()
    shutil.copytree(trained.artifact_dir, staging, dirs_exist_ok=True)
    manifest = json.loads((staging / registry.MANIFEST).read_text())
    (staging / registry.MANIFEST).unlink()
    return registry.register(staging, manifest=manifest, **{f: getattr(trained, f) for f in COPIED})


@pytest.mark.slow
def test_a_model_folder_moved_to_another_root_is_promoted_and_served(
    trained_champion, settings, tmp_path, client, admin_user
):
    settings.TICKETAI_MODEL_DIR = tmp_path / "old-host" / "models"
    version = _registered_again(trained_champion)
    assert version.artifact_path == version.artifact_dir.name  # relative: nothing of the host in the row
    shutil.copytree(tmp_path / "old-host", tmp_path / "new-host")
    shutil.rmtree(tmp_path / "old-host")
    settings.TICKETAI_MODEL_DIR = tmp_path / "new-host" / "models"
    inference.reset_cache()

    assert registry.verify(version).path == tmp_path / "new-host" / "models" / version.artifact_path
    client.force_login(admin_user)
    assert client.get(reverse("model-detail", args=[version.pk])).status_code == 200
    response = client.post(reverse("model-promote", args=[version.pk]), {"reason": "restored"})
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.CHAMPION, version.status_reason
    assert inference.champion_status() == {"state": "ok", "versions": {"resolution": version.pk}}


@pytest.mark.usefixtures("signing_key")
def test_an_edge_bundle_moved_with_its_folder_still_verifies(settings, tmp_path):
    settings.TICKETAI_EDGE_BUNDLE_DIR = tmp_path / "old" / "bundles"
    settings.TICKETAI_EDGE_BUNDLE_DIR.mkdir(parents=True)
    built = build_test_bundle(settings.TICKETAI_EDGE_BUNDLE_DIR / "b1.zip", version="b1")
    bundle = bundles.bundle_register(path=built)
    assert bundle.path == "b1.zip"
    shutil.move(tmp_path / "old", tmp_path / "new")
    settings.TICKETAI_EDGE_BUNDLE_DIR = tmp_path / "new" / "bundles"

    bundle = EdgeBundle.objects.get(pk=bundle.pk)
    assert bundle.file == tmp_path / "new" / "bundles" / "b1.zip"
    assert bundles.verify_bundle(bundle.file, signing.public_key_pem())["version"] == "b1"


@pytest.mark.usefixtures("signing_key")
def test_a_bundle_registered_from_outside_its_root_keeps_its_absolute_path(settings, tmp_path):
    settings.TICKETAI_EDGE_BUNDLE_DIR = tmp_path / "bundles"
    built = build_test_bundle(tmp_path / "elsewhere.zip", version="b9")
    bundle = bundles.bundle_register(path=built)
    assert bundle.path == str(built.resolve()) and bundle.file == built.resolve()


def test_the_migration_makes_absolute_paths_relative_and_back(settings, tmp_path):
    settings.TICKETAI_MODEL_DIR = root = (tmp_path / "models").resolve()
    (root / "20260101-000000-bbbbbbbb").mkdir(parents=True)
    under_root = ModelVersionFactory(artifact_path=str(root / "20260101-000000-aaaaaaaa"))
    other_host = ModelVersionFactory(artifact_path="/srv/old/models/20260101-000000-bbbbbbbb")
    lost = ModelVersionFactory(artifact_path="/srv/old/models/20260101-000000-cccccccc")
    relative = ModelVersionFactory(artifact_path="20260101-000000-dddddddd")

    MIGRATION.paths_relative(apps, None)
    paths = dict(ModelVersion.objects.values_list("pk", "artifact_path"))
    assert paths[under_root.pk] == "20260101-000000-aaaaaaaa"
    assert paths[other_host.pk] == "20260101-000000-bbbbbbbb"  # its folder was restored under this root
    assert paths[lost.pk] == "/srv/old/models/20260101-000000-cccccccc"  # nothing to point at: untouched
    assert paths[relative.pk] == "20260101-000000-dddddddd"

    MIGRATION.paths_absolute(apps, None)
    paths = dict(ModelVersion.objects.values_list("pk", "artifact_path"))
    assert paths[under_root.pk] == str(root / "20260101-000000-aaaaaaaa")
    assert paths[other_host.pk] == str(root / "20260101-000000-bbbbbbbb")
    assert paths[lost.pk] == "/srv/old/models/20260101-000000-cccccccc"
    assert paths[relative.pk] == str(root / "20260101-000000-dddddddd")
