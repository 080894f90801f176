"""/metrics under gunicorn with several workers adds up every worker's counters
(ticketai/gunicorn_config.py), so Prometheus never sees a counter jump between workers' figures."""

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.test_fault_redis_down import app_environment, processes, start_gunicorn  # noqa: F401

pytestmark = pytest.mark.slow  # a real gunicorn

HEALTHZ_COUNT = re.compile(
    r'^ticketai_request_duration_seconds_count\{[^}]*route="healthz"[^}]*\} (\S+)$', re.M
)


def _healthz_count(base: str) -> float:
    response = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer scrape-me"}, timeout=10)
    assert response.status_code == 200, response.text
    return sum(float(value) for value in HEALTHZ_COUNT.findall(response.text))


def test_every_scrape_counts_the_requests_of_every_worker(processes, tmp_path, db):  # noqa: F811
    environ = app_environment(tmp_path, redis_url="")
    environ["TICKETAI_METRICS_TOKEN"] = "scrape-me"
    environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    base = start_gunicorn(processes, environ, workers=3, options=("-c", "python:ticketai.gunicorn_config"))
    before = _healthz_count(base)
    # Parallel clients, so every worker answers some of them.
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: httpx.get(f"{base}/healthz", timeout=10).status_code, range(60)))
    assert statuses == [200] * 60
    assert [_healthz_count(base) for _ in range(6)] == [before + 60] * 6
