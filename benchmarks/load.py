"""Load and soak benchmark: the production-shaped stack under concurrent clients, then its memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x REDIS_URL=redis://127.0.0.1:6379/0 \
        python -m benchmarks.load --clients 50 --duration 600 --json out.json

Works in its own database (``<database>_bench_load`` beside DATABASE_URL's, created afresh here;
--database-url names another) and a temporary data directory. Setup: simulated
tickets loaded through the importers, a small real champion trained here (serving latency is the
point, not accuracy; the output names it), recommendations stored for the newest tickets, an
engineer, an integration token and enrolled edge agents. Then gunicorn (production settings: DEBUG
off, SECRET_KEY, ALLOWED_HOSTS) and a Celery worker (-Q default, as in docker-compose.yml) serve
it on 127.0.0.1, and a separate driver process (asyncio + httpx) runs --clients clients, each
pausing --think-ms on average between requests as people reading a page do (0: a pure closed loop,
which measures saturation), mixing the queue and ticket pages (signed in through the login form),
recommendations for stored tickets and for drafts, bulk ingestion and edge prediction batches:
--warmup seconds, then
the --duration soak. Rate limits are per user and agent, so they are raised for the run (listed
under "throttles" in the output). Reports per route the successful requests of the soak (count),
the failed ones (errors), client p50/p95/p99, the gunicorn workers' own time from the access log
(server p50/p95: the rest of the client's figure is queueing), throughput; the RSS of every
gunicorn and Celery process at the start and end of the soak; and the goals: zero errors,
recommendation p95 under 300 ms, no process growing more than 10%. Exits 1 when anything failed.
"""

import argparse
import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from benchmarks._load_driver import drive, percentile
from benchmarks._load_measure import memory_report, process_roles, rss_mb, server_times
from benchmarks._load_setup import prepare
from benchmarks.ingest import bench_url, create_database, free_port

ROOT = Path(__file__).resolve().parent.parent
# Per-second windows: the throttle keeps one timestamp per request in the window, so a long
# window at a high rate would make every request rewrite a long list in Redis.
THROTTLES = {
    "TICKETAI_THROTTLE_AUTH": "1000/s",
    "TICKETAI_THROTTLE_BULK": "100000/s",
    "TICKETAI_THROTTLE_RECOMMENDATION": "100000/s",
    "TICKETAI_THROTTLE_EDGE": "100000/s",
}
WEIGHTS = {
    "queue_page": 25,
    "ticket_page": 20,
    "recommendation_get": 20,
    "recommendation_post": 15,
    "bulk_ingest": 5,
    "edge_predictions": 15,
}
RECOMMENDATION_ROUTES = ("recommendation_get", "recommendation_post")
# gunicorn's default access line plus the time the worker spent (ms): the server's share of latency.
ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)s'
P95_GOAL_MS = 300.0
RSS_GROWTH_GOAL_PCT = 10.0


# --- Processes and their memory -------------------------------------------------------------------


