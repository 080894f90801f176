"""Edge bundles are signed zips: a verified bundle loads, anything altered or foreign is refused.

Both verifiers are exercised on the same bundles: ml.core.bundles (central) and edge_agent.bundle (the
agent's own copy, without Django).
"""

import json
import zipfile

import numpy as np
import pytest

from edge_agent import bundle as edge_bundle
from ml.core import bundles, signing
from ml.core.serialization import SERIALIZATION_VERSION
from tests.edge_fixtures import (  # noqa: F401
    HIDDEN,
    LABELS,
    build_test_bundle,
    new_private_key_pem,
    signing_key,
)

pytestmark = pytest.mark.usefixtures("signing_key")


def _rewrite(src, dst, *, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None):
    with zipfile.ZipFile(src) as original, zipfile.ZipFile(dst, "w") as copy:
        for item in original.infolist():
            data = original.read(item.filename)
            copy.writestr(item.filename, (replace or {}).get(item.filename, data))
        for name, data in (add or {}).items():
            copy.writestr(name, data)
    return dst


def _both_refuse(path, public_key, match):
    with pytest.raises(bundles.BundleError, match=match):
        bundles.verify_bundle(path, public_key)
    with pytest.raises(edge_bundle.BundleError, match=match):
        edge_bundle.verify_bundle(path, public_key)


def test_a_built_bundle_verifies_and_its_manifest_lists_every_file(tmp_path):
    path = build_test_bundle(tmp_path / "b1.zip", version="b1")
    manifest = bundles.verify_bundle(path, signing.public_key_pem())
    assert manifest["format"] == "ticketai-edge-bundle" and manifest["format_version"] == 1
    assert set(manifest["files"]) == {
        "model.onnx",
        "tokenizer.json",
        "labels.json",
        "code_map.json",
        "head.npz",
    }
    assert manifest["serialization_version"] == SERIALIZATION_VERSION and manifest["version"] == "b1"
    edge_manifest, contents = edge_bundle.verify_bundle(path, signing.public_key_pem())
    assert edge_manifest == manifest and json.loads(contents["labels.json"]) == LABELS


def test_the_agent_loads_a_verified_bundle_and_its_head_reproduces_the_graph_logits(tmp_path):
    path = build_test_bundle(tmp_path / "b1.zip", version="b1")
    model = edge_bundle.load_model(path, signing.public_key_pem())
    logits, features = model.run(["[codes] SFP_RX_LOW [text] link down", "[text] mains failure"])
    assert logits.shape == (2, len(LABELS)) and features.shape[0] == 2
    assert abs(model.shipped_head.logits(features) - logits).max() < 1e-4


def test_a_file_changed_after_signing_is_refused(tmp_path):
    path = build_test_bundle(tmp_path / "b1.zip", version="b1")
    tampered = _rewrite(path, tmp_path / "t.zip", replace={"labels.json": b'["REPLACE_EVERYTHING"]'})
    _both_refuse(tampered, signing.public_key_pem(), "checksum mismatch for labels.json")


def test_a_manifest_changed_after_signing_is_refused(tmp_path):
    path = build_test_bundle(tmp_path / "b1.zip", version="b1")
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    manifest["version"] = "b2"
    tampered = _rewrite(path, tmp_path / "t.zip", replace={"manifest.json": json.dumps(manifest).encode()})
    _both_refuse(tampered, signing.public_key_pem(), "bad signature")


def test_a_bundle_signed_by_another_key_is_refused(tmp_path, settings):
    pinned = signing.public_key_pem()
    settings.TICKETAI_BUNDLE_SIGNING_KEY = new_private_key_pem()
    signing.private_key.cache_clear()
    foreign = build_test_bundle(tmp_path / "foreign.zip", version="b1")
    _both_refuse(foreign, pinned, "bad signature")


def test_an_extra_file_not_covered_by_the_manifest_is_refused(tmp_path):
    path = build_test_bundle(tmp_path / "b1.zip", version="b1")
    tampered = _rewrite(path, tmp_path / "t.zip", add={"evil.py": b"import os"})
    _both_refuse(tampered, signing.public_key_pem(), "not covered by the manifest")


def test_the_agent_refuses_a_bundle_trained_on_the_previous_serialisation(tmp_path, monkeypatch):
    # Version 4 leaves correlated alarms marked unrelated out: a v3 model was trained on them.
    assert SERIALIZATION_VERSION == 4
    monkeypatch.setattr(bundles, "SERIALIZATION_VERSION", 3)
    old = build_test_bundle(tmp_path / "old.zip", version="old")
    with pytest.raises(edge_bundle.BundleError, match="bundle wants serialisation v3, this agent has v4"):
        edge_bundle.verify_bundle(old, signing.public_key_pem())


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    _both_refuse(junk, signing.public_key_pem(), "not a bundle")


def test_the_private_key_is_generated_once_per_data_directory(settings, tmp_path):
    settings.TICKETAI_BUNDLE_SIGNING_KEY = ""
    settings.DATA_DIR = tmp_path
    signing.private_key.cache_clear()
    try:
        first = signing.public_key_pem()
        signing.private_key.cache_clear()
        assert signing.public_key_pem() == first
        key_file = tmp_path / "keys" / signing.KEY_FILE_NAME
        assert key_file.stat().st_mode & 0o077 == 0
        assert "PRIVATE KEY" not in first
    finally:
        signing.private_key.cache_clear()


@pytest.mark.parametrize("labels", [LABELS[:3], [*LABELS, "REBOOT_RRU"]], ids=["fewer", "more"])
def test_a_signed_bundle_whose_labels_are_not_what_its_model_answers_is_refused(tmp_path, labels):
    # labels.json of another label set beside a model of four classes: loaded, it answered
    # with the wrong codes (or failed on every ticket).
    rng = np.random.default_rng(1)
    head = {"W": rng.normal(size=(HIDDEN, len(LABELS))), "b": np.zeros(len(LABELS))}
    path = build_test_bundle(tmp_path / "b1.zip", version="b1", labels=labels, head=head)
    with pytest.raises(edge_bundle.BundleError, match=f"labels.json lists {len(labels)} labels"):
        edge_bundle.load_model(path, signing.public_key_pem())
