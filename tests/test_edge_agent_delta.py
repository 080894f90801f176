"""Delta updates end to end: central offers a delta from the bundle the agent runs, the agent
rebuilds the full bundle from its installed one, verifies it against the signature central made
for the full bundle, and swaps it in; any failure falls back to the full download while the old
model keeps serving.

Real processes and real code: central is gunicorn on 127.0.0.1 over the test PostgreSQL, the
agent is edge_agent's Agent talking HTTP to it.
"""

import json
import zipfile

import pytest

from edge_agent import bundle as edge_bundle
from edge_agent.agent import Agent
from edge_agent.delta import TARGET_SIGNATURE, sha256_file
from ml.core import bundles
from ml.fleet import edge
from ml.models import EdgeBundle, EdgeReport
from tests import edge_fixtures
from tests.edge_fixtures import (
    build_test_bundle,
    new_private_key_pem,
    signing_key,  # noqa: F401
    simulated_documents,
)

pytestmark = pytest.mark.slow
central, fleet = edge_fixtures.central, edge_fixtures.fleet  # gunicorn central, agents enrolled with it


def _register(tmp_path, version: str, **model) -> EdgeBundle:
    return bundles.bundle_register(
        path=build_test_bundle(tmp_path / "built" / f"{version}.zip", version=version, **model)
    )


def _agent_on_b1(fleet, tmp_path) -> tuple[Agent, EdgeBundle]:
    b1 = _register(tmp_path, "b1")
    agent = fleet()
    agent.heartbeat_once()
    assert agent.model_version == "b1"
    return agent, b1


def _installed(kind: str = "bundle_installed") -> list[dict]:
    return [r.metrics for r in EdgeReport.objects.filter(kind=kind).order_by("id")]


def _rewrite(src, dst, replace: dict[str, bytes]):
    with zipfile.ZipFile(src) as original, zipfile.ZipFile(dst, "w") as copy:
        for item in original.infolist():
            copy.writestr(item.filename, replace.get(item.filename, original.read(item.filename)))
    return dst


def _serve_instead(delta: EdgeBundle, path) -> None:
    """Central's file for ``delta`` is now ``path`` (its sha256 and size announced as they are)."""
    EdgeBundle.objects.filter(pk=delta.pk).update(
        path=str(path), sha256=sha256_file(path), bytes=path.stat().st_size
    )


def test_the_agent_updates_through_a_delta_and_serves_exactly_the_signed_full_bundle(fleet, tmp_path):
    agent, b1 = _agent_on_b1(fleet, tmp_path)
    full = _register(tmp_path, "b2", head_seed=5)  # the same encoder, a new head: a warm-started update
    delta = bundles.delta_register(base=b1, full=full)
    assert delta is not None and delta.base_version == "b1" and delta.bytes * 20 < full.bytes

    agent.heartbeat_once()

    assert agent.model_version == "b2"
    first, second = _installed()
    assert (first["via"], first["bytes_downloaded"]) == ("full", b1.bytes)
    assert (
        second["via"] == "delta" and second["previous"] == "b1" and second["delta_version"] == delta.version
    )
    assert second["bytes_downloaded"] == delta.bytes and second["full_bytes"] == full.bytes
    # What the agent rebuilt is the full bundle as central signed it: the same manifest bytes and
    # signature, and the same files, verified with the pinned key.
    installed = agent.data_dir / "bundles" / "b2.zip"
    with zipfile.ZipFile(installed) as mine, zipfile.ZipFile(full.file) as central:
        for name in ("manifest.json", "manifest.sig"):
            assert mine.read(name) == central.read(name)
    manifest, files = edge_bundle.verify_bundle(installed, agent.state["public_key_pem"])
    assert manifest["version"] == "b2" and files == bundles.bundle_files(full.file)
    document = simulated_documents(1)[0]
    served = agent.predict(document)
    direct = edge_bundle.load_model(full.file, agent.state["public_key_pem"])
    expected = direct.predict_proba(direct.texts([document], [agent.context_for(None)]))[0]
    assert served["model_version"] == "b2"
    assert served["recommendations"][0]["confidence"] == pytest.approx(float(expected.max()), abs=1e-5)

    agent.heartbeat_once()  # up to date: nothing is downloaded again
    assert len(_installed()) == 2 and not _installed("delta_refused")


def test_a_delta_to_a_bundle_that_carries_the_abstention_rule_brings_its_vocabulary(fleet, tmp_path):
    agent, b1 = _agent_on_b1(fleet, tmp_path)  # built before bundles carried the rule
    assert agent.predict({"external_id": "G-1", "title": "xqzv blorp"})["unfamiliar"] is False
    rule = {"vocabulary": ["sfp_rx_low", "fibre"], "manifest_extra": {"confidence_medium": 0.25}}
    full = _register(tmp_path, "b2", head_seed=5, **rule)
    delta = bundles.delta_register(base=b1, full=full)
    # The file the base lacks travels in the delta, patched against nothing.
    assert delta is not None
    plan = bundles.verify_bundle(delta.file, bundles.signing.public_key_pem())["delta"]
    assert plan["vocabulary.json"]["method"] != "same" and plan["tokenizer.json"]["method"] == "same"

    agent.heartbeat_once()

    assert agent.model_version == "b2" and _installed()[-1]["via"] == "delta"
    assert agent.model.vocabulary == {"sfp_rx_low", "fibre"} and agent.model.confidence_medium == 0.25
    answer = agent.predict({"external_id": "G-2", "title": "xqzv blorp"})
    assert answer["unfamiliar"] is True and answer["abstained"] is True


