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
import asyncio
import contextlib
import json
import logging
import math
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from benchmarks.fleet import batch as edge_batch
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
WEIGHTS = {"queue_page": 25, "ticket_page": 20, "recommendation_get": 20, "recommendation_post": 15,
           "bulk_ingest": 5, "edge_predictions": 15}  # fmt: skip
RECOMMENDATION_ROUTES = ("recommendation_get", "recommendation_post")
QUEUE_VIEWS = ({}, {"sort": "priority"}, {"status": "acknowledged"}, {"page": "2"}, {"needs_expert": "on"})
# gunicorn's default access line plus the time the worker spent (ms): the server's share of latency.
ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)s'
ACCESS_LINE = re.compile(r'"(GET|POST) ([^ ?]+)\S* HTTP/[0-9.]+" \d{3} .* (\d+)$')
P95_GOAL_MS = 300.0
RSS_GROWTH_GOAL_PCT = 10.0


# --- Setup, in this process, with Django ------------------------------------------------------------


def open_document(doc: dict) -> dict:
    """A simulated ticket as it arrives: still open, no resolution, the caller's source."""
    drop = ("source", "external_id", "resolution", "resolved_at", "resolution_notes")
    return {**{k: v for k, v in doc.items() if k not in drop}, "status": "acknowledged"}


def prepare(args, folder: Path) -> tuple[dict, dict]:
    """Fresh database, simulated data, a trained champion, stored answers, users and agents.

    Returns the driver's configuration (without the server address) and what was set up.
    """
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from ml.fleet import edge
    from ml.serving.recommendations import recommend_tickets
    from ml.training.fine_tuning import TrainingConfig
    from ml.training.services import train_model
    from repair_center.models import ApiToken, Site, Ticket
    from repair_center.simulator import SimulationConfig, write_simulation
    from repair_center.simulator.load import load_simulation

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    started = time.perf_counter()
    write_simulation(SimulationConfig(tickets=args.tickets, seed=args.seed), folder)
    loaded = load_simulation(folder)["tickets.jsonl"]
    if loaded.created != args.tickets:
        sys.exit(f"the simulated tickets did not all load: {loaded.summary()}")
    load_s = time.perf_counter() - started

    started = time.perf_counter()
    config = TrainingConfig(epochs=1, max_length=args.max_length, max_train_samples=args.train_samples)
    run = train_model(config=config, force=True)
    version = run.model_version
    if version is None or version.status != version.Status.CHAMPION:
        sys.exit(f"training did not give a champion: {run.status} {run.reason}")
    train_s = time.perf_counter() - started

    newest = list(
        Ticket.objects.order_by("-opened_at", "-id").values_list("id", flat=True)[: args.ticket_pool]
    )
    started = time.perf_counter()
    stored = recommend_tickets(newest[: args.precompute])
    precompute_s = time.perf_counter() - started

    password = secrets.token_urlsafe(16)
    engineer = User.objects.create_user(username="load-engineer", password=password)
    engineer.groups.add(Group.objects.get_or_create(name="engineer")[0])  # flush removed the roles
    integration = User.objects.create_user(username="load-integration")
    integration.groups.add(Group.objects.get_or_create(name="integration")[0])
    _, api_token = ApiToken.issue(user=integration, name="load benchmark")
    site = Site.objects.order_by("code").first()
    agents = []
    for i in range(min(args.clients, 10)):
        _, enrolment = edge.enrolment_token_issue(site=site)
        agents.append(edge.agent_enrol(token=enrolment, name=f"load-{i}", capabilities={"cpu_cores": 2})[1])

    rng = random.Random(args.seed)
    with open(folder / "tickets.jsonl") as lines:
        documents = [json.loads(line) for line in lines]
    drafts = [open_document(doc) for doc in rng.sample(documents, min(200, len(documents)))]
    driver = {
        "username": engineer.username, "password": password, "api_token": api_token, "agent_tokens": agents,
        "ticket_ids": newest, "drafts": drafts, "clients": args.clients, "warmup": args.warmup,
        "duration": args.duration, "bulk_size": args.bulk_size, "edge_batch": args.edge_batch,
        "seed": args.seed,
    }  # fmt: skip
    metrics = version.metrics or {}
    setup = {
        "tickets": args.tickets, "load_s": round(load_s, 1), "train_s": round(train_s, 1),
        "model": {"version": version.pk, "base_model": "/".join(Path(version.base_model).parts[-2:]),
                  "served": metrics.get("served"), "macro_f1": round(metrics.get("macro_f1") or 0.0, 3),
                  "train_samples": args.train_samples, "max_length": args.max_length, "epochs": 1,
                  "note": "a small model trained here for serving latency, not for accuracy"},
        "ticket_pool": len(newest), "recommendations_stored": stored["computed"],
        "precompute_s": round(precompute_s, 1),
    }  # fmt: skip
    return driver, setup


