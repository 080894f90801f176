"""Edge fleet benchmark: many agents heartbeating and posting prediction batches at once.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x python -m benchmarks.fleet --agents 1000 --json out.json

Works in its own database (``<database>_bench_fleet`` beside DATABASE_URL's, created afresh and
flushed here). Agents are enrolled in bulk in this process (one-time tokens spent and agent
tokens hashed as ml.fleet.edge does, in three statements rather than five per agent); then gunicorn
serves central on 127.0.0.1 and every simulated agent, concurrently (asyncio + httpx,
--concurrency requests in flight), sends a heartbeat and --batches prediction batches of
--batch-size (by default the edge agent's own batch size), each batch posted twice half the time
(a retry after a lost answer), which central must count as duplicates. Reports {"agents",
"predictions_per_s", "p95_ms", "errors"} and where the CPU went (this client, central's workers,
PostgreSQL's backends for the benchmark database), since all three share the machine.
"""

import argparse
import asyncio
import json
import logging
import os
import random
import resource
import secrets
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.ingest import bench_url, create_database, start_server

ROOT = Path(__file__).resolve().parent.parent
RESOLUTIONS = ("REPLACE_SFP", "CLEAN_FIBRE", "REBOOT_BASEBAND", "REPLACE_PSU", "WAIT_UTILITY_POWER")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def agent_batch_size() -> int:
    """The batch the edge agent's forwarder posts (edge_agent.agent.Config.batch_size)."""
    from edge_agent.agent import Config

    return Config.batch_size


