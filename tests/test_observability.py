"""Request ids on responses and in JSON logs (web and Celery worker), /metrics access, /readyz."""

import io
import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from ml.core import registry
from repair_center.tasks import pull_connector
from tests.factories import TrainingRunFactory
from tests.fake_ticketing_server import wait_until
from tests.test_celery_worker import _environment
from ticketai import health, observability
from ticketai.metrics import RECOMMENDATIONS


@pytest.fixture
def json_log():
    """Captures the ticketai.request logger through the real JSON formatter and filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(observability.JsonFormatter())
    handler.addFilter(observability.RequestIdFilter())
    logger = logging.getLogger("ticketai.request")
    logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)


def test_every_response_carries_a_new_request_id(anon_client, db):
    first = anon_client.get("/healthz")
    second = anon_client.get("/healthz")
    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_sane_incoming_request_id_is_kept_and_a_hostile_one_replaced(anon_client, db):
    assert anon_client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234.abc")["X-Request-ID"] == "lb-1234.abc"
    hostile = anon_client.get("/healthz", HTTP_X_REQUEST_ID='x"\n{"level":"CRITICAL"}' + "a" * 80)
    assert hostile["X-Request-ID"] != 'x"\n{"level":"CRITICAL"}' + "a" * 80
    assert len(hostile["X-Request-ID"]) == 32


def test_the_access_log_is_json_with_the_request_id_route_status_and_duration(engineer_client, json_log):
    response = engineer_client.get("/api/v1/tickets/", HTTP_X_REQUEST_ID="trace-42")
    assert response.status_code == 200
    [entry] = [e for e in json_log() if e["path"] == "/api/v1/tickets/"]
    assert entry["request_id"] == "trace-42"
    assert entry["level"] == "INFO" and entry["logger"] == "ticketai.request"
    assert (entry["method"], entry["status"], entry["route"]) == ("GET", 200, "api:ticket-list")
    assert entry["duration_ms"] > 0


def test_an_exception_is_logged_as_one_json_line_with_its_traceback():
    formatter = observability.JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord("x", logging.ERROR, "f", 1, "failed", (), sys.exc_info())
    with observability.bound_request_id("req-7"):
        line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] == "req-7"
    assert "ValueError: boom" in entry["exception"]


def test_metrics_need_an_admin_or_the_metrics_token(anon_client, engineer, admin_client, settings):
    settings.TICKETAI_METRICS_TOKEN = "m" * 40
    assert anon_client.get("/metrics").status_code == 401
    assert anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert anon_client.get("/metrics", HTTP_AUTHORIZATION="Basic " + "m" * 40).status_code == 403
    engineer_session = Client()
    engineer_session.force_login(engineer)
    assert engineer_session.get("/metrics").status_code == 403
    assert anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "m" * 40).status_code == 200
    assert admin_client.get("/metrics").status_code == 200


def test_a_metrics_token_with_non_ascii_characters_is_refused_not_a_server_error(anon_client, settings, db):
    settings.TICKETAI_METRICS_TOKEN = "m" * 40
    # A WSGI server hands header bytes over as latin-1 text: "\xe9" is what byte 0xE9 becomes.
    assert anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer m\xe9tric").status_code == 403


def test_without_a_configured_token_no_bearer_token_is_accepted(anon_client, settings, db):
    settings.TICKETAI_METRICS_TOKEN = ""
    assert anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_metrics_show_request_latency_by_route_and_recommendation_counts(admin_client, engineer_client):
    engineer_client.get("/api/v1/tickets/")
    RECOMMENDATIONS.labels(outcome="abstained").inc()
    text = admin_client.get("/metrics").content.decode()
    assert (
        'ticketai_request_duration_seconds_count{method="GET",route="api:ticket-list",status="2xx"}' in text
    )
    assert 'ticketai_recommendations_total{outcome="abstained"}' in text
    for name in (
        "ticketai_model_version_in_use",
        "ticketai_training_runs",
        "ticketai_training_duration_seconds",
        "ticketai_drift_score",
        "ticketai_edge_backlog",
        "ticketai_edge_last_seen_timestamp_seconds",
    ):
        assert f"# HELP {name}" in text


def test_metrics_read_training_runs_drift_and_edge_agents_from_the_database(admin_client):
    from datetime import timedelta

    from django.utils import timezone

    from ml.models import DriftReport, EdgeAgent, TrainingRun
    from tests.factories import SiteFactory

    now = timezone.now()
    TrainingRunFactory(
        status=TrainingRun.Status.SUCCEEDED, started_at=now - timedelta(seconds=90), finished_at=now
    )
    TrainingRunFactory(status=TrainingRun.Status.QUEUED)
    DriftReport.objects.create(label_set_key="resolution", scores={"label_js": 0.25, "note": "text"})
    site = SiteFactory(code="CS-METRICS-1")
    EdgeAgent.objects.create(site=site, name="ru-1", token_hash="x" * 64, backlog=7, last_seen=now)

    text = admin_client.get("/metrics").content.decode()
    assert 'ticketai_training_runs{status="succeeded"} 1.0' in text
    assert 'ticketai_training_runs{status="queued"} 1.0' in text
    assert 'ticketai_training_duration_seconds_sum{status="succeeded"} 90.0' in text
    assert 'ticketai_drift_score{label_set="resolution",signal="label_js"} 0.25' in text
    assert 'signal="note"' not in text
    agent = EdgeAgent.objects.get()
    assert f'ticketai_edge_backlog{{agent="{agent.pk}:ru-1",site="CS-METRICS-1"}} 7.0' in text
    assert f'ticketai_edge_last_seen_timestamp_seconds{{agent="{agent.pk}:ru-1",site="CS-METRICS-1"}}' in text


def test_readyz_reports_database_redis_and_no_model_yet(anon_client, db):
    response = anon_client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "ok"
    assert body["status"] in ("ready", "degraded")
    assert body["checks"]["model"] in ("none", "ok", "fallback", "broken")


def test_readyz_shows_model_details_to_admins_only(anon_client, admin_client, monkeypatch, db):
    broken = {"state": "broken", "detail": "model v3: /srv/models/x/weights.bin is corrupted"}
    monkeypatch.setattr(health, "champion_check", lambda: broken)
    anonymous = anon_client.get("/readyz").json()
    assert anonymous["status"] == "degraded"
    assert anonymous["model"] == {"state": "broken"}
    assert admin_client.get("/readyz").json()["model"] == broken


def test_readyz_is_503_when_redis_does_not_answer(anon_client, settings, db):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = anon_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not ready"
    assert response.json()["checks"]["redis"].startswith("error: ")


def test_the_fallback_champion_check_verifies_the_files(db, tmp_path, settings, monkeypatch):
    """Without inference's champion_status, a champion whose files fail their checksums is 'broken'."""
    from ml.models import ModelVersion

    monkeypatch.setattr(health, "importlib", type("NoInference", (), {"import_module": _no_module}))
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"
    staging = registry.staging_dir()
    (staging / "weights.bin").write_bytes(b"good weights")
    version = registry.register(
        staging, manifest={}, base_model="b", data_fingerprint="f", status=ModelVersion.Status.CHAMPION
    )
    health._verified.clear()
    assert health.champion_check() == {"state": "ok", "versions": {version.label_set_key: version.pk}}
    (version.artifact_dir / "weights.bin").write_bytes(b"bad weights!")
    health._verified.clear()
    check = health.champion_check()
    assert check["state"] == "broken"
    assert "weights.bin is corrupted" in check["detail"]


