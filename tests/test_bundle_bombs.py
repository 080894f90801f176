"""A crafted bundle cannot make a verifier hold what it has not yet trusted (SECURITY.md, finding 10).

``edge_agent.bundle.verify_bundle`` read the whole ``manifest.json`` before checking its signature:
a 306 KB zip whose manifest inflated to hundreds of MB took the agent from 365 MB to 665 MB. The
manifest and the signature are now read with a bound, and a signed bundle's files are hashed as a
stream before any is held. Memory is measured with tracemalloc (zlib's output is Python bytes).
"""

import tracemalloc
import zipfile

import pytest

from edge_agent import bundle as edge_bundle
from ml.core import bundles, signing
from tests.edge_fixtures import build_test_bundle, signing_key  # noqa: F401

pytestmark = pytest.mark.usefixtures("signing_key")
BOMB_BYTES = 64 * 1024 * 1024
HELD_AT_MOST = 16 * 1024 * 1024


def _peak(verify) -> tuple[Exception, int]:
    tracemalloc.start()
    try:
        with pytest.raises(Exception) as refused:  # each verifier has its own BundleError
            verify()
        return refused.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


VERIFIERS = {
    "agent": (edge_bundle.verify_bundle, edge_bundle.BundleError),
    "central": (bundles.verify_bundle, bundles.BundleError),
}


@pytest.mark.parametrize("side", VERIFIERS)
def test_an_inflating_unsigned_manifest_is_refused_without_being_read(tmp_path, side):
    verify, error = VERIFIERS[side]
    path = _zip(tmp_path / "bomb.zip", {"manifest.json": b" " * BOMB_BYTES, "manifest.sig": b"AAAA"})
    assert path.stat().st_size < 200_000  # what arrives over the wire is small
    refused, peak = _peak(lambda: verify(path, signing.public_key_pem()))
    assert isinstance(refused, error) and "manifest.json is larger than" in str(refused)
    assert peak < HELD_AT_MOST, f"held {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize("side", VERIFIERS)
def test_an_inflating_signature_is_refused_without_being_read(tmp_path, side):
    verify, error = VERIFIERS[side]
    path = _zip(tmp_path / "bomb.zip", {"manifest.json": b"{}", "manifest.sig": b"A" * BOMB_BYTES})
    refused, peak = _peak(lambda: verify(path, signing.public_key_pem()))
    assert isinstance(refused, error) and "manifest.sig is larger than" in str(refused)
    assert peak < HELD_AT_MOST, f"held {peak / 2**20:.0f} MiB"


def test_a_signed_bundle_with_a_file_swapped_for_a_bomb_is_refused_without_holding_it(tmp_path):
    signed = build_test_bundle(tmp_path / "b1.zip", version="b1")
    swapped = tmp_path / "swapped.zip"
    with zipfile.ZipFile(signed) as original:
        members = {name: original.read(name) for name in original.namelist()}
    _zip(swapped, {**members, "model.onnx": b"\0" * BOMB_BYTES})
    refused, peak = _peak(lambda: edge_bundle.verify_bundle(swapped, signing.public_key_pem()))
    assert isinstance(refused, edge_bundle.BundleError) and "checksum mismatch for model.onnx" in str(refused)
    assert peak < HELD_AT_MOST, f"held {peak / 2**20:.0f} MiB"
    # The untouched bundle still verifies.
    manifest, contents = edge_bundle.verify_bundle(signed, signing.public_key_pem())
    assert manifest["version"] == "b1" and "model.onnx" in contents
