"""benchmarks.load end to end with tiny numbers: the real stack (gunicorn with production settings,
a Celery worker, PostgreSQL, Redis) driven by the separate driver process.

It runs ``python -m benchmarks.load`` as `make bench` does, in a database of its own on the
DATABASE_URL server (one per pytest-xdist worker) with the worker's REDIS_URL, and reads its JSON
report.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.ingest import sibling_database
from benchmarks.load import WEIGHTS

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SMALL = [
    "--clients",
    "4",
    "--warmup",
    "2",
    "--duration",
    "8",
    "--tickets",
    "200",
    "--ticket-pool",
    "50",
    "--precompute",
    "5",
    "--train-samples",
    "32",
    "--max-length",
    "32",
    "--workers",
    "2",
    "--bulk-size",
    "3",
    "--edge-batch",
    "5",
    "--think-ms",
    "0",
]
# Equal shares, so every route is reached in an 8-second soak (the default mix calls bulk 1 in 20).
EQUAL_MIX = [arg for route in WEIGHTS for arg in ("--mix", f"{route}=1")]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[dict, str]:
    for name in ("DATABASE_URL", "REDIS_URL"):
        assert os.environ.get(name), f"set {name}: the benchmark runs against real PostgreSQL and Redis"
    out = tmp_path_factory.mktemp("load") / "load.json"
    # A database of this worker's own: should pytest-xdist hand this module's tests to two workers,
    # each runs the benchmark (this fixture is per worker) and the two must not flush each other's.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    database = sibling_database(os.environ["DATABASE_URL"], f"bench_load_{worker}")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.load",
            *SMALL,
            *EQUAL_MIX,
            "--database-url",
            database,
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    return json.loads(out.read_text()), run.stdout


def test_it_reaches_every_route_without_errors(report):
    results, _ = report
    assert list(results["routes"]) == list(WEIGHTS)
    for route, figures in results["routes"].items():
        assert figures["count"] > 0, route
        assert figures["errors"] == 0, route
        assert figures["rps"] > 0, route
    assert results["errors"] == 0, results["error_samples"]
    assert results["error_samples"] == []
    assert results["requests"] == sum(f["count"] for f in results["routes"].values())
    assert results["goals"]["zero_errors"] is True


def test_its_percentiles_are_ordered_for_the_clients_and_the_server(report):
    results, _ = report
    for route, figures in results["routes"].items():
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"], route
        # The workers' own time, from gunicorn's access log of the soak.
        assert 0 <= figures["server_p50_ms"] <= figures["server_p95_ms"], route
    p95s = [results["routes"][r]["p95_ms"] for r in ("recommendation_get", "recommendation_post")]
    assert results["goals"]["recommendation_p95_under_300ms"] is all(p < 300 for p in p95s)


def test_it_reports_the_memory_of_every_server_process_and_stops_them(report):
    results, _ = report
    roles = sorted(p["role"] for p in results["processes"])
    assert roles == [
        "celery master",
        "celery worker 1",
        "celery worker 2",
        "gunicorn master",
        "gunicorn worker 1",
        "gunicorn worker 2",
    ]
    for process in results["processes"]:
        assert process["rss_start_mb"] > 0 and process["rss_end_mb"] > 0, process
        expected = 100 * (process["rss_end_mb"] - process["rss_start_mb"]) / process["rss_start_mb"]
        assert process["growth_pct"] == pytest.approx(expected, abs=0.1), process
        assert not Path(f"/proc/{process['pid']}").exists(), f"{process['role']} still running"
    growths = [p["growth_pct"] for p in results["processes"]]
    assert results["goals"]["rss_growth_under_10pct"] is all(g < 10 for g in growths)


def test_the_worker_answers_the_tickets_the_clients_pushed(report):
    results, _ = report
    assert results["worker"]["bulk_tickets"] > 0
    assert results["worker"]["recommended_in_background"] > 0


def test_it_names_its_model_and_prints_a_summary(report):
    results, stdout = report
    model = results["setup"]["model"]
    assert model["version"] and model["served"] and model["train_samples"] == 32
    assert results["throttles"]["TICKETAI_THROTTLE_RECOMMENDATION"] == "100000/s"
    for route in WEIGHTS:
        assert route in stdout
    assert "goals: zero_errors yes" in stdout
