"""Edge bundles: one signed zip holding a model and everything needed to run it without us.

Layout (format "ticketai-edge-bundle", format_version 1):

    manifest.json   {"format", "format_version", "version", "files": {name: sha256}, "serialization_version",
                     "model_version", "parent", "teacher", "metrics", "created_at", "intended_tier", ...}
    manifest.sig    base64 Ed25519 signature of manifest.json's exact bytes (ml.core.signing)
    model.onnx      inputs input_ids, attention_mask (int64 [batch, seq]);
                    outputs logits [batch, C], features [batch, H]
    tokenizer.json  Hugging Face fast tokenizer
    labels.json     resolution codes in logit order
    code_map.json   raw vendor code -> curated code
    head.npz        W [H, C], b [C], so that logits = features @ W + b (the head edge retraining replaces)

and, where the compression pipeline had them, calibration.json, track_record.json and
vocabulary.json (the teacher's distinctive tokens; with the manifest's ``confidence_medium``, what
the agent's abstention rule reads). Every file the manifest lists is signed and verified alike; an
agent reads the files it knows and ignores the others, so a file added later does not stop an older
agent from serving the bundle.

The signature covers the manifest, and the manifest covers every file by sha256, so one check
proves the whole bundle. edge_agent/bundle.py carries the same verification without Django.

A delta bundle (kind "delta") turns a base bundle's files into a full bundle's: per file, the
byte-wise difference, lzma-compressed (edge_agent/delta.py, which the agent carries, so central and
the agent cannot disagree on it). ``bundle_register`` records a built bundle as an EdgeBundle; the
compression pipeline and the fleet's publication both register through it.
"""

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from edge_agent.delta import TARGET_MANIFEST, TARGET_SIGNATURE, make_delta
from ml.core import signing
from ml.core.registry import sha256_file
from ml.core.serialization import SERIALIZATION_VERSION
from ml.models import EdgeBundle, locations

logger = logging.getLogger(__name__)

FORMAT = "ticketai-edge-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
REQUIRED_FILES = ("model.onnx", "tokenizer.json", "labels.json")
MAX_MANIFEST_BYTES = 1024 * 1024  # read before the signature is checked: bounded (edge_agent/bundle.py)
MAX_SIGNATURE_BYTES = 4096
# Manifest keys build_bundle writes itself; a delta's manifest takes the rest from its target.
_BUILT_KEYS = ("files", "format", "format_version", "created_at")


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


def _read_bounded(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, refused past ``limit`` whatever its header claims (it may lie)."""
    if archive.getinfo(name).file_size > limit:
        raise BundleError(f"{name} is larger than {limit} bytes")
    with archive.open(name) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise BundleError(f"{name} is larger than {limit} bytes")
    return data


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
        # Bounded reads before the signature is checked (a crafted zip's manifest can inflate to
        # hundreds of MB); the same limits as the agent's verifier.
        manifest_bytes = _read_bounded(archive, MANIFEST, MAX_MANIFEST_BYTES)
        signature = _read_bounded(archive, SIGNATURE, MAX_SIGNATURE_BYTES)
        if not signing.verify(manifest_bytes, signature.strip(), public_key_pem):
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
                while block := member.read(1 << 20):
                    digest.update(block)
            if digest.hexdigest() != expected:
                raise BundleError(f"checksum mismatch for {name}")
    return manifest


# --- deltas --------------------------------------------------------------------------------------


def bundle_files(path: Path) -> dict[str, bytes]:
    """The payload files of a bundle zip (manifest and signature left out)."""
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n not in ("manifest.json", "manifest.sig")}


def build_delta(*, base_path: Path, full_path: Path, out_path: Path) -> Path:
    """A signed delta bundle that turns ``base_path``'s files into ``full_path``'s.

    Both bundles must verify with our own key. The delta carries the full bundle's manifest and
    signature unchanged, so the bundle an agent rebuilds is verified exactly like the full download.
    """
    key = signing.public_key_pem()
    base_manifest = verify_bundle(base_path, key)
    full_manifest = verify_bundle(full_path, key)
    with zipfile.ZipFile(full_path) as archive:
        target_manifest, target_signature = archive.read(MANIFEST), archive.read(SIGNATURE)
    with tempfile.TemporaryDirectory(dir=Path(out_path).parent) as tmp:
        work = Path(tmp)
        for side, path in (("base", base_path), ("new", full_path)):
            (work / side).mkdir()
            for name, content in bundle_files(path).items():
                (work / side / name).write_bytes(content)
        patches = work / "patches"
        plan = make_delta(work / "base", work / "new", patches, names=sorted(full_manifest["files"]))
        (patches / TARGET_MANIFEST).write_bytes(target_manifest)
        (patches / TARGET_SIGNATURE).write_bytes(target_signature)
        files = {entry["patch"]: patches / entry["patch"] for entry in plan.values() if "patch" in entry}
        files.update({name: patches / name for name in (TARGET_MANIFEST, TARGET_SIGNATURE)})
        manifest = {k: v for k, v in full_manifest.items() if k not in _BUILT_KEYS}
        manifest.update(
            version=f"{full_manifest['version']}-from-{base_manifest['version']}",
            kind="delta",
            base_version=base_manifest["version"],
            target_version=full_manifest["version"],
            delta=plan,
        )
        return build_bundle(out_path=out_path, files=files, manifest=manifest)


def delta_register(*, base, full):
    """Build and offer the delta from EdgeBundle ``base`` to ``full``; None when it would not be smaller."""
    out = Path(settings.TICKETAI_EDGE_BUNDLE_DIR) / f"{full.version}-from-{base.version}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    path = build_delta(base_path=base.file, full_path=full.file, out_path=out)
    size = path.stat().st_size
    if size >= full.bytes:
        path.unlink()
        logger.info(
            "no delta %s -> %s: %s bytes, the full bundle is %s", base.version, full.version, size, full.bytes
        )
        return None
    saved = {
        "full_bytes": full.bytes,
        "delta_bytes": size,
        "bytes_saved": full.bytes - size,
        "base_version": base.version,
    }
    return bundle_register(
        path=path,
        model_version=full.model_version,
        intended_tier=full.intended_tier,
        intended_site=full.intended_site,
        metrics={**saved, "target_version": full.version},
    )


# --- registration --------------------------------------------------------------------------------


def bundle_register(
    *,
    path: str | Path,
    model_version=None,
    intended_tier: str = "",
    intended_site=None,
    metrics=None,
    active: bool = True,
) -> EdgeBundle:
    """Verify a built bundle with our own key and (when ``active``) offer it to agents."""
    path = Path(path)
    manifest = verify_bundle(path, signing.public_key_pem())
    version = str(manifest.get("version") or "")
    if not version:
        raise BundleError("the manifest has no version")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    bundle, _ = EdgeBundle.objects.update_or_create(
        version=version,
        defaults={
            "model_version": model_version,
            "path": locations.stored(path, settings.TICKETAI_EDGE_BUNDLE_DIR),
            "sha256": digest,
            "bytes": path.stat().st_size,
            "kind": manifest.get("kind", EdgeBundle.Kind.FULL),
            "base_version": manifest.get("base_version", ""),
            "metrics": metrics if metrics is not None else manifest.get("metrics", {}),
            "intended_tier": intended_tier or manifest.get("intended_tier", "") or "",
            "intended_site": intended_site,
            "active": active,
        },
    )
    return bundle