# --- Processes and their memory -------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def process_roles(servers: dict[str, subprocess.Popen]) -> dict[int, str]:
    """pid -> role for each server's main process and its children (gunicorn and pool workers)."""
    roles = {}
    for name, process in servers.items():
        roles[process.pid] = f"{name} master"
        for n, child in enumerate(children(process.pid), 1):
            roles[child] = f"{name} worker {n}"
    return roles


def memory_report(start: dict[int, tuple[str, float | None]], end: dict[int, str]) -> tuple[list, list]:
    """Per process RSS at the start and end of the soak; plus problems (processes gone or new)."""
    rows, problems = [], []
    for pid, (role, before) in start.items():
        after = rss_mb(pid)
        growth = round(100 * (after - before) / before, 1) if before and after is not None else None
        rows.append(
            {"role": role, "pid": pid, "rss_start_mb": before, "rss_end_mb": after, "growth_pct": growth}
        )
        if after is None:
            problems.append(f"{role} (pid {pid}) exited during the soak")
    for pid, role in end.items():
        if pid not in start:
            problems.append(f"{role} (pid {pid}) started during the soak: a process was replaced")
    return rows, problems


def route_of(method: str, path: str) -> str | None:
    if method == "GET" and path == "/":
        return "queue_page"
    if method == "GET" and path.startswith("/tickets/"):
        return "ticket_page"
    if path.endswith("/recommendation/"):
        return "recommendation_get"
    return {"/api/v1/recommendations/": "recommendation_post", "/api/v1/tickets/bulk/": "bulk_ingest",
            "/api/v1/edge/predictions/": "edge_predictions"}.get(path)  # fmt: skip


def server_times(log: Path, start: int, end: int) -> dict[str, list[float]]:
    """Milliseconds gunicorn's workers spent per route, from the access lines of the soak."""
    with open(log, "rb") as lines:
        lines.seek(start)
        chunk = lines.read(end - start).decode(errors="replace")
    times: dict[str, list[float]] = {}
    for match in filter(None, map(ACCESS_LINE.search, chunk.splitlines())):
        route = route_of(match[1], match[2])
        if route:
            times.setdefault(route, []).append(float(match[3]))
    return times


