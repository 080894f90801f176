"""Edge bundles: one signed zip holding a model and everything needed to run it without us.

Layout (format "ticketai-edge-bundle", format_version 1):

    manifest.json   {"format", "format_version", "version", "files": {name: sha256}, "serialization_version",
                     "model_version", "parent", "teacher", "metrics", "created_at", "intended_tier", ...}
    manifest.sig    base64 Ed25519 signature of manifest.json's exact bytes (ml.signing)
    model.onnx      inputs input_ids, attention_mask (int64 [batch, seq]);
                    outputs logits [batch, C], features [batch, H]
    tokenizer.json  Hugging Face fast tokenizer
    labels.json     resolution codes in logit order
    code_map.json   raw vendor code -> curated code
    head.npz        W [H, C], b [C], so that logits = features @ W + b (the head edge retraining replaces)

The signature covers the manifest, and the manifest covers every file by sha256, so one check
proves the whole bundle. edge_agent/bundle.py carries the same verification without Django.
"""

import hashlib
import json
import os
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from ml import signing
from ml.registry import sha256_file
from ml.serialization import SERIALIZATION_VERSION

FORMAT = "ticketai-edge-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
REQUIRED_FILES = ("model.onnx", "tokenizer.json", "labels.json")


class BundleError(Exception):
    """A bundle is malformed, unsigned, signed by another key, or a file does not match its checksum."""


def _check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith(".") or name in (MANIFEST, SIGNATURE):
        raise BundleError(f"bad file name in bundle: {name!r}")


def build_bundle(*, out_path: str | Path, files: dict[str, str | Path], manifest: dict) -> Path:
    """Write a signed bundle to ``out_path`` (via a .part file and a rename) and return its path."""
    out_path = Path(out_path)
    for name in files:
        _check_name(name)
    missing = [name for name in REQUIRED_FILES if name not in files and manifest.get("kind") != "delta"]
    if missing:
        raise BundleError(f"a full bundle needs {', '.join(missing)}")
    manifest = {
        "serialization_version": SERIALIZATION_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        **manifest,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "files": {name: sha256_file(Path(path)) for name, path in sorted(files.items())},
    }
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    part = out_path.with_name(f".{out_path.name}.{os.getpid()}.part")
    with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, manifest_bytes)
        archive.writestr(SIGNATURE, signing.sign(manifest_bytes))
        for name, path in sorted(files.items()):
            archive.write(path, arcname=name)
    os.replace(part, out_path)
    return out_path


def verify_bundle(path: str | Path, public_key_pem: str) -> dict:
    """Check the signature, the format and every file's checksum; return the manifest or raise BundleError."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise BundleError(f"not a bundle: {e}") from e
    with archive:
        names = set(archive.namelist())
        if MANIFEST not in names or SIGNATURE not in names:
            raise BundleError("the bundle has no manifest or no signature")
        manifest_bytes = archive.read(MANIFEST)
        if not signing.verify(manifest_bytes, archive.read(SIGNATURE).strip(), public_key_pem):
            raise BundleError("bad signature: the manifest was not signed by the pinned key")
        try:
            manifest = json.loads(manifest_bytes)
        except ValueError as e:
            raise BundleError(f"manifest is not JSON: {e}") from e
        if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
            raise BundleError(
                f"unsupported bundle format {manifest.get('format')!r} v{manifest.get('format_version')!r}"
            )
        listed = manifest.get("files") or {}
        extra = names - set(listed) - {MANIFEST, SIGNATURE}
        if extra:
            raise BundleError(f"files not covered by the manifest: {', '.join(sorted(extra))}")
        for name, expected in listed.items():
            _check_name(name)
            if name not in names:
                raise BundleError(f"{name} is listed in the manifest but missing")
            digest = hashlib.sha256()
            with archive.open(name) as member:
                for block in iter(lambda member=member: member.read(1 << 20), b""):
                    digest.update(block)
            if digest.hexdigest() != expected:
                raise BundleError(f"checksum mismatch for {name}")
    return manifest