def prepare(agents: int) -> list[str]:
    """Migrate, flush, create sites and enrol the agents in bulk; returns their raw tokens."""
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from ml.models import EdgeAgent, EnrolmentToken
    from ml.models.edge import hash_token
    from repair_center.models import Site

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    now = timezone.now()
    with transaction.atomic():
        sites = Site.objects.bulk_create(
            [Site(code=f"BENCH-{i:04d}", climate="coastal") for i in range(max(1, agents // 10))]
        )
        tokens = ["agt_" + secrets.token_urlsafe(32) for _ in range(agents)]
        enrolled = EdgeAgent.objects.bulk_create(
            EdgeAgent(
                site=sites[i % len(sites)],
                name=f"bench-{i}",
                token_hash=hash_token(raw),
                capabilities={"cpu_cores": 2},
                last_seen=now,
            )
            for i, raw in enumerate(tokens)
        )
        EnrolmentToken.objects.bulk_create(
            EnrolmentToken(
                site=agent.site,
                token_hash=hash_token("enr_" + secrets.token_urlsafe(32)),
                note="benchmark",
                expires_at=now + timedelta(hours=1),
                used_at=now,
                agent=agent,
            )
            for agent in enrolled
        )
    return tokens


def batch(agent: int, n: int) -> bytes:
    """A JSON body of ``n`` predictions as an agent posts them, with random 128-bit keys.

    Made cheaply (random.getrandbits rather than uuid4): the client shares the CPU with central.
    """
    now = datetime.now(UTC).isoformat()
    bits = random.getrandbits
    predictions = [
        {
            "idempotency_key": f"{bits(128):032x}",
            "source": "sim",
            "external_id": f"BENCH-{agent}-{bits(48):012x}",
            "model_version": "bench-1",
            "resolution": random.choice(RESOLUTIONS),
            "confidence": round(random.random(), 4),
            "latency_ms": round(random.uniform(0.3, 2.0), 3),
            "input_fingerprint": f"{bits(256):064x}",
            "predicted_at": now,
        }
        for _ in range(n)
    ]
    return json.dumps({"predictions": predictions}).encode()


async def run_fleet(base: str, tokens: list[str], *, batches: int, batch_size: int, concurrency: int) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    accepted = duplicates = 0
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def call(token: str, path: str, body: bytes) -> dict | None:
            headers = {"Authorization": f"Agent {token}", "Content-Type": "application/json"}
            async with gate:
                started = time.perf_counter()
                try:
                    response = await client.post(path, content=body, headers=headers)
                except httpx.HTTPError as e:
                    errors.append(f"{path}: {type(e).__name__}")
                    return None
                latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                errors.append(f"{path}: {response.status_code} {response.text[:120]}")
                return None
            return response.json()

        async def agent(index: int, token: str) -> None:
            nonlocal accepted, duplicates
            await call(
                token,
                "/api/v1/edge/heartbeat/",
                json.dumps({"backlog": batches * batch_size, "model_version": "bench-1"}).encode(),
            )
            for _ in range(batches):
                body = batch(index, batch_size)
                for attempt in range(2 if random.random() < 0.5 else 1):
                    answer = await call(token, "/api/v1/edge/predictions/", body)
                    if answer:
                        accepted += answer["accepted"]
                        duplicates += answer["duplicates"]
                        if attempt == 1 and answer["accepted"]:
                            errors.append("a resent batch was stored again")

        started = time.perf_counter()
        await asyncio.gather(*(agent(i, token) for i, token in enumerate(tokens)))
        elapsed = time.perf_counter() - started

    latencies.sort()
    expected = len(tokens) * batches * batch_size
    if accepted != expected:
        errors.append(f"accepted {accepted} of {expected} predictions")
    return {
        "agents": len(tokens),
        "predictions": accepted,
        "duplicates_detected": duplicates,
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "predictions_per_s": round(accepted / elapsed, 1),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
        "errors": len(errors),
        "error_samples": errors[:5],
    }


def cpu_seconds(pids) -> float:
    """User + system CPU of these processes so far (those already gone count as 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [pid]
    if children.exists():
        for child in children.read_text().split():
            found += process_tree(int(child))
    return found


def database_backends() -> list[int]:
    """PostgreSQL backends serving the benchmark database, other than this thread's own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


class CpuMeter(threading.Thread):
    """Samples, twice a second, the CPU of central's processes and of the database's backends.

    Sampled rather than read once at the end: central closes a connection after CONN_MAX_AGE and
    opens another, and a backend that has exited can no longer be read. A backend's last half
    second before it exits is missed. Also samples the 1-minute load average.
    """

    def __init__(self, server_pid: int):
        super().__init__(daemon=True)
        self.server_pid = server_pid
        self.stop = threading.Event()
        self.first: dict[str, dict[int, float]] = {"central": {}, "postgresql": {}}
        self.last: dict[str, dict[int, float]] = {"central": {}, "postgresql": {}}
        self.loads: list[float] = []
        self.sample()

    def sample(self) -> None:
        from django.db import connection

        groups = {"central": process_tree(self.server_pid), "postgresql": database_backends()}
        connection.close()  # this thread's connection would otherwise count as a backend next time
        for group, pids in groups.items():
            for pid in pids:
                seconds = cpu_seconds([pid])
                self.first[group].setdefault(pid, 0.0 if self.loads else seconds)
                self.last[group][pid] = seconds
        self.loads.append(os.getloadavg()[0])

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.sample()

    def finish(self) -> dict:
        self.stop.set()
        self.join()
        self.sample()
        used = {
            group: round(sum(self.last[group][pid] - self.first[group][pid] for pid in self.last[group]), 1)
            for group in self.last
        }
        load = {"mean": round(sum(self.loads) / len(self.loads), 2), "max": round(max(self.loads), 2)}
        return {"cpu_s": used, "load_average_1m": load}


def raise_open_files_limit() -> None:
    # Every in-flight request holds a socket here and one in gunicorn; a default soft limit of
    # 1,024 is what a large --concurrency runs into first.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parser_of() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=2, help="prediction batches per agent")
    parser.add_argument("--batch-size", type=int, help="default: the edge agent's batch size")
    # In flight at once across the fleet. More than a few per worker only queue in gunicorn's
    # backlog, and p95 then measures that queue (Little's law: in flight / requests per second).
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1) * 2))
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (gthread if > 1)")
    parser.add_argument("--json", dest="json_out")
    parser.add_argument("--database-url", help="Benchmark database (default: <database>_bench_fleet).")
    return parser


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketai.settings")
    os.environ.setdefault("TICKETAI_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)


def wait_healthy(base: str) -> None:
    import httpx

    for _ in range(600):
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    sys.exit("central did not start")


def drive_central(args, url: str, tokens: list, batch_size: int) -> tuple[dict, float, dict]:
    """Runs the fleet against a central started for it: the fleet's results, the client's CPU
    seconds and what the meter measured on central."""
    with tempfile.TemporaryDirectory(prefix="ticketai-fleet-") as tmp:
        server, port = start_server(
            url,
            workers=args.workers,
            threads=args.threads,
            options=("--backlog", "4096"),
            TICKETAI_DATA_DIR=tmp,
            TICKETAI_LOG_LEVEL="WARNING",
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base)
            meter = CpuMeter(server.pid)
            client_cpu = time.process_time()
            meter.start()
            fleet = run_fleet(
                base, tokens, batches=args.batches, batch_size=batch_size, concurrency=args.concurrency
            )
            results = asyncio.run(fleet)
            client_cpu = time.process_time() - client_cpu  # the meter's thread included, a little
            measured = meter.finish()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return results, client_cpu, measured


def main(argv=None) -> int:
    args = parser_of().parse_args(argv)
    raise_open_files_limit()
    batch_size = args.batch_size or agent_batch_size()

    url = bench_url(args, "bench_fleet")
    create_database(url)
    setup_django(url)
    started = time.perf_counter()
    tokens = prepare(args.agents)
    setup_s = time.perf_counter() - started

    results, client_cpu, measured = drive_central(args, url, tokens, batch_size)
    results.update(
        batch_size=batch_size,
        workers=args.workers,
        threads=args.threads,
        concurrency=args.concurrency,
        setup_s=round(setup_s, 1),
        cpu_s={"client": round(client_cpu, 1), **measured["cpu_s"]},
        load_average_1m=measured["load_average_1m"],
    )
    print(json.dumps(results, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
