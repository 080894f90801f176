"""Ingestion benchmark: tickets per second through the file importer and through the bulk API.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x python -m benchmarks.ingest --tickets 100000 \
        --json out.json

It works in its own database (``<database>_bench`` beside DATABASE_URL's, created afresh
here; --database-url names another), generates simulator-like tickets (5 events, 2 codes each)
into a temporary JSONL file, loads a small catalogue, then times
  1. import_tickets_file in this process (peak RSS from getrusage), and
  2. POST /api/v1/tickets/bulk/ in batches of 1000 against a real server on 127.0.0.1,
with the database flushed in between so both start empty.
"""

import argparse
import json
import logging
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
VENDORS = ("nordlink", "skyward")
CODES = ("CPRI_LINK_DOWN", "SFP_RX_LOW", "VSWR_HIGH", "MAINS_FAIL", "GNSS_LOSS", "TEMP_HIGH", "SW_CRASH")
FIXES = ("REPLACE_SFP", "RESEAT_CPRI", "ROLLBACK_SW", "DISPATCH_POWER", "CLEAN_FILTER", "NO_ACTION")
KINDS = ("alarm_raised", "config_change", "kpi_breach", "weather", "alarm_cleared")


def bench_url(args, suffix: str = "bench") -> str:
    """The benchmark's database: --database-url, else ``<DATABASE_URL's name>_<suffix>`` on that server.

    Named after the configured database so two checkouts with their own DATABASE_URL never share one.
    """
    if args.database_url:
        url = args.database_url
    else:
        base = os.environ.get("DATABASE_URL", "")
        if not base:
            sys.exit("set DATABASE_URL (PostgreSQL) or give --database-url")
        url = sibling_database(base, suffix)
    if urlparse(url).scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit("the benchmark measures PostgreSQL; SQLite numbers would mislead")
    return url


def setup_django(args, **env) -> None:
    """Point Django at the benchmark database (created if missing), with these settings, and start it."""
    url = bench_url(args)
    create_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketai.settings")
    os.environ.update({name: str(value) for name, value in env.items() if value})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    logging.getLogger("celery").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def sibling_database(base: str, suffix: str) -> str:
    parsed = urlparse(base)
    return urlunparse(parsed._replace(path=f"/{parsed.path.lstrip('/') or 'ticketai'}_{suffix}"))


