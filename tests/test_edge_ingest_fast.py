"""The fast path for edge prediction posts: a constant number of queries per batch, exactly once
under concurrent resends, agent lookups remembered for at most TICKETAI_EDGE_AUTH_CACHE_S, input
PostgreSQL cannot store refused with its index (never truncated, never a 500), the lean indexes
of the predictions table, and the fleet benchmark end to end with tiny numbers."""

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from ml.fleet import edge
from ml.models import EdgeAgent, EdgePrediction
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
URL = "/api/v1/edge/predictions/"


def _agent(site=None) -> tuple[EdgeAgent, str]:
    _, token = edge.enrolment_token_issue(site=site or SiteFactory())
    return edge.agent_enrol(token=token, name="agent", capabilities={})


def _client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {raw}")
    return client


def _predictions(n: int, prefix: str = "k") -> list[dict]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "idempotency_key": f"{prefix}-{i}",
            "source": "sim",
            "external_id": f"T-{i}",
            "model_version": "b1",
            "resolution": "REPLACE_SFP",
            "confidence": 0.5,
            "latency_ms": 1.0,
            "input_fingerprint": "f" * 64,
            "predicted_at": now,
        }
        for i in range(n)
    ]


def test_a_batch_of_500_takes_as_few_queries_as_a_batch_of_1(settings):
    settings.TICKETAI_EDGE_AUTH_CACHE_S = 0
    _, raw = _agent()
    client = _client(raw)
    counts = []
    for n, prefix in ((1, "one"), (500, "many")):
        with CaptureQueriesContext(connection) as queries:
            response = client.post(URL, {"predictions": _predictions(n, prefix)}, format="json")
        assert response.json() == {"accepted": n, "duplicates": 0, "rejected": 0, "errors": {}}
        inserts = [q["sql"] for q in queries.captured_queries if "ON CONFLICT" in q["sql"]]
        assert len(inserts) == 1  # the binary-bound insert is logged like any other query
        counts.append(len(queries))
    # The agent lookup, the sites of the tickets named, and the insert in its savepoint (a
    # transaction outside tests).
    assert counts == [5, 5]
    assert EdgePrediction.objects.count() == 501


def test_a_known_agent_is_not_looked_up_again_within_the_cache_ttl(settings):
    settings.TICKETAI_EDGE_AUTH_CACHE_S = 60
    _, raw = _agent()
    client = _client(raw)
    lookups = []
    for prefix in ("a", "b"):
        with CaptureQueriesContext(connection) as queries:
            response = client.post(URL, {"predictions": _predictions(3, prefix)}, format="json")
        assert response.status_code == 200
        lookups.append(sum('FROM "ml_edgeagent"' in q["sql"] for q in queries.captured_queries))
    assert lookups == [1, 0]


def test_a_revoked_agent_posts_no_longer_than_the_cache_ttl(settings):
    settings.TICKETAI_EDGE_AUTH_CACHE_S = 1
    agent, raw = _agent()
    client = _client(raw)
    assert client.post(URL, {"predictions": _predictions(1, "before")}, format="json").status_code == 200
    EdgeAgent.objects.filter(pk=agent.pk).update(revoked_at=timezone.now())
    # Heartbeats and the other agent routes look the token up every time.
    assert client.post("/api/v1/edge/heartbeat/", {}, format="json").status_code == 401
    time.sleep(1.1)
    response = client.post(URL, {"predictions": _predictions(1, "after")}, format="json")
    assert response.status_code == 401
    assert list(EdgePrediction.objects.values_list("idempotency_key", flat=True)) == ["before-0"]


def test_with_the_cache_off_a_revoked_agent_is_refused_at_once(settings):
    settings.TICKETAI_EDGE_AUTH_CACHE_S = 60
    agent, raw = _agent()
    client = _client(raw)
    assert client.post(URL, {"predictions": _predictions(1, "before")}, format="json").status_code == 200
    EdgeAgent.objects.filter(pk=agent.pk).update(revoked_at=timezone.now())
    settings.TICKETAI_EDGE_AUTH_CACHE_S = 0
    assert client.post(URL, {"predictions": _predictions(1, "after")}, format="json").status_code == 401


def test_an_unknown_token_is_refused_every_time():
    client = _client("agt_not-a-token")
    for _ in range(2):
        assert client.post(URL, {"predictions": _predictions(1)}, format="json").status_code == 401
    assert not EdgePrediction.objects.exists()


