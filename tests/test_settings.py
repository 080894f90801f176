"""Settings come from the environment through ticketai.env and fail loudly on malformed values."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ticketai import env
from ticketai.env import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent


def _import_settings(tmp_path, print_expr: str = "'ok'", **variables: str) -> subprocess.CompletedProcess:
    """Import the real settings in a fresh interpreter with only the given TicketAI variables set."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TICKETAI_") and k != "SECRET_KEY"}
    clean.pop("DATABASE_URL", None)
    clean.pop("REDIS_URL", None)
    clean.update({"TICKETAI_DATA_DIR": str(tmp_path / "data"), "DJANGO_SETTINGS_MODULE": "ticketai.settings"})
    clean.update(variables)
    code = f"import django; django.setup(); from django.conf import settings; print({print_expr})"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_booleans_accept_the_usual_spellings(monkeypatch):
    for value, expected in [("true", True), ("1", True), ("Yes", True), ("off", False), ("0", False)]:
        monkeypatch.setenv("TICKETAI_X", value)
        assert env.boolean("TICKETAI_X", not expected) is expected
    monkeypatch.setenv("TICKETAI_X", "")
    assert env.boolean("TICKETAI_X", True) is True
    monkeypatch.delenv("TICKETAI_X")
    assert env.boolean("TICKETAI_X", False) is False


def test_a_malformed_boolean_names_the_variable(monkeypatch):
    monkeypatch.setenv("TICKETAI_DEBUG", "maybe")
    with pytest.raises(ConfigurationError, match=r"TICKETAI_DEBUG='maybe' is not a boolean"):
        env.boolean("TICKETAI_DEBUG", False)


def test_integers_parse_and_enforce_their_minimum(monkeypatch):
    monkeypatch.setenv("TICKETAI_PAGE_SIZE", "25")
    assert env.integer("TICKETAI_PAGE_SIZE", 50, minimum=1) == 25
    monkeypatch.setenv("TICKETAI_PAGE_SIZE", "many")
    with pytest.raises(ConfigurationError, match=r"TICKETAI_PAGE_SIZE='many' is not an integer"):
        env.integer("TICKETAI_PAGE_SIZE", 50)
    monkeypatch.setenv("TICKETAI_PAGE_SIZE", "0")
    with pytest.raises(ConfigurationError, match=r"TICKETAI_PAGE_SIZE=0 must be at least 1"):
        env.integer("TICKETAI_PAGE_SIZE", 50, minimum=1)
    monkeypatch.delenv("TICKETAI_PAGE_SIZE")
    assert env.integer("TICKETAI_PAGE_SIZE", 50) == 50


def test_numbers_parse_and_enforce_their_minimum(monkeypatch):
    monkeypatch.setenv("TICKETAI_CONNECTOR_TIMEOUT_S", "2.5")
    assert env.number("TICKETAI_CONNECTOR_TIMEOUT_S", 30.0, minimum=0.1) == 2.5
    monkeypatch.setenv("TICKETAI_CONNECTOR_TIMEOUT_S", "soon")
    with pytest.raises(ConfigurationError, match=r"TICKETAI_CONNECTOR_TIMEOUT_S='soon' is not a number"):
        env.number("TICKETAI_CONNECTOR_TIMEOUT_S", 30.0)
    monkeypatch.setenv("TICKETAI_CONNECTOR_TIMEOUT_S", "0")
    with pytest.raises(ConfigurationError, match=r"TICKETAI_CONNECTOR_TIMEOUT_S=0.0 must be at least 0.1"):
        env.number("TICKETAI_CONNECTOR_TIMEOUT_S", 30.0, minimum=0.1)


def test_lists_are_comma_separated_and_trimmed(monkeypatch):
    monkeypatch.setenv("TICKETAI_ALLOWED_HOSTS", " a.example.com, ,b.example.com ")
    assert env.string_list("TICKETAI_ALLOWED_HOSTS", ["x"]) == ["a.example.com", "b.example.com"]
    monkeypatch.setenv("TICKETAI_ALLOWED_HOSTS", "  ")
    assert env.string_list("TICKETAI_ALLOWED_HOSTS", ["x"]) == ["x"]


