"""Web UI benchmark: server time of the queue and ticket pages with 100,000 tickets in the database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x python -m benchmarks.ui --tickets 100000 --json out.json

It works in its own database (``<database>_ui_bench`` beside DATABASE_URL's; --database-url
names another), loads the tickets once through the file importer (the same write path as every
other route; rerunning reuses them when the count matches), stores a recommendation row for every
ticket (a tenth of them unsure) as ml does in the background, assigns the open tickets to a team per
region (the benchmark's user is in one, and has every tenth of its tickets), vacuums and analyzes the tables
(what autovacuum does on a live server: planner statistics and the visibility map that index-only
scans need), then times each page through Django's test client (whole request: middleware,
session, queries, template), reporting the median, 95th percentile and worst of --repeat runs
after one warm-up, and the number of SQL queries.
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from benchmarks.ingest import create_database, sibling_database, write_catalogue, write_tickets

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 200.0


def bench_url(args) -> str:
    if args.database_url:
        return args.database_url
    base = os.environ.get("DATABASE_URL", "")
    if not base or urlparse(base).scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit("set DATABASE_URL to a PostgreSQL server or give --database-url")
    return sibling_database(base, "ui_bench")


def load(count: int) -> None:
    from django.core.management import call_command

    from repair_center.ingestion.catalogue import import_catalogue_dir
    from repair_center.ingestion.files import import_tickets_file
    from repair_center.models import Ticket

    call_command("migrate", verbosity=0)
    if Ticket.objects.count() == count:
        return
    call_command("flush", interactive=False, verbosity=0)
    with tempfile.TemporaryDirectory(prefix="ticketai-ui-bench-") as tmp:
        folder = Path(tmp)
        write_catalogue(folder)
        import_catalogue_dir(folder)
        tickets_file = folder / "tickets.jsonl"
        write_tickets(tickets_file, count)
        started = time.perf_counter()
        report = import_tickets_file(tickets_file, source="sim", batch_size=1000)
        print(f"loaded {report.created} tickets in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    # Half the tickets open, so status filters select realistic shares.
    Ticket.objects.filter(pk__in=Ticket.objects.order_by("pk").values("pk")[: count // 2]).update(
        status=Ticket.Status.ACKNOWLEDGED, resolution=None, resolved_at=None
    )


def assign() -> None:
    """A team per region owning its open tickets; the benchmark user is in the r1 team and is the
    assignee of every tenth of its tickets, so "My open" (the default queue) has real work in it."""
    from django.contrib.auth.models import Group, User

    from repair_center.models import AssignmentGroup, Ticket

    user, _ = User.objects.get_or_create(username="ui-bench")
    user.groups.add(Group.objects.get_or_create(name="engineer")[0])
    if AssignmentGroup.objects.exists():
        return
    open_tickets = Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES)
    for region in ("r0", "r1", "r2", "r3", "r4"):
        team = AssignmentGroup.objects.create(name=f"Crew {region}")
        open_tickets.filter(site__region=region).update(assignment_group=team)
        if region == "r1":
            team.members.add(user)
            mine = open_tickets.filter(assignment_group=team).values_list("pk", flat=True)
            Ticket.objects.filter(pk__in=list(mine)[::10]).update(assignee=user, status="inProgress")


def store_recommendations() -> None:
    """One stored recommendation per ticket, as ml.tasks.recommend_tickets leaves them."""
    from ml.models import ModelVersion
    from ml.models.recommendations import Recommendation
    from repair_center.models import Ticket

    if Recommendation.objects.exists():
        return
    version = ModelVersion.objects.create(
        base_model="bench",
        data_fingerprint="b" * 64,
        artifact_path="/nowhere",
        format_version=1,
        serialization_version=1,
        status=ModelVersion.Status.CANDIDATE,
    )
    rng = random.Random(11)
    fixes = ("REPLACE_SFP", "RESEAT_CPRI", "ROLLBACK_SW", "DISPATCH_POWER")
    batch = []
    for ticket_id, revision in Ticket.objects.values_list("pk", "revision").iterator(chunk_size=5000):
        abstained = rng.random() < 0.1
        batch.append(
            Recommendation(
                ticket_id=ticket_id,
                ticket_revision=revision,
                model_version=version,
                payload={},
                abstained=abstained,
                top_resolution=rng.choice(fixes),
                top_confidence=rng.uniform(0.2, 0.5) if abstained else rng.uniform(0.6, 0.99),
            )
        )
        if len(batch) == 5000:
            Recommendation.objects.bulk_create(batch)
            batch = []
    Recommendation.objects.bulk_create(batch)


def settle() -> None:
    """VACUUM ANALYZE, as autovacuum would have done by now on a server that has it switched on."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def time_pages(repeat: int) -> dict:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from repair_center.models import Ticket

    user = User.objects.get(username="ui-bench")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    ticket = Ticket.objects.filter(assignee=user).order_by("-pk").first()  # an open one of mine
    pages = {
        # The default queue: open tickets assigned to me or my groups, most urgent first.
        "queue (default: my open)": ("/", {}),
        "queue, my groups": ("/", {"view": "my_groups"}),
        "queue, unassigned": ("/", {"view": "unassigned"}),
        "queue, needs an expert": ("/", {"view": "needs_expert"}),
        "queue, breaching SLA": ("/", {"view": "breaching"}),
        "queue, all": ("/", {"view": "all"}),
        "queue, open and high priority, by priority": (
            "/",
            {"view": "all", "status": "acknowledged", "priority": "high", "sort": "priority"},
        ),
        "queue, one site": ("/", {"view": "all", "site": "CS-007"}),
        "queue, site prefix": ("/", {"view": "all", "site": "cs-00"}),
        "queue, region": ("/", {"view": "all", "region": "r3"}),
        "queue, error code": ("/", {"view": "all", "error_code": "NL-7003"}),
        # A code no ticket carries: every ticket has to be ruled out, the other worst case.
        "queue, error code nobody has": ("/", {"view": "all", "error_code": "NL-7999"}),
        "queue, text search": ("/", {"view": "all", "q": "sector 2"}),
        "queue, text search, a spelling variant": ("/", {"view": "all", "q": "fiber"}),
        "queue, text search in my open": ("/", {"q": "rx power"}),
        "queue, text search for one ticket": ("/", {"view": "all", "q": "sim-0012345"}),
        "queue, page 1000": ("/", {"view": "all", "page": "1000"}),
        "ticket page": (f"/tickets/{ticket.pk}/", {}),
    }
    out = {}
    for name, (url, params) in pages.items():
        response = client.get(url, params)  # warm-up (connection, caches, plans)
        assert response.status_code == 200, (name, response.status_code)
        times = []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                client.get(url, params)
                times.append((time.perf_counter() - started) * 1000)
        out[name] = {
            "median_ms": round(statistics.median(times), 1),
            "p95_ms": round(statistics.quantiles(times, n=20, method="inclusive")[18], 1),
            "max_ms": round(max(times), 1),
            "queries": len(queries.captured_queries),
        }
        print(
            f"{name:45s} {out[name]['median_ms']:7.1f} ms median {out[name]['p95_ms']:7.1f} ms p95"
            f" {out[name]['max_ms']:7.1f} ms max",
            file=sys.stderr,
        )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", dest="json_out", help="Write the results here.")
    parser.add_argument("--database-url", help="Benchmark database (default: <database>_ui_bench).")
    args = parser.parse_args(argv)
    if args.repeat < 2:
        parser.error("--repeat must be at least 2 (a percentile needs two timings)")

    url = bench_url(args)
    create_database(url, fresh=False)  # reruns reuse the 100,000 tickets
    os.environ["DATABASE_URL"] = url
    # Ticket writes announce themselves to ml; without a server broker those messages stay in a
    # throwaway folder instead of reaching a real worker's queue.
    os.environ.pop("REDIS_URL", None)
    os.environ["TICKETAI_DATA_DIR"] = tempfile.mkdtemp(prefix="ticketai-ui-bench-data-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketai.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    load(args.tickets)
    assign()
    store_recommendations()
    settle()
    load_before = round(os.getloadavg()[0], 2)
    results = {"tickets": args.tickets, "target_ms": TARGET_MS, "pages": time_pages(args.repeat)}
    results["load_average_1m_before"] = load_before
    results["all_under_target"] = all(p["median_ms"] < TARGET_MS for p in results["pages"].values())
    results["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
