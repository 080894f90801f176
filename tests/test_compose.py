"""docker-compose.yml wires the stack as documented (no container engine here: the file is read as YAML)."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "training-worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _command(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def _option(argv: list[str], *names: str) -> str:
    for i, arg in enumerate(argv):
        if arg in names:
            return argv[i + 1]
        for name in names:
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    raise AssertionError(f"none of {names} in {argv}")


def test_it_defines_exactly_the_documented_services(compose):
    assert set(compose["services"]) == {*APP_SERVICES, "migrate", "postgres", "redis"}


def test_app_services_share_one_build_and_image(compose):
    for name in (*APP_SERVICES, "migrate"):
        service = compose["services"][name]
        assert service["build"] == ".", name
        assert service["image"] == "ticketai:latest", name
    assert (ROOT / "Dockerfile").exists()


def test_the_dockerfile_is_python_311_slim_with_the_cpu_torch_index(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert (
        "pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt" in dockerfile
    )
    assert re.search(r"^USER ticketai$", dockerfile, re.M), "the app must not run as root"


def test_app_services_get_the_same_environment_wiring(compose):
    for name in (*APP_SERVICES, "migrate"):
        env = compose["services"][name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://ticketai:")
        assert env["DATABASE_URL"].endswith("@postgres:5432/ticketai")
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), "compose must refuse to start without a key"
        assert env["TICKETAI_ALLOWED_HOSTS"].endswith(",127.0.0.1"), "the healthcheck's Host must be allowed"
        assert env["TICKETAI_DATA_DIR"] == "/data"
        assert "ticketai-data:/data" in compose["services"][name]["volumes"]


def test_app_services_wait_for_healthy_servers_and_the_migration(compose):
    for name in APP_SERVICES:
        depends = compose["services"][name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    migrate = compose["services"]["migrate"]
    assert _command(migrate) == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert set(migrate["depends_on"]) == {"postgres", "redis"}


def test_web_serves_gunicorn_and_checks_healthz(compose):
    web = compose["services"]["web"]
    argv = _command(web)
    # The config adds up every worker's metrics (ticketai/gunicorn_config.py).
    assert argv[:4] == ["gunicorn", "-c", "python:ticketai.gunicorn_config", "ticketai.wsgi"]
    assert _option(argv, "--bind", "-b") == "0.0.0.0:8000"
    probe = " ".join(web["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/healthz" in probe
    assert web["ports"] == ["${PORT:-8000}:8000"]


def test_the_workers_split_the_default_and_training_queues(compose):
    worker = _command(compose["services"]["worker"])
    training = _command(compose["services"]["training-worker"])
    assert worker[:4] == ["celery", "-A", "ticketai", "worker"]
    assert training[:4] == ["celery", "-A", "ticketai", "worker"]
    assert _option(worker, "-Q", "--queues") == "default"
    assert _option(training, "-Q", "--queues") == "training"
    assert _option(training, "--concurrency", "-c") == "1"


def test_the_queues_match_the_celery_settings(compose, settings):
    assert settings.CELERY_TASK_DEFAULT_QUEUE == "default"
    assert {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} == {"training"}


def test_beat_uses_the_database_scheduler(compose):
    argv = _command(compose["services"]["beat"])
    assert argv[:4] == ["celery", "-A", "ticketai", "beat"]
    assert _option(argv, "--scheduler", "-S") == "django_celery_beat.schedulers:DatabaseScheduler"


def test_postgres_and_redis_have_healthchecks_and_volumes(compose):
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert postgres["environment"]["POSTGRES_DB"] == "ticketai"
    assert postgres["environment"]["POSTGRES_USER"] == "ticketai"
    redis = compose["services"]["redis"]
    assert redis["image"] == "redis:7"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "redis-data:/data" in redis["volumes"]
    assert set(compose["volumes"]) == {"ticketai-data", "postgres-data", "redis-data"}


def test_the_stack_is_served_over_https_unless_told_otherwise(compose):
    # SECURITY.md finding 10: it defaulted to false, so an install served cookies without Secure.
    environment = compose["x-app"]["environment"]
    assert environment["TICKETAI_HTTPS"] == "${TICKETAI_HTTPS:-true}"
    for name in (*APP_SERVICES, "migrate"):
        assert compose["services"][name]["environment"]["TICKETAI_HTTPS"] == "${TICKETAI_HTTPS:-true}", name
    # The container's own healthcheck still reaches /healthz over plain HTTP (exempt from the redirect).
    assert "http://127.0.0.1:8000/healthz" in " ".join(compose["services"]["web"]["healthcheck"]["test"])


def test_app_services_get_longer_to_stop_than_gunicorn_takes_to_finish_its_requests(compose):
    from ticketai import gunicorn_config

    for name in APP_SERVICES:
        grace = compose["services"][name]["stop_grace_period"]
        assert re.fullmatch(r"\d+s", grace), grace
        assert int(grace[:-1]) > gunicorn_config.graceful_timeout, name


def test_each_worker_is_healthy_while_it_answers_a_ping_by_its_own_name(compose):
    """The command itself is run against real workers in tests/test_celery_worker.py."""
    for service, name in (("worker", "celery"), ("training-worker", "training")):
        check = compose["services"][service]["healthcheck"]
        assert check["test"][0] == "CMD-SHELL" and "inspect ping" in check["test"][1]
        assert f"--destination {name}@$$HOSTNAME" in check["test"][1]
        argv = _command(compose["services"][service])
        assert "--hostname" not in argv if name == "celery" else _option(argv, "--hostname") == "training@%h"