def test_a_file_secret_wins_over_the_plain_variable(monkeypatch, tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("from-the-file\n")
    monkeypatch.setenv("SECRET_KEY", "from-the-variable")
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret))
    assert env.raw("SECRET_KEY") == "from-the-file"
    assert env.string("SECRET_KEY") == "from-the-file"


def test_an_unreadable_file_secret_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("TICKETAI_PAGE_SIZE_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match=r"TICKETAI_PAGE_SIZE_FILE='.*missing' cannot be read"):
        env.integer("TICKETAI_PAGE_SIZE", 50)


def test_it_parses_a_postgres_url_with_escapes_port_and_options():
    db = env.database("postgres://tick%40et:p%2Fss@db.example.com:6543/ticket_ai?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"]) == ("ticket_ai", "tick@et", "p/ss")
    assert (db["HOST"], db["PORT"]) == ("db.example.com", "6543")
    assert db["OPTIONS"]["sslmode"] == "require"
    assert env.database("postgresql://postgres@127.0.0.1/t")["PORT"] == ""


def test_it_rejects_a_postgres_url_without_a_database_or_with_a_bad_port():
    with pytest.raises(ConfigurationError, match=r"DATABASE_URL='postgres://h/' names no database"):
        env.database("postgres://h/")
    with pytest.raises(ConfigurationError, match=r"DATABASE_URL=.* has a malformed port"):
        env.database("postgres://h:port/db")