def create_database(url: str, *, fresh: bool = True) -> None:
    """Create the benchmark's database; ``fresh`` drops it first.

    A fresh database is migrated from nothing, so tables left by another branch's migrations (a
    column this checkout does not know, say) can never break a run.
    """
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = urlunparse(parsed._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def start_server(
    url: str, *, workers: int = 2, threads: int = 1, options: Sequence[str] = (), **env: str
) -> tuple[subprocess.Popen, int]:
    """gunicorn (production settings, ``workers`` x ``threads``, then ``options``) on a free port of
    127.0.0.1, over ``url``; ``env`` is added to this process's environment."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "ticketai.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--threads", str(threads), "--timeout", "300", *options]
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "TICKETAI_DEBUG": "false", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return server, port


def write_catalogue(folder: Path) -> None:
    (folder / "sites.csv").write_text(
        "code,name,region,climate,tier,latitude,longitude\n"
        + "".join(f"CS-{i:03d},Site {i},r{i % 5},coastal,cell-site,52.0,4.0\n" for i in range(50))
    )
    (folder / "elements.csv").write_text(
        "serial,site,name,kind,vendor,model,software_version,installed_on\n"
        + "".join(
            f"SN-{i:05d},CS-{i % 50:03d},ru{i},radio-unit,{VENDORS[i % 2]},X1,R21,2024-01-01\n"
            for i in range(500)
        )
    )
    (folder / "error_codes.csv").write_text(
        "code,domain,severity,description,recommended_checks\n"
        + "".join(f"{c},ran,major,{c},\n" for c in CODES)
    )
    (folder / "error_code_aliases.csv").write_text(
        "vendor,raw_code,code\n" + "".join(f"nordlink,NL-{7000 + i},{c}\n" for i, c in enumerate(CODES))
    )
    (folder / "resolutions.csv").write_text(
        "code,title,steps,needs_site_visit,typical_duration_minutes\n"
        + "".join(f'{f},{f.title()},"step one\nstep two",false,60\n' for f in FIXES)
    )


def write_tickets(path: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with open(path, "w") as out:
        for n in range(count):
            opened = start + timedelta(minutes=7 * n)
            codes = [rng.choice(CODES), f"NL-{7000 + rng.randrange(len(CODES))}"]
            events = [
                {
                    "at": (opened - timedelta(minutes=5 * (5 - k))).isoformat().replace("+00:00", "Z"),
                    "kind": KINDS[k],
                    "code": rng.choice(codes) if k == 0 else None,
                    "attrs": {"rx_dbm": round(rng.uniform(-25, -5), 1)} if k == 0 else {},
                }
                for k in range(5)
            ]
            doc = {
                "source": "sim",
                "external_id": f"SIM-{n:07d}",
                "title": f"{codes[0]} on sector {rng.randrange(1, 4)}",
                "description": "Alarm storm after maintenance window; link flapping, rx power low.",
                "status": "closed",
                "priority": rng.choice(("critical", "high", "medium", "low")),
                "opened_at": opened.isoformat().replace("+00:00", "Z"),
                "resolved_at": (opened + timedelta(hours=3)).isoformat().replace("+00:00", "Z"),
                "site": f"CS-{n % 50:03d}",
                "element": f"SN-{n % 500:05d}",
                "error_codes": codes,
                "events": events,
                "resolution": rng.choice(FIXES),
                "resolution_notes": "swapped unit, link up",
            }
            out.write(json.dumps(doc) + "\n")


def fresh_database(catalogue: Path) -> None:
    from django.core.management import call_command

    from repair_center.ingestion.catalogue import import_catalogue_dir

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    import_catalogue_dir(catalogue)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_up(client, tries: int = 300) -> bool:
    """Wait until the server behind ``client`` (httpx) answers /healthz; False if it never does."""
    import httpx

    for _ in range(tries):
        try:
            if client.get("/healthz").status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def bench_bulk_api(tickets_file: Path, url: str, batch_size: int) -> tuple[float | None, str]:
    import httpx
    from django.contrib.auth.models import Group, User

    from repair_center.models import ApiToken

    user = User.objects.create_user(username="bench")
    user.groups.add(Group.objects.get_or_create(name="integration")[0])  # flush removed it
    _, raw = ApiToken.issue(user=user, name="bench")
    server, port = start_server(url)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=300, headers={"Authorization": f"Token {raw}"}) as client:
            if not server_up(client):
                return None, "the server did not start"
            sent = 0
            started = time.perf_counter()
            with open(tickets_file) as lines:
                while True:
                    batch = [json.loads(line) for _, line in zip(range(batch_size), lines, strict=False)]
                    if not batch:
                        break
                    response = client.post("/api/v1/tickets/bulk/", json={"source": "sim", "tickets": batch})
                    if response.status_code != 200:
                        return None, f"bulk API answered {response.status_code}: {response.text[:200]}"
                    body = response.json()
                    if body["created"] != len(batch):
                        return None, f"bulk API did not create the batch: {json.dumps(body)[:300]}"
                    sent += len(batch)
            return sent / (time.perf_counter() - started), ""
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--json", dest="json_out", help="Write the results here.")
    parser.add_argument("--database-url", help="Benchmark database (default: <database>_bench).")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--skip-api", action="store_true", help="Only time the file importer.")
    args = parser.parse_args(argv)

    url = bench_url(args)
    create_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketai.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from repair_center.ingestion.files import import_tickets_file

    results: dict = {"tickets": args.tickets}
    with tempfile.TemporaryDirectory(prefix="ticketai-bench-") as tmp:
        folder = Path(tmp)
        write_catalogue(folder)
        tickets_file = folder / "tickets.jsonl"
        write_tickets(tickets_file, args.tickets)
        fresh_database(folder)

        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        report = import_tickets_file(tickets_file, source="sim", batch_size=args.batch_size)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        if report.created != args.tickets:
            sys.exit(f"the file import did not create every ticket: {report.summary()} {report.rejects[:3]}")
        results["file_import_tickets_per_s"] = round(args.tickets / elapsed, 1)
        results["peak_rss_mb"] = round(after.ru_maxrss / 1024, 1)
        # Context for noisy machines: memory before the import (flat memory means peak ~ this) and
        # the importer's own CPU per 1,000 tickets (the database server's share is not in it).
        results["rss_before_import_mb"] = round(before.ru_maxrss / 1024, 1)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        results["file_import_cpu_s_per_1000"] = round(1000 * cpu / args.tickets, 3)
        results["load_average_1m"] = round(os.getloadavg()[0], 2)

        if not args.skip_api:
            fresh_database(folder)
            rate, error = bench_bulk_api(tickets_file, url, args.batch_size)
            results["bulk_api_tickets_per_s"] = round(rate, 1) if rate else None
            if error:
                results["bulk_api_error"] = error

    print(json.dumps(results, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