def start_servers(servers: dict, url: str, data_dir: Path, workers: int, logs: Path) -> tuple[str, str]:
    """Starts gunicorn and the Celery worker into ``servers``; returns the address and worker name."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TICKETAI_DATA_DIR": str(data_dir),
        "TICKETAI_DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TICKETAI_ALLOWED_HOSTS": "127.0.0.1",
        "TICKETAI_LOG_FORMAT": "json",
        "TICKETAI_LOG_LEVEL": "INFO",
        "TICKETAI_CELERY_EAGER": "false",
        "PYTHONUNBUFFERED": "1",
        **THROTTLES,
    }
    node = f"load-{uuid.uuid4().hex[:8]}@%h"
    commands = {
        # docker-compose.yml's web and worker commands, on 127.0.0.1.
        "gunicorn": [
            sys.executable,
            "-m",
            "gunicorn",
            "ticketai.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "60",
            "--access-logfile",
            "-",
            "--access-logformat",
            ACCESS_FORMAT,
            "--no-control-socket",
        ],
        "celery": [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "ticketai",
            "worker",
            "-Q",
            "default",
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "-n",
            node,
        ],
    }
    for name, command in commands.items():
        with open(logs / f"{name}.log", "wb") as log:
            servers[name] = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
    return f"http://127.0.0.1:{port}", node.replace("%h", os.uname().nodename)


def wait_ready(servers: dict, base: str, node: str, logs: Path, timeout: float = 180) -> None:
    """Until /readyz answers 200 (database, Redis, champion) and the Celery worker answers a ping."""
    import httpx

    from ticketai.celery import app

    deadline = time.monotonic() + timeout
    web = worker = False
    while time.monotonic() < deadline:
        for name, process in servers.items():
            if process.poll() is not None:
                tail = (logs / f"{name}.log").read_text(errors="replace")[-2000:]
                sys.exit(f"{name} exited with {process.returncode} while starting:\n{tail}")
        if not web:
            with contextlib.suppress(httpx.TransportError):
                web = httpx.get(base + "/readyz", timeout=5).status_code == 200
        if not worker:
            worker = bool(app.control.ping(destination=[node], timeout=1.0))
        if web and worker:
            return
        time.sleep(0.5)
    sys.exit(
        f"not ready after {timeout:.0f} s: web {'up' if web else 'down'}, worker {'up' if worker else 'down'}"
    )


def stop(processes) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def run_driver(config: dict, folder: Path, servers: dict, access_log: Path) -> tuple[dict, list, list]:
    """Runs the driver process; measures memory and cuts the access log when the soak starts and ends."""
    (folder / "driver.json").write_text(json.dumps(config))
    out = folder / "driver-results.json"
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.load",
            "--drive",
            str(folder / "driver.json"),
            "--drive-out",
            str(out),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    watchdog = threading.Timer(config["warmup"] + config["duration"] + 300, driver.kill)
    watchdog.start()
    start: dict = {}
    rows: list = []
    problems: list = []
    log_start, served = 0, {}
    try:
        for line in driver.stdout:
            if line.strip() == "soak-start":
                start = {pid: (role, rss_mb(pid)) for pid, role in process_roles(servers).items()}
                log_start = access_log.stat().st_size
            elif line.strip() == "soak-end":
                rows, problems = memory_report(start, process_roles(servers))
                served = server_times(access_log, log_start, access_log.stat().st_size)
            else:
                print(line, end="", file=sys.stderr)
        if driver.wait() != 0 or not out.exists():
            sys.exit(f"the driver failed (exit {driver.returncode})")
    finally:
        watchdog.cancel()
        stop([driver])
    driven = json.loads(out.read_text())
    for route, figures in driven["routes"].items():
        times = sorted(served.get(route, []))
        for p in (50, 95):
            figures[f"server_p{p}_ms"] = round(percentile(times, p), 1) if times else None
    return driven, rows, problems


# --- Report -----------------------------------------------------------------------------------------


def summary(results: dict) -> str:
    names = ("p50_ms", "p95_ms", "p99_ms", "server_p95_ms")
    head = " ".join(f"{n.replace('_ms', '').replace('server_', 'srv '):>8s}" for n in names)
    lines = [f"{'route (ms)':22s} {'count':>7s} {'errors':>6s} {head} {'rps':>7s}"]
    for route, r in results["routes"].items():
        cells = " ".join(f"{r[n]:8.1f}" if r[n] is not None else f"{'-':>8s}" for n in names)
        lines.append(f"{route:22s} {r['count']:7d} {r['errors']:6d} {cells} {r['rps']:7.2f}")
    lines.append(
        f"{'all':22s} {results['requests']:7d} {results['errors']:6d} {'':35s} {results['rps']:7.1f}"
    )
    lines.append("")
    lines.append(f"{'process':22s} {'pid':>7s} {'start MB':>9s} {'end MB':>9s} {'growth':>7s}")
    for p in results["processes"]:
        growth = f"{p['growth_pct']:6.1f}%" if p["growth_pct"] is not None else f"{'-':>7s}"
        lines.append(
            f"{p['role']:22s} {p['pid']:7d} {p['rss_start_mb']!s:>9s} {p['rss_end_mb']!s:>9s} {growth}"
        )
    lines.append("")
    lines.append("goals: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in results["goals"].items()))
    return "\n".join(lines)


def goals(results: dict) -> dict:
    p95s = [results["routes"][r]["p95_ms"] for r in RECOMMENDATION_ROUTES]
    growths = [p["growth_pct"] for p in results["processes"]]
    return {
        "zero_errors": results["errors"] == 0,
        "recommendation_p95_under_300ms": all(p is not None and p < P95_GOAL_MS for p in p95s),
        "rss_growth_under_10pct": bool(growths)
        and all(g is not None and g < RSS_GROWTH_GOAL_PCT for g in growths),
    }


def parser_of() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent closed-loop clients")
    parser.add_argument("--duration", type=float, default=600, help="soak seconds, after the warm-up")
    parser.add_argument(
        "--warmup", type=float, default=60, help="seconds of load before the soak is measured"
    )
    parser.add_argument("--think-ms", type=float, default=3000, help="mean pause between a client's requests")
    parser.add_argument("--tickets", type=int, default=5000, help="simulated tickets loaded first")
    parser.add_argument("--ticket-pool", type=int, default=1000, help="newest tickets the clients view")
    parser.add_argument("--precompute", type=int, default=1000, help="of those, recommendations stored first")
    parser.add_argument(
        "--train-samples", type=int, default=400, help="training tickets sampled for the model"
    )
    parser.add_argument("--max-length", type=int, default=64, help="model tokens")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn workers")
    parser.add_argument("--bulk-size", type=int, default=10, help="tickets per bulk call")
    parser.add_argument("--edge-batch", type=int, default=50, help="predictions per edge call")
    parser.add_argument(
        "--mix",
        action="append",
        default=[],
        metavar="ROUTE=WEIGHT",
        help=f"change a route's share (default {WEIGHTS})",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", dest="json_out", help="Write the results here.")
    parser.add_argument("--logs", metavar="DIR", help="Keep the gunicorn and celery logs here.")
    parser.add_argument("--database-url", help="Benchmark database (default: <database>_bench_load).")
    parser.add_argument("--drive", help=argparse.SUPPRESS)  # the driver process's own entry
    parser.add_argument("--drive-out", help=argparse.SUPPRESS)
    return parser


def checked_weights(parser: argparse.ArgumentParser, args) -> dict:
    """The routes' shares once the arguments are checked (a bad one ends the run with its reason)."""
    counts = (args.clients, args.tickets, args.ticket_pool, args.bulk_size, args.edge_batch, args.workers)
    if min(counts) < 1 or args.duration <= 0 or min(args.warmup, args.think_ms, args.precompute) < 0:
        parser.error(
            "counts and --duration must be positive; --warmup, --think-ms, --precompute not negative"
        )
    weights = dict(WEIGHTS)
    for item in args.mix:
        route, _, weight = item.partition("=")
        if route not in WEIGHTS or not weight.isdigit():
            parser.error(f"--mix {item!r}: use ROUTE=WEIGHT with a route of {', '.join(WEIGHTS)}")
        weights[route] = int(weight)
    if not any(weights.values()):
        parser.error("--mix leaves no route to call")
    if not Path("/proc/self/status").exists():
        sys.exit("process memory is read from /proc: run the benchmark on Linux")
    if not os.environ.get("REDIS_URL"):
        sys.exit("set REDIS_URL: production serves with Redis (cache, rate limits, the Celery broker)")
    return weights


