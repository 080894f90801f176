"""Delta updates between two bundles: per file, the byte-wise difference (mod 256), lzma-compressed.

Standard library and numpy only, so both sides carry the same code: central (ml/compression/pipeline.py)
makes deltas with ``make_delta``, the agent rebuilds the new bundle's files with ``apply_delta``.
A warm-started student keeps most int8 weights identical, so the differences are mostly zeros and
compress well; unchanged files are not sent at all.

The delta is itself a signed bundle (``kind: "delta"``, ``base_version``, ``target_version``)
whose manifest holds the plan, one entry per file of the new bundle:

    "delta": {"model.onnx": {"method": "sub8-lzma", "patch": "model.onnx.patch",
                             "base_sha256": ..., "sha256": ..., "bytes": ...},
              "tokenizer.json": {"method": "same", "sha256": ...}, ...}

and which carries the new full bundle's own manifest and signature as ``target.manifest.json``
and ``target.manifest.sig``: the rebuilt bundle is then verified exactly like a full download,
against the signature central made for the full bundle.
"""

import hashlib
import lzma
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

DELTA_METHOD = "sub8-lzma"
TARGET_MANIFEST = "target.manifest.json"
TARGET_SIGNATURE = "target.manifest.sig"


class DeltaError(Exception):
    """A delta does not apply to the files at hand (another base, or a corrupted patch)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _reference(base: bytes, length: int) -> np.ndarray:
    """``base`` as uint8, zero-padded or cut to ``length``."""
    reference = np.zeros(length, dtype=np.uint8)
    overlap = min(len(base), length)
    reference[:overlap] = np.frombuffer(base, dtype=np.uint8)[:overlap]
    return reference


def sub8(new: bytes, base: bytes) -> bytes:
    """(new - base) mod 256 per byte."""
    return bytes((np.frombuffer(new, dtype=np.uint8) - _reference(base, len(new))).tobytes())


def add8(patch: bytes, base: bytes) -> bytes:
    """The inverse of ``sub8``: (patch + base) mod 256 per byte."""
    return bytes((np.frombuffer(patch, dtype=np.uint8) + _reference(base, len(patch))).tobytes())


def make_delta(base_dir: Path, new_dir: Path, out_dir: Path, names: Iterable[str]) -> dict[str, Any]:
    """Write patches for ``new_dir``'s files against ``base_dir``'s into ``out_dir``; returns the plan."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plan: dict[str, Any] = {}
    for name in names:
        new_path, base_path = new_dir / name, base_dir / name
        new_sha = sha256_file(new_path)
        if base_path.exists() and sha256_file(base_path) == new_sha:
            plan[name] = {"method": "same", "sha256": new_sha}
            continue
        new = new_path.read_bytes()
        base = base_path.read_bytes() if base_path.exists() else b""
        patch = lzma.compress(sub8(new, base), preset=6)
        entry: dict[str, Any] = {"sha256": new_sha, "bytes": len(new)}
        if len(patch) < len(new):
            (out_dir / f"{name}.patch").write_bytes(patch)
            entry.update(
                method=DELTA_METHOD, patch=f"{name}.patch", base_sha256=hashlib.sha256(base).hexdigest()
            )
        else:  # nothing shared with the base: ship the file itself
            shutil.copyfile(new_path, out_dir / name)
            entry.update(method="full", patch=name)
        plan[name] = entry
    return plan


def apply_delta(
    base_files: dict[str, bytes], patches: dict[str, bytes], plan: dict[str, Any]
) -> dict[str, bytes]:
    """Rebuild every file of the new bundle from the base bundle's files and the delta's patches."""
    if not isinstance(plan, dict) or not plan:
        raise DeltaError("the delta has no plan")
    rebuilt = {}
    for name, entry in plan.items():
        method = entry.get("method")
        if method == "same":
            content = base_files.get(name)
            if content is None:
                raise DeltaError(f"{name}: the base bundle lacks it")
        elif method == "full":
            content = patches.get(entry.get("patch"))
            if content is None:
                raise DeltaError(f"{name}: the delta lacks its file")
        elif method == DELTA_METHOD:
            base = base_files.get(name, b"")
            if hashlib.sha256(base).hexdigest() != entry.get("base_sha256"):
                raise DeltaError(f"{name}: this delta was made against another base")
            try:
                content = add8(lzma.decompress(patches[entry["patch"]]), base)
            except (lzma.LZMAError, KeyError) as e:
                raise DeltaError(f"{name}: unreadable patch ({e})") from e
        else:
            raise DeltaError(f"{name}: unknown delta method {method!r}")
        if hashlib.sha256(content).hexdigest() != entry.get("sha256"):
            raise DeltaError(f"{name}: the rebuilt file does not match its checksum")
        rebuilt[name] = content
    return rebuilt