def _no_module(name):
    raise ImportError(name)


@pytest.mark.slow
def test_a_task_enqueued_under_a_request_id_logs_it_in_the_worker(transactional_db, tmp_path):
    assert settings.REDIS_URL, "set REDIS_URL: this test needs a real Redis"
    queue = f"obs-{uuid.uuid4().hex[:8]}"
    env = {**_environment(tmp_path / "data", redis_url=settings.REDIS_URL), "TICKETAI_LOG_FORMAT": "json"}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "ticketai",
                "worker",
                "-Q",
                queue,
                "--pool",
                "solo",
                "--loglevel",
                "info",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{queue}@%h",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with observability.bound_request_id("req-from-web-1"):
            pull_connector.apply_async(args=[987654], queue=queue)
        _wait_for_the_task_log(worker, log)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)


def _wait_for_the_task_log(worker, log):
    def logged():
        for line in log.read_text().splitlines():
            if line.startswith("{") and "connector #987654 no longer exists" in line:
                return json.loads(line)
        return None

    assert wait_until(lambda: logged() or worker.poll() is not None, timeout=90, interval=0.3), (
        log.read_text()
    )
    entry = logged()
    assert entry is not None, log.read_text()
    assert entry["request_id"] == "req-from-web-1"
    assert entry["level"] == "WARNING"