def test_a_key_longer_than_its_column_is_refused_rather_than_cut_to_a_duplicate():
    _, raw = _agent()
    items = _predictions(3)
    items[0]["idempotency_key"] = "x" * 100 + "-first"
    items[1]["idempotency_key"] = "x" * 100 + "-second"
    response = _client(raw).post(URL, {"predictions": items}, format="json")
    assert response.status_code == 200
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (1, 2)
    assert set(answer["errors"]) == {"0", "1"}
    expected = "idempotency_key: a non-empty string of at most 100 characters is required"
    assert expected in answer["errors"]["0"]
    assert list(EdgePrediction.objects.values_list("idempotency_key", flat=True)) == ["k-2"]


def test_text_postgresql_cannot_store_is_refused_with_its_index_and_the_rest_stored():
    _, raw = _agent()
    items = _predictions(4)
    body = json.dumps({"predictions": items})
    # JSON escapes for NUL and for an unpaired surrogate: json.loads accepts both.
    body = body.replace('"T-1"', '"T-\\u0000"').replace('"T-2"', '"T-\\ud800"')
    body = body.replace('"input_fingerprint": "' + "f" * 64, '"input_fingerprint": "\\u0000', 1)
    response = _client(raw).post(URL, body, content_type="application/json")
    assert response.status_code == 200, response.content
    errors = response.json()["errors"]
    assert set(errors) == {"0", "1", "2"}
    assert errors["1"] == ["external_id: must not contain NUL or unpaired surrogate characters"]
    assert errors["2"] == ["external_id: must not contain NUL or unpaired surrogate characters"]
    assert list(EdgePrediction.objects.values_list("external_id", flat=True)) == ["T-3"]


def test_a_body_that_is_not_an_object_is_a_400():
    _, raw = _agent()
    response = _client(raw).post(URL, _predictions(2), format="json")
    assert response.status_code == 400
    assert response.json()["predictions"] == {"predictions": ["must be a list"]}


def test_the_key_is_unique_in_the_database_and_the_table_has_no_redundant_index():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'ml_edgeprediction'")
        definitions = [row[0] for row in cursor.fetchall()]
    on_key = [d for d in definitions if "idempotency_key" in d]
    assert len(on_key) == 1 and on_key[0].startswith("CREATE UNIQUE INDEX"), definitions
    assert on_key[0].endswith("(agent_id, idempotency_key)"), definitions
    assert not [d for d in definitions if d.endswith("(site_id)") or d.endswith("(agent_id)")], definitions
    agent, _ = _agent()
    row = {k: v for k, v in _predictions(1)[0].items() if k != "predicted_at"}
    EdgePrediction.objects.create(agent=agent, site=agent.site, predicted_at=timezone.now(), **row)
    with pytest.raises(IntegrityError), transaction.atomic():
        EdgePrediction.objects.create(agent=agent, site=agent.site, predicted_at=timezone.now(), **row)


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_posted_four_times_at_once_is_stored_once(live_server):
    _, raw = _agent()
    body = {"predictions": _predictions(300)}
    start = threading.Barrier(4)
    answers = []

    def post():
        with httpx.Client(base_url=live_server.url, timeout=60) as http:
            start.wait()
            response = http.post(URL, json=body, headers={"Authorization": f"Agent {raw}"})
        answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert [status for status, _ in answers] == [200] * 4, answers
    assert sum(a["accepted"] for _, a in answers) == 300
    assert sum(a["duplicates"] for _, a in answers) == 900
    assert EdgePrediction.objects.count() == 300


@pytest.mark.slow
def test_the_fleet_benchmark_runs_end_to_end_without_errors(tmp_path):
    for name in ("DATABASE_URL", "REDIS_URL"):
        assert os.environ.get(name), f"set {name}: the benchmark runs against real PostgreSQL and Redis"
    out = tmp_path / "fleet.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.fleet",
            "--agents",
            "6",
            "--batches",
            "2",
            "--batch-size",
            "25",
            "--workers",
            "2",
            "--concurrency",
            "4",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    report = json.loads(out.read_text())
    assert report["errors"] == 0, report["error_samples"]
    assert (report["agents"], report["predictions"], report["batch_size"]) == (6, 300, 25)
    # Every resent batch comes back whole as duplicates: requests = heartbeats + batches + resends.
    assert report["duplicates_detected"] == 25 * (report["requests"] - 6 - 12)
    assert report["predictions_per_s"] > 0 and report["p95_ms"] > 0
    assert set(report["cpu_s"]) == {"client", "central", "postgresql"}
