"""Model artifacts as contracts, and which version is champion.

A version's files are written into a hidden staging directory under TICKETAI_MODEL_DIR, hashed,
described by manifest.json, and renamed into place in one step; only then is its ModelVersion row
committed. A crash at any point leaves either nothing visible or a complete, verifiable
directory. Loading re-hashes every file and checks the format version: a corrupted or
incompatible model is reported, never trusted.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ml.core.serialization import SERIALIZATION_VERSION
from ml.models import AuditLog, ModelVersion, locations

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STAGING_PREFIX = ".staging-"


class ArtifactError(Exception):
    """A model's files are missing, corrupted or of another format version."""


def model_root() -> Path:
    root = Path(settings.TICKETAI_MODEL_DIR)
    root.mkdir(parents=True, exist_ok=True)
    return root


def staging_dir() -> Path:
    """A fresh directory to write a version's files into; invisible to loaders until published."""
    path = model_root() / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    path.mkdir()
    return path


def remove_stale_staging() -> int:
    """Delete staging directories left by a killed worker; returns how many."""
    removed = 0
    for path in model_root().glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def code_version() -> str:
    """`git describe` of the working tree when there is one, else the package version."""
    base = Path(settings.BASE_DIR)
    if (base / ".git").exists():
        try:
            out = subprocess.run(
                ["git", "describe", "--always", "--dirty", "--tags"],
                cwd=base,
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            )
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        return "v" + tomllib.loads((base / "pyproject.toml").read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def publish(staging: Path, *, manifest: dict) -> tuple[Path, dict[str, str]]:
    """Hash the staged files, write the manifest and rename the directory into place."""
    checksums = {str(p.relative_to(staging)): sha256_file(p) for p in _files(staging)}
    manifest = {
        **manifest,
        "format_version": FORMAT_VERSION,
        "serialization_version": SERIALIZATION_VERSION,
        "files": checksums,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    for path in [*_files(staging), staging / MANIFEST]:
        _fsync(path)
    final = model_root() / f"{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
    os.rename(staging, final)
    return final, checksums


@transaction.atomic
def register(staging: Path, *, manifest: dict, **fields) -> ModelVersion:
    """Publish the staged files, then record the version (a candidate unless told otherwise)."""
    path, checksums = publish(staging, manifest=manifest)
    try:
        return ModelVersion.objects.create(
            artifact_path=locations.stored(path, model_root()),
            artifact_sha256=checksums,
            format_version=FORMAT_VERSION,
            serialization_version=SERIALIZATION_VERSION,
            code_version=code_version(),
            **fields,
        )
    except Exception:
        shutil.rmtree(path, ignore_errors=True)
        raise


@dataclass(frozen=True, slots=True)
class LoadedArtifacts:
    path: Path
    manifest: dict


def verify(version: ModelVersion) -> LoadedArtifacts:
    """Check format version and the sha256 of every file against the manifest and the database."""
    path = version.artifact_dir
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise ArtifactError(f"model v{version.pk}: cannot read {path / MANIFEST}: {e}") from e
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"model v{version.pk}: format version {manifest.get('format_version')!r}, "
            f"this code reads {FORMAT_VERSION}; retrain it"
        )
    if manifest.get("serialization_version") != SERIALIZATION_VERSION:
        raise ArtifactError(
            f"model v{version.pk}: trained on input serialisation v{manifest.get('serialization_version')}, "
            f"this code writes v{SERIALIZATION_VERSION}; retrain it"
        )
    expected = manifest.get("files") or {}
    if version.artifact_sha256 and expected != version.artifact_sha256:
        raise ArtifactError(f"model v{version.pk}: the manifest's checksums differ from the registry's")
    present = {str(p.relative_to(path)) for p in _files(path)}
    if missing := sorted(set(expected) - present):
        raise ArtifactError(f"model v{version.pk}: missing files {', '.join(missing)}")
    if extra := sorted(present - set(expected)):
        raise ArtifactError(f"model v{version.pk}: unexpected files {', '.join(extra)}")
    for name, checksum in expected.items():
        if sha256_file(path / name) != checksum:
            raise ArtifactError(f"model v{version.pk}: {name} is corrupted (sha256 mismatch)")
    return LoadedArtifacts(path=path, manifest=manifest)


# --- Champion and promotion ----------------------------------------------------------------------


def champion(label_set_key: str = "resolution") -> ModelVersion | None:
    return ModelVersion.objects.filter(
        label_set_key=label_set_key, status=ModelVersion.Status.CHAMPION
    ).first()


def promotion_decision(
    *, candidate_score: float, champion_score: float | None, margin: float
) -> tuple[bool, str]:
    """A candidate replaces the champion only when its macro-F1 beats it by ``margin`` on the same set."""
    if champion_score is None:
        return True, f"first model for this label set (macro-F1 {candidate_score:.4f})"
    needed = champion_score + margin
    if candidate_score >= needed - 1e-9:  # 0.80 + 0.02 is 0.8200000000000001 in floats
        return True, (
            f"macro-F1 {candidate_score:.4f} beats the champion's {champion_score:.4f} on the same "
            f"evaluation set by at least {margin:.4f}"
        )
    return False, (
        f"macro-F1 {candidate_score:.4f} does not beat the champion's {champion_score:.4f} on the same "
        f"evaluation set by the required margin {margin:.4f} (needs {needed:.4f})"
    )


@transaction.atomic
def promote(version: ModelVersion, *, actor: str = "system", user=None, reason: str = "") -> ModelVersion:
    """Make ``version`` champion; the previous champion is archived. Recorded in the audit log."""
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == ModelVersion.Status.FAILED:
        raise ValueError(f"v{version.pk} failed ({version.status_reason}); it cannot be promoted")
    previous = (
        ModelVersion.objects.select_for_update()
        .filter(label_set_key=version.label_set_key, status=ModelVersion.Status.CHAMPION)
        .exclude(pk=version.pk)
        .first()
    )
    now = timezone.now()
    if previous is not None:
        previous.status = ModelVersion.Status.ARCHIVED
        previous.status_reason = f"replaced by v{version.pk} on {now:%Y-%m-%d %H:%M}"
        previous.save(update_fields=["status", "status_reason"])
    version.status = ModelVersion.Status.CHAMPION
    version.status_reason = reason or f"promoted by {actor}"
    version.promoted_at = now
    version.save(update_fields=["status", "status_reason", "promoted_at"])
    AuditLog.objects.create(
        action=AuditLog.Action.PROMOTE,
        model_version=version,
        previous_champion=previous,
        actor=actor,
        user=user,
        reason=version.status_reason,
    )
    return version


@transaction.atomic
def keep_candidate(version: ModelVersion, *, reason: str, actor: str = "system") -> ModelVersion:
    ModelVersion.objects.filter(pk=version.pk).update(
        status=ModelVersion.Status.CANDIDATE, status_reason=reason
    )
    version.refresh_from_db()
    AuditLog.objects.create(
        action=AuditLog.Action.KEEP_CANDIDATE,
        model_version=version,
        previous_champion=champion(version.label_set_key),
        actor=actor,
        reason=reason,
    )
    return version


@transaction.atomic
def rollback(
    *, label_set_key: str = "resolution", actor: str = "system", user=None, reason: str = ""
) -> ModelVersion:
    """Restore the champion before the current one; the current one is archived with the reason."""
    current = (
        ModelVersion.objects.select_for_update()
        .filter(label_set_key=label_set_key, status=ModelVersion.Status.CHAMPION)
        .first()
    )
    if current is None:
        raise ValueError(f"no champion for {label_set_key!r} to roll back")
    entry = (
        AuditLog.objects.filter(action=AuditLog.Action.PROMOTE, model_version=current)
        .exclude(previous_champion=None)
        .first()
    )
    restored = entry.previous_champion if entry else None
    if restored is None or restored.status == ModelVersion.Status.FAILED:
        raise ValueError(f"v{current.pk} has no earlier champion to roll back to")
    verify(restored)  # never roll back onto files that no longer load
    now = timezone.now()
    current.status = ModelVersion.Status.ARCHIVED
    current.status_reason = reason or f"rolled back by {actor} on {now:%Y-%m-%d %H:%M}"
    current.save(update_fields=["status", "status_reason"])
    restored.status = ModelVersion.Status.CHAMPION
    restored.status_reason = f"restored by rollback from v{current.pk}" + (f": {reason}" if reason else "")
    restored.promoted_at = now
    restored.save(update_fields=["status", "status_reason", "promoted_at"])
    AuditLog.objects.create(
        action=AuditLog.Action.ROLLBACK,
        model_version=restored,
        previous_champion=current,
        actor=actor,
        user=user,
        reason=reason,
    )
    return restored


def mark_failed(version: ModelVersion, *, reason: str, actor: str = "system") -> None:
    """Take a version whose files fail verification out of service."""
    with transaction.atomic():
        ModelVersion.objects.filter(pk=version.pk).update(
            status=ModelVersion.Status.FAILED, status_reason=reason
        )
        AuditLog.objects.create(
            action=AuditLog.Action.MARK_FAILED, model_version=version, actor=actor, reason=reason
        )
    version.refresh_from_db()
