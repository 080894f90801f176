"""Alarm storm benchmark: TMF642 alarms per second from one client, and proof that none were lost.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x python -m benchmarks.alarms --alarms 40000

It works in its own database (``ticketai_bench`` on the DATABASE_URL server, flushed here), starts a
real server (gunicorn, 2 workers) on 127.0.0.1 and plays one fault-management system in a storm:
every alarm raised, then a fifth of them cleared again, sent in order by one client, in batches
through ``POST /tmf-api/alarm/v4/alarm/bulk`` and, for comparison, one by one through
``POST /tmf-api/alarm/v4/alarm``. Afterwards every sent alarm must be stored once, in its last
state ("lost" counts those that are not). Goal (issue 19): at least 2,000 alarms/s, nothing lost.
"""

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.ingest import bench_url, server_up, setup_django, start_server

CAUSES = ("lossOfSignal", "powerProblem", "temperatureUnacceptable", "equipmentMalfunction", "timingProblem")


def storm(count: int, elements: int, seed: int = 11) -> list[dict]:
    """``count`` raises on ``elements`` elements, then clears of every fifth, in time order."""
    import random

    rng = random.Random(seed)
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    raises = []
    for n in range(count):
        at = start + timedelta(milliseconds=n * 3)
        raises.append(
            {
                "externalAlarmId": f"STORM-{n}",
                "sourceSystemId": "oss-storm",
                "alarmedObject": {"id": f"EL-{rng.randrange(elements)}"},
                "state": "raised",
                "alarmType": "Communications Alarm",
                "perceivedSeverity": rng.choice(("critical", "major", "minor", "warning")),
                "probableCause": rng.choice(CAUSES),
                "specificProblem": f"NL-{rng.randrange(40):04d}",
                "alarmRaisedTime": at.isoformat().replace("+00:00", "Z"),
            }
        )
    clears = []
    for body in raises[::5]:
        cleared = datetime.fromisoformat(body["alarmRaisedTime"].replace("Z", "+00:00")) + timedelta(
            minutes=5
        )
        when = cleared.isoformat().replace("+00:00", "Z")
        clears.append({**body, "state": "cleared", "alarmClearedTime": when, "alarmChangedTime": when})
    return raises + clears


def expected_states(messages: list[dict]) -> dict[str, str]:
    last = {}
    for body in messages:
        last[body["externalAlarmId"]] = body["state"]
    return last


def send(client, messages: list[dict], batch_size: int, concurrency: int = 1) -> tuple[float, list[str]]:
    """Seconds to send ``messages`` (batches, or one by one when batch_size is 1) and any errors.

    With ``concurrency`` > 1 the client keeps that many requests in flight, as a fault-management
    system with a connection pool does; a clear may then arrive before its raise, which the server
    must order by alarm time."""
    from concurrent.futures import ThreadPoolExecutor

    def post(batch: list[dict]) -> str:
        if batch_size == 1:
            response = client.post("/tmf-api/alarm/v4/alarm", json=batch[0])
            ok = response.status_code in (200, 201)
        else:
            response = client.post("/tmf-api/alarm/v4/alarm/bulk", json={"alarms": batch})
            ok = response.status_code == 200 and response.json()["rejected"] == 0
        return "" if ok else f"{response.status_code}: {response.text[:200]}"

    batches = [messages[i : i + batch_size] for i in range(0, len(messages), batch_size)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        errors = [e for e in pool.map(post, batches) if e]
    return time.perf_counter() - started, errors


def check(messages: list[dict]) -> dict:
    from repair_center.models import Alarm

    want = expected_states(messages)
    stored = dict(Alarm.objects.filter(external_id__in=list(want)).values_list("external_id", "state"))
    lost = sum(1 for key, state in want.items() if stored.get(key) != state)
    return {"alarms": len(want), "stored": len(stored), "lost": lost}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--alarms", type=int, default=40_000, help="Alarms raised (a fifth are cleared again)."
    )
    parser.add_argument("--elements", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1, help="Requests the client keeps in flight.")
    parser.add_argument(
        "--single", type=int, default=1000, help="Alarms sent one per request, for comparison."
    )
    parser.add_argument("--database-url", help="Benchmark database (default: ticketai_bench).")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)

    url = bench_url(args)
    setup_django(args)
    import httpx
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from repair_center.models import ApiToken

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    user = User.objects.create_user(username="fm-bench")
    user.groups.add(Group.objects.get_or_create(name="fault_management")[0])
    _, raw = ApiToken.issue(user=user, name="bench")
    messages = storm(args.alarms, args.elements)
    single = [
        {**m, "externalAlarmId": f"ONE-{i}", "sourceSystemId": "oss-one"}
        for i, m in enumerate(messages[: args.single])
    ]
    server, port = start_server(url, TICKETAI_LOG_LEVEL="WARNING")
    results: dict = {
        "alarms_raised": args.alarms,
        "clears": len(messages) - args.alarms,
        "messages": len(messages),
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
    }
    try:
        headers = {"Authorization": f"Token {raw}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300, headers=headers) as client:
            if not server_up(client):
                sys.exit("the server did not start")
            seconds, errors = send(client, messages, args.batch_size, args.concurrency)
            results["bulk_alarms_per_s"] = round(len(messages) / seconds, 1)
            results["bulk_seconds"] = round(seconds, 2)
            results["bulk_errors"] = errors[:5]
            results["bulk_check"] = check(messages)
            if single:
                seconds, errors = send(client, single, 1)
                results["single_alarms_per_s"] = round(len(single) / seconds, 1)
                results["single_errors"] = errors[:5]
                results["single_check"] = check(single)
    finally:
        server.terminate()
        server.wait(timeout=30)
    results["load_average_1m"] = round(os.getloadavg()[0], 2)
    results["goal_met"] = results.get("bulk_alarms_per_s", 0) >= 2000 and results["bulk_check"]["lost"] == 0
    print(json.dumps(results, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