def test_a_delta_made_against_another_base_is_refused_and_the_full_bundle_installed(fleet, tmp_path):
    agent, _ = _agent_on_b1(fleet, tmp_path)
    # Central's "b1" was rebuilt after this agent installed it: same name, other bytes.
    other_b1 = build_test_bundle(tmp_path / "other" / "b1.zip", version="b1", seed=7)
    full = _register(tmp_path, "b2", seed=7, head_seed=5)
    path = bundles.build_delta(base_path=other_b1, full_path=full.file, out_path=tmp_path / "b2-from-b1.zip")
    bundles.bundle_register(path=path, metrics={"target_version": "b2"})

    agent.heartbeat_once()

    (refused,) = _installed("delta_refused")
    assert "made against another base" in refused["error"] and refused["serving"] == "b1"
    installed = _installed()[-1]
    assert agent.model_version == "b2" and installed["via"] == "full"
    assert installed["bytes_downloaded"] == path.stat().st_size + full.bytes
    assert installed["delta_refused"] == refused["error"]


def test_a_corrupted_delta_is_refused_and_the_full_bundle_installed(fleet, tmp_path):
    agent, b1 = _agent_on_b1(fleet, tmp_path)
    full = _register(tmp_path, "b2", head_seed=5)
    delta = bundles.delta_register(base=b1, full=full)
    with zipfile.ZipFile(delta.file) as archive:
        patch = bytearray(archive.read("model.onnx.patch"))
    patch[len(patch) // 2] ^= 0xFF
    # Flipped on central's disk, with the database announcing the flipped file's sha256.
    _serve_instead(delta, _rewrite(delta.file, tmp_path / "corrupt.zip", {"model.onnx.patch": bytes(patch)}))

    agent.heartbeat_once()

    (refused,) = _installed("delta_refused")
    assert "checksum mismatch for model.onnx.patch" in refused["error"] and refused["serving"] == "b1"
    assert agent.model_version == "b2" and _installed()[-1]["via"] == "full"
    assert not list((agent.data_dir / "bundles").glob("*delta*")) and not list(
        (agent.data_dir / "bundles").glob("*rebuilt*")
    )


def test_a_rebuilt_bundle_whose_full_signature_is_not_centrals_is_refused(fleet, tmp_path, settings):
    agent, b1 = _agent_on_b1(fleet, tmp_path)
    full = _register(tmp_path, "b2", head_seed=5)
    delta = bundles.delta_register(base=b1, full=full)
    # A delta that is itself signed by central, carrying a full-bundle signature by another key:
    # only the check of the rebuilt bundle can catch it.
    with zipfile.ZipFile(delta.file) as archive:
        delta_manifest = json.loads(archive.read("manifest.json"))
        files = {name: archive.read(name) for name in delta_manifest["files"]}
    pinned_key = settings.TICKETAI_BUNDLE_SIGNING_KEY
    settings.TICKETAI_BUNDLE_SIGNING_KEY = new_private_key_pem()
    bundles.signing.private_key.cache_clear()
    files[TARGET_SIGNATURE] = bundles.signing.sign(files["target.manifest.json"])
    settings.TICKETAI_BUNDLE_SIGNING_KEY = pinned_key
    bundles.signing.private_key.cache_clear()
    work = tmp_path / "forged"
    work.mkdir()
    for name, content in files.items():
        (work / name).write_bytes(content)
    manifest = {k: v for k, v in delta_manifest.items() if k not in ("files", "format", "format_version")}
    forged = bundles.build_bundle(
        out_path=tmp_path / "forged.zip", files={n: work / n for n in files}, manifest=manifest
    )
    bundles.verify_bundle(forged, bundles.signing.public_key_pem())  # the delta itself is central's
    _serve_instead(delta, forged)

    agent.heartbeat_once()

    (refused,) = _installed("delta_refused")
    assert "bad signature" in refused["error"] and refused["serving"] == "b1"
    assert agent.model_version == "b2" and _installed()[-1]["via"] == "full"
    with (
        zipfile.ZipFile(agent.data_dir / "bundles" / "b2.zip") as mine,
        zipfile.ZipFile(full.file) as central,
    ):
        assert mine.read("manifest.sig") == central.read("manifest.sig")


def test_central_offers_a_delta_only_to_agents_running_its_base(db, signing_key, settings, tmp_path):  # noqa: F811
    settings.TICKETAI_EDGE_BUNDLE_DIR = tmp_path / "central-bundles"
    b1 = _register(tmp_path, "b1")
    full = _register(tmp_path, "b2", head_seed=5)
    delta = bundles.delta_register(base=b1, full=full)
    offered = edge.assignment(full, edge.installed_version("b1+local"))
    assert (
        offered["delta_url"] == f"/api/v1/edge/bundles/{delta.version}/" and offered["base_version"] == "b1"
    )
    assert (offered["delta_sha256"], offered["delta_bytes"]) == (delta.sha256, delta.bytes)
    assert offered["bundle_url"] == "/api/v1/edge/bundles/b2/" and offered["sha256"] == full.sha256
    for installed in ("", "b0", "b2"):
        assert "delta_url" not in edge.assignment(full, installed)