def setup_django(url: str, data_dir: Path) -> None:
    os.environ.update(
        DATABASE_URL=url,
        TICKETAI_DATA_DIR=str(data_dir),
        TICKETAI_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="ticketai.settings",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)


def soak(args, url: str, weights: dict) -> tuple[dict, list, list, dict, dict]:
    """Sets up, serves and drives the run: what the driver measured, the processes' memory, the
    problems, what the worker did in the background, and what was set up."""
    with tempfile.TemporaryDirectory(prefix="ticketai-load-") as tmp:
        folder = Path(tmp)
        data_dir = folder / "data"
        setup_django(url, data_dir)
        from django.db import connection

        from repair_center.models import Ticket
        from ticketai.throttling import clear_all

        config, setup = prepare(args, folder / "simulation")
        clear_all()
        connection.close()
        print(f"setup: {json.dumps(setup)}", file=sys.stderr)
        logs = Path(args.logs) if args.logs else folder
        logs.mkdir(parents=True, exist_ok=True)
        servers: dict[str, subprocess.Popen] = {}
        try:
            base, node = start_servers(servers, url, data_dir, args.workers, logs)
            wait_ready(servers, base, node, logs)
            config.update(base=base, gunicorn_workers=args.workers, weights=weights, think_ms=args.think_ms)
            driven, processes, problems = run_driver(config, folder, servers, logs / "gunicorn.log")
            for name, process in servers.items():
                if process.poll() is not None:
                    problems.append(f"{name} exited with {process.returncode} during the run")
        finally:
            stop(servers.values())
        bulk = Ticket.objects.filter(source="load")
        worker = {
            "bulk_tickets": bulk.count(),
            "recommended_in_background": bulk.filter(recommendations__isnull=False).distinct().count(),
        }
    return driven, processes, problems, worker, setup


def results_of(args, driven: dict, processes: list, problems: list, worker: dict, setup: dict) -> dict:
    results = {
        "clients": args.clients,
        "think_ms": args.think_ms,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "gunicorn_workers": args.workers,
        "celery": "worker -Q default --concurrency 2",
        **driven,
        "processes": processes,
        "worker": worker,
        "setup": setup,
        "throttles": THROTTLES,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
    results["errors"] += len(problems)
    results["error_samples"] = problems + results["error_samples"]
    results["goals"] = goals(results)
    return results


def main(argv=None) -> int:
    parser = parser_of()
    args = parser.parse_args(argv)
    if args.drive:
        return drive(args.drive, args.drive_out)
    weights = checked_weights(parser, args)
    url = bench_url(args, "bench_load")
    create_database(url)
    # Ctrl-C and SIGTERM unwind through the finally blocks, so every process started below is stopped
    # (SIGINT explicitly: a shell that starts us in the background has it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    results = results_of(args, *soak(args, url, weights))
    print(summary(results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
