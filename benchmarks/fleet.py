"""Edge fleet benchmark: many agents heartbeating and posting prediction batches at once.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x python -m benchmarks.fleet --agents 1000 --json out.json

Works in its own database (``ticketai_bench_fleet`` on the DATABASE_URL server, migrated and
flushed here). Agents are enrolled in this process through ml.edge (one-time tokens, as in the
field); then gunicorn serves central on 127.0.0.1 and every simulated agent, concurrently
(asyncio + httpx, --concurrency requests in flight), sends a heartbeat and --batches prediction
batches of --batch-size, each batch posted twice half the time (a retry after a lost answer),
which central must count as duplicates. Reports {"agents", "predictions_per_s", "p95_ms", "errors"}.
"""

import argparse
import asyncio
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.ingest import bench_url, create_database, free_port

ROOT = Path(__file__).resolve().parent.parent
RESOLUTIONS = ("REPLACE_SFP", "CLEAN_FIBRE", "REBOOT_BASEBAND", "REPLACE_PSU", "WAIT_UTILITY_POWER")


def prepare(agents: int) -> list[str]:
    """Migrate, flush, create sites and enrol the agents; returns their raw tokens."""
    from django.core.management import call_command

    from ml import edge
    from repair_center.models import Site

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    sites = Site.objects.bulk_create(
        [Site(code=f"BENCH-{i:04d}", climate="coastal") for i in range(max(1, agents // 10))]
    )
    tokens = []
    for i in range(agents):
        _, enrolment = edge.enrolment_token_issue(site=sites[i % len(sites)])
        _, raw = edge.agent_enrol(token=enrolment, name=f"bench-{i}", capabilities={"cpu_cores": 2})
        tokens.append(raw)
    return tokens


def batch(agent: int, n: int) -> list[dict]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "idempotency_key": str(uuid.uuid4()),
            "source": "sim",
            "external_id": f"BENCH-{agent}-{uuid.uuid4().hex[:12]}",
            "model_version": "bench-1",
            "resolution": random.choice(RESOLUTIONS),
            "confidence": round(random.random(), 4),
            "latency_ms": round(random.uniform(0.3, 2.0), 3),
            "input_fingerprint": uuid.uuid4().hex * 2,
            "predicted_at": now,
        }
        for _ in range(n)
    ]


async def run_fleet(base: str, tokens: list[str], *, batches: int, batch_size: int, concurrency: int) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    accepted = duplicates = 0
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def call(token: str, path: str, body: dict) -> dict | None:
            async with gate:
                started = time.perf_counter()
                try:
                    response = await client.post(path, json=body, headers={"Authorization": f"Agent {token}"})
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
                {"backlog": batches * batch_size, "model_version": "bench-1"},
            )
            for _ in range(batches):
                predictions = batch(index, batch_size)
                for attempt in range(2 if random.random() < 0.5 else 1):
                    answer = await call(token, "/api/v1/edge/predictions/", {"predictions": predictions})
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=2, help="prediction batches per agent")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1) * 2))
    parser.add_argument("--json", dest="json_out")
    parser.add_argument("--database-url", help="Benchmark database (default: ticketai_bench_fleet).")
    args = parser.parse_args(argv)

    if not args.database_url and os.environ.get("DATABASE_URL"):
        from urllib.parse import urlparse, urlunparse

        args.database_url = urlunparse(
            urlparse(os.environ["DATABASE_URL"])._replace(path="/ticketai_bench_fleet")
        )
    url = bench_url(args)
    create_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketai.settings")
    os.environ.setdefault("TICKETAI_LOG_LEVEL", "WARNING")  # one enrolment line per agent is noise here
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    tokens = prepare(args.agents)

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="ticketai-fleet-") as tmp:
        env = {**os.environ, "DATABASE_URL": url, "TICKETAI_DEBUG": "false", "TICKETAI_DATA_DIR": tmp,
               "TICKETAI_LOG_LEVEL": "WARNING"}  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "ticketai.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", str(args.workers), "--timeout", "300"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            import httpx

            base = f"http://127.0.0.1:{port}"
            for _ in range(600):
                try:
                    if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                sys.exit("central did not start")
            results = asyncio.run(
                run_fleet(
                    base,
                    tokens,
                    batches=args.batches,
                    batch_size=args.batch_size,
                    concurrency=args.concurrency,
                )
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    results.update(
        batch_size=args.batch_size, workers=args.workers, load_average_1m=round(os.getloadavg()[0], 2)
    )
    print(json.dumps(results, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
