"""With production settings, Django's deployment checklist passes without a single warning."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the deploy checks in a subprocess

ROOT = Path(__file__).resolve().parent.parent


def _production_env(tmp_path, **overrides: str) -> dict[str, str]:
    # conftest allows async-unsafe ORM calls for Playwright; a deployment never does.
    unwanted = ("DJANGO_ALLOW_ASYNC_UNSAFE", "SECRET_KEY_FILE", "DATABASE_URL_FILE")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TICKETAI_") and k not in unwanted}
    environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "ticketai.settings",
            "TICKETAI_DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "TICKETAI_ALLOWED_HOSTS": "ticketai.example.com",
            "TICKETAI_HTTPS": "true",
            "TICKETAI_DATA_DIR": str(tmp_path / "data"),
            # The test PostgreSQL: production never runs on the embedded SQLite.
            "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ticketai"),
        }
    )
    environ.update(overrides)
    return environ


def _check_deploy(environ: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_deploy_check_passes_with_production_settings(tmp_path):
    result = _check_deploy(_production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr
    assert "security.W" not in result.stdout + result.stderr


def test_the_deploy_check_catches_production_without_https(tmp_path):
    # Proves the check above can fail: the same settings served over plain HTTP are flagged.
    result = _check_deploy(_production_env(tmp_path, TICKETAI_HTTPS="false"))
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout  # SECURE_HSTS_SECONDS
    assert "security.W008" in result.stderr + result.stdout  # SECURE_SSL_REDIRECT