def start_servers(servers: dict, url: str, data_dir: Path, workers: int, logs: Path) -> tuple[str, str]:
    """Starts gunicorn and the Celery worker into ``servers``; returns the address and worker name."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "TICKETAI_DATA_DIR": str(data_dir), "TICKETAI_DEBUG": "false",
           "SECRET_KEY": secrets.token_urlsafe(50), "TICKETAI_ALLOWED_HOSTS": "127.0.0.1",
           "TICKETAI_LOG_FORMAT": "json", "TICKETAI_LOG_LEVEL": "INFO", "TICKETAI_CELERY_EAGER": "false",
           "PYTHONUNBUFFERED": "1", **THROTTLES}  # fmt: skip
    node = f"load-{uuid.uuid4().hex[:8]}@%h"
    commands = {
        # docker-compose.yml's web and worker commands, on 127.0.0.1.
        "gunicorn": [sys.executable, "-m", "gunicorn", "ticketai.wsgi", "--bind", f"127.0.0.1:{port}",
                     "--workers", str(workers), "--timeout", "60", "--access-logfile", "-",
                     "--access-logformat", ACCESS_FORMAT, "--no-control-socket"],
        "celery": [str(Path(sys.executable).parent / "celery"), "-A", "ticketai", "worker", "-Q", "default",
                   "--concurrency", "2", "--loglevel", "INFO", "-n", node],
    }  # fmt: skip
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
        [sys.executable, "-m", "benchmarks.load", "--drive", str(folder / "driver.json"), "--drive-out",
         str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
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


# --- The driver: a separate process, no Django ---------------------------------------------------


def percentile(ordered: list[float], p: float) -> float:
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Driver:
    """--clients closed-loop clients; the routes come from one smooth weighted round-robin shared by
    all of them, so the mix is exact and a short run still reaches every route."""

    def __init__(self, config: dict):
        import httpx

        self.httpx, self.c = httpx, config
        self.weights = config["weights"]
        self.credit = dict.fromkeys(self.weights, 0)
        self.latencies: dict[str, list[float]] = {route: [] for route in self.weights}
        self.errors: dict[str, int] = dict.fromkeys(self.weights, 0)
        self.warmup_errors = 0
        self.samples: list[str] = []
        limits = httpx.Limits(max_connections=config["clients"], max_keepalive_connections=config["clients"])
        self.api = httpx.AsyncClient(base_url=config["base"], timeout=60, limits=limits)
        self.token = {"Authorization": f"Token {config['api_token']}"}

    def next_route(self) -> str:
        for route, weight in self.weights.items():
            self.credit[route] += weight
        route = max(self.credit, key=self.credit.get)
        self.credit[route] -= sum(self.weights.values())
        return route

    def fail(self, route: str, detail: str, soak: bool) -> None:
        if soak:
            self.errors[route] = self.errors.get(route, 0) + 1
        else:
            self.warmup_errors += 1
        if len(self.samples) < 10:
            self.samples.append(f"{route}: {detail}"[:300])

    async def login(self, page) -> bool:
        """Signs in through the login form (CSRF token from its cookie), as a browser does."""
        try:
            await page.get("/login/")
            form = {"username": self.c["username"], "password": self.c["password"],
                    "csrfmiddlewaretoken": page.cookies.get("csrftoken", "")}  # fmt: skip
            # Password hashing is slow by design; 50 sign-ins at once queue behind each other.
            answer = await page.post("/login/", data=form, timeout=300)
        except self.httpx.HTTPError as e:
            self.fail("login", f"{type(e).__name__}: {e}", soak=True)
            return False
        if answer.status_code != 302 or "sessionid" not in page.cookies:
            self.fail("login", f"{answer.status_code} {answer.text[:200]}", soak=True)
            return False
        return True

    async def call(self, route: str, page, rng: random.Random, client: int, sequence: int):
        """One request of the route; returns None when it did what it should, else what went wrong."""
        ticket = rng.choice(self.c["ticket_ids"])
        if route == "queue_page":
            answer = await page.get("/", params=rng.choice(QUEUE_VIEWS))
        elif route == "ticket_page":
            answer = await page.get(f"/tickets/{ticket}/")
        elif route == "recommendation_get":
            answer = await self.api.get(f"/api/v1/tickets/{ticket}/recommendation/", headers=self.token)
        elif route == "recommendation_post":
            answer = await self.api.post("/api/v1/recommendations/", json=rng.choice(self.c["drafts"]),
                                         headers=self.token)  # fmt: skip
        elif route == "bulk_ingest":
            size = self.c["bulk_size"]
            tickets = [{**rng.choice(self.c["drafts"]), "external_id": f"LOAD-{client}-{sequence}-{n}-"
                        f"{uuid.uuid4().hex[:8]}"} for n in range(size)]  # fmt: skip
            answer = await self.api.post("/api/v1/tickets/bulk/", json={"source": "load", "tickets": tickets},
                                         headers=self.token)  # fmt: skip
            if answer.status_code == 200 and answer.json().get("created") != size:
                return f"bulk created {answer.json().get('created')} of {size}: {answer.text[:200]}"
        else:
            agent = self.c["agent_tokens"][client % len(self.c["agent_tokens"])]
            size = self.c["edge_batch"]
            headers = {"Authorization": f"Agent {agent}", "Content-Type": "application/json"}
            answer = await self.api.post("/api/v1/edge/predictions/", content=edge_batch(client, size),
                                         headers=headers)  # fmt: skip
            if answer.status_code == 200 and answer.json().get("accepted") != size:
                return f"edge accepted {answer.json().get('accepted')} of {size}"
        if answer.status_code != 200:
            return f"{answer.status_code} {answer.text[:200]}"
        if route.startswith("recommendation") and "recommendations" not in answer.json():
            return f"no recommendations in {answer.text[:200]}"
        return None

    async def timed(self, route: str, page, rng: random.Random, client: int, sequence: int) -> None:
        started = time.perf_counter()
        try:
            problem = await self.call(route, page, rng, client, sequence)
        except (self.httpx.HTTPError, ValueError) as e:  # ValueError: a body that is not JSON
            problem = f"{type(e).__name__}: {e}"
        soak = started >= self.soak_start
        if problem:
            self.fail(route, problem, soak)
        elif soak:
            self.latencies[route].append((time.perf_counter() - started) * 1000)

    async def client(self, index: int, page) -> None:
        rng = random.Random(self.c["seed"] * 1000 + index)
        sequence = 0
        while time.perf_counter() < self.end:
            sequence += 1
            await self.timed(self.next_route(), page, rng, index, sequence)
            if self.c["think_ms"]:  # people pause between clicks; 0 makes a pure closed loop
                await asyncio.sleep(rng.expovariate(1000 / self.c["think_ms"]))

    async def run(self) -> dict:
        pages = [
            self.httpx.AsyncClient(base_url=self.c["base"], timeout=60) for _ in range(self.c["clients"])
        ]
        try:
            signed_in = await asyncio.gather(*(self.login(page) for page in pages))
            # Every route a few times per gunicorn worker at once, before the clock starts, so each
            # worker has loaded the model: the soak then measures serving, not start-up.
            self.soak_start = self.end = math.inf
            rng = random.Random(self.c["seed"])
            await asyncio.gather(*(self.timed(route, pages[0], rng, 0, -n) for route in self.weights
                                   for n in range(2 * self.c["gunicorn_workers"])))  # fmt: skip
            self.soak_start = time.perf_counter() + self.c["warmup"]
            self.end = self.soak_start + self.c["duration"]
            clients = [
                self.client(i, page) for i, (page, ok) in enumerate(zip(pages, signed_in, strict=True)) if ok
            ]
            await asyncio.gather(self.announce(), *clients)
        finally:
            await asyncio.gather(self.api.aclose(), *(page.aclose() for page in pages))
        return self.results()

    async def announce(self) -> None:
        await asyncio.sleep(max(0.0, self.soak_start - time.perf_counter()))
        print("soak-start", flush=True)
        await asyncio.sleep(max(0.0, self.end - time.perf_counter()))
        print("soak-end", flush=True)

    def results(self) -> dict:
        seconds = self.c["duration"]
        routes = {}
        for route, times in self.latencies.items():
            times.sort()
            routes[route] = {
                "count": len(times),
                "errors": self.errors[route],
                **{f"p{p}_ms": round(percentile(times, p), 1) if times else None for p in (50, 95, 99)},
                "rps": round(len(times) / seconds, 2),
            }
        total = sum(len(t) for t in self.latencies.values())
        errors = sum(self.errors.values()) + self.warmup_errors
        return {"routes": routes, "requests": total, "rps": round(total / seconds, 1), "errors": errors,
                "warmup_errors": self.warmup_errors, "error_samples": self.samples}  # fmt: skip


def drive(config_path: str, out: str) -> int:
    config = json.loads(Path(config_path).read_text())
    results = asyncio.run(Driver(config).run())
    Path(out).write_text(json.dumps(results))
    return 0


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


def main(argv=None) -> int:
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
    parser.add_argument("--mix", action="append", default=[], metavar="ROUTE=WEIGHT",
                        help=f"change a route's share (default {WEIGHTS})")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", dest="json_out", help="Write the results here.")
    parser.add_argument("--logs", metavar="DIR", help="Keep the gunicorn and celery logs here.")
    parser.add_argument("--database-url", help="Benchmark database (default: <database>_bench_load).")
    parser.add_argument("--drive", help=argparse.SUPPRESS)  # the driver process's own entry
    parser.add_argument("--drive-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        return drive(args.drive, args.drive_out)
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
    url = bench_url(args, "bench_load")
    create_database(url)
    # Ctrl-C and SIGTERM unwind through the finally blocks, so every process started below is stopped
    # (SIGINT explicitly: a shell that starts us in the background has it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with tempfile.TemporaryDirectory(prefix="ticketai-load-") as tmp:
        folder = Path(tmp)
        data_dir = folder / "data"
        os.environ.update(DATABASE_URL=url, TICKETAI_DATA_DIR=str(data_dir), TICKETAI_LOG_LEVEL="WARNING",
                          DJANGO_SETTINGS_MODULE="ticketai.settings")  # fmt: skip
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        logging.getLogger("httpx").setLevel(logging.WARNING)
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

    results = {
        "clients": args.clients, "think_ms": args.think_ms, "warmup_s": args.warmup,
        "duration_s": args.duration, "gunicorn_workers": args.workers,
        "celery": "worker -Q default --concurrency 2",
        **driven, "processes": processes, "worker": worker, "setup": setup, "throttles": THROTTLES,
        "load_average_1m": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count(),
    }  # fmt: skip
    results["errors"] += len(problems)
    results["error_samples"] = problems + results["error_samples"]
    results["goals"] = goals(results)
    print(summary(results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