def test_it_parses_relative_and_absolute_sqlite_urls():
    assert env.database("sqlite:///var/db.sqlite3")["NAME"] == "var/db.sqlite3"
    absolute = env.database("sqlite:////tmp/ticketai/db.sqlite3")
    assert absolute["NAME"] == "/tmp/ticketai/db.sqlite3"
    assert absolute["ENGINE"] == "django.db.backends.sqlite3"
    assert absolute["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    with pytest.raises(ConfigurationError, match=r"DATABASE_URL='sqlite://' names no file"):
        env.database("sqlite://")


def test_it_rejects_an_unsupported_database_scheme():
    with pytest.raises(ConfigurationError, match=r"DATABASE_URL='mysql://h/db' has an unsupported scheme"):
        env.database("mysql://h/db")


def test_redis_urls_must_use_a_redis_scheme(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "rediss://cache.example.com:6380/2")
    assert env.redis_url("REDIS_URL") == "rediss://cache.example.com:6380/2"
    monkeypatch.setenv("REDIS_URL", "http://cache.example.com")
    with pytest.raises(
        ConfigurationError, match=r"REDIS_URL='http://cache.example.com' must start with redis://"
    ):
        env.redis_url("REDIS_URL")


@pytest.mark.slow  # a subprocess or parallel clients
def test_importing_settings_with_a_malformed_value_fails_loudly(tmp_path):
    result = _import_settings(tmp_path, TICKETAI_PAGE_SIZE="fifty")
    assert result.returncode != 0
    assert "ticketai.env.ConfigurationError: TICKETAI_PAGE_SIZE='fifty' is not an integer" in result.stderr
    result = _import_settings(tmp_path, DATABASE_URL="mongodb://h/db")
    assert result.returncode != 0
    assert "DATABASE_URL='mongodb://h/db' has an unsupported scheme" in result.stderr


@pytest.mark.slow  # a subprocess or parallel clients
def test_with_nothing_set_it_runs_embedded_under_the_data_dir(tmp_path):
    shown = "[settings.DATABASES['default']['NAME'], settings.CELERY_BROKER_TRANSPORT, settings.DEBUG]"
    result = _import_settings(tmp_path, f"__import__('json').dumps({shown})")
    assert result.returncode == 0, result.stderr
    name, transport, debug = json.loads(result.stdout)
    assert name == str((tmp_path / "data" / "ticketai.sqlite3").resolve())
    assert transport == "ticketai.embedded_broker:Transport"
    assert debug is False
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0, "the key file must be private"


@pytest.mark.slow  # a subprocess or parallel clients
def test_processes_starting_together_agree_on_the_embedded_secret_key(tmp_path):
    """Web, worker and beat (or test workers) start at once on a fresh data directory: one key wins,
    every process reads it whole, and no half-written file is left behind."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TICKETAI_") and k != "SECRET_KEY"}
    clean.update({"TICKETAI_DATA_DIR": str(tmp_path / "data")})
    start = time.time() + 2  # every interpreter is up by then, and they all go at once
    code = (
        f"import time; time.sleep(max(0, {start} - time.time())); "
        "import ticketai.settings as s; print(s.SECRET_KEY)"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=clean, stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    keys = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert all(process.returncode == 0 for process in processes)
    assert keys == {(tmp_path / "data" / "secret_key").read_text().strip()}
    assert len(keys.pop()) > 50
    assert not list((tmp_path / "data").glob(".secret_key.*"))


@pytest.mark.slow  # a subprocess or parallel clients
def test_settings_read_the_secret_key_and_database_from_files(tmp_path):
    (tmp_path / "key").write_text("k" * 60)
    (tmp_path / "db").write_text("postgres://u@db.internal:5433/prod")
    shown = "[settings.SECRET_KEY, settings.DATABASES['default']['HOST'], settings.REDIS_URL]"
    result = _import_settings(
        tmp_path,
        f"__import__('json').dumps({shown})",
        SECRET_KEY_FILE=str(tmp_path / "key"),
        DATABASE_URL_FILE=str(tmp_path / "db"),
        REDIS_URL="redis://127.0.0.1:6379/9",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["k" * 60, "db.internal", "redis://127.0.0.1:6379/9"]


def test_every_variable_the_settings_read_is_in_the_configuration_table():
    read = set(
        re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]*)"', (ROOT / "ticketai" / "settings.py").read_text())
    )
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TICKETAI_DATA_DIR"} <= read
    page = (ROOT / "docs" / "operations.md").read_text()
    table = page.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)`", table, re.M))
    documented |= set(re.findall(r"\(or `([A-Z][A-Z0-9_]*)`\)", table))
    assert sorted(read - documented) == []


def test_a_postgres_connection_gives_up_after_a_few_seconds_unless_the_url_says_otherwise():
    assert env.database("postgres://h/db")["OPTIONS"] == {"connect_timeout": str(env.CONNECT_TIMEOUT_S)}
    assert env.database("postgres://h/db?connect_timeout=30")["OPTIONS"] == {"connect_timeout": "30"}


@pytest.mark.slow  # a subprocess or parallel clients
def test_redis_redelivers_a_task_only_after_the_longest_a_task_may_run(tmp_path):
    options = "settings.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout']"
    shown = f"[settings.CELERY_TASK_TIME_LIMIT, {options}]"
    for soft_limit, expected_visibility in [("7200", 4 * 3600), ("36000", 36000 + 300 + 600)]:
        result = _import_settings(
            tmp_path,
            f"__import__('json').dumps({shown})",
            REDIS_URL="redis://127.0.0.1:6379/9",
            TICKETAI_TASK_SOFT_TIME_LIMIT=soft_limit,
        )
        assert result.returncode == 0, result.stderr
        hard_limit, visibility = json.loads(result.stdout)
        assert visibility == expected_visibility
        assert visibility > hard_limit


@pytest.mark.slow  # a subprocess or parallel clients
def test_a_malformed_log_level_or_time_zone_stops_the_start_naming_the_variable(tmp_path):
    result = _import_settings(tmp_path, TICKETAI_LOG_LEVEL="verbose")
    assert result.returncode != 0
    assert (
        "ConfigurationError: TICKETAI_LOG_LEVEL='verbose' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
        in result.stderr
    )
    result = _import_settings(tmp_path, TICKETAI_TIME_ZONE="Mars/Olympus")
    assert result.returncode != 0
    assert "ConfigurationError: TICKETAI_TIME_ZONE='Mars/Olympus' is not an IANA time zone" in result.stderr
    shown = "[settings.LOGGING['root']['level'], settings.TIME_ZONE]"
    result = _import_settings(
        tmp_path,
        f"__import__('json').dumps({shown})",
        TICKETAI_LOG_LEVEL="warning",
        TICKETAI_TIME_ZONE="Europe/Paris",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["WARNING", "Europe/Paris"]
