"""Grouping benchmark: alarm groups against the simulator's ground truth.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x python -m benchmarks.grouping --tickets 5000

It works in its own database (``ticketai_bench``, flushed here), loads the simulator's catalogue and
sends its TMF642 alarm stream in time order through alarms_upsert, with the grouping task run in
process after each batch, as the worker would. Every alarm came from one simulated incident (a
ticket, with one hidden root cause); two alarms "share a root cause" when they came from the same
incident. Pairwise precision: of the pairs put in one group, the share that share a root cause;
recall: of the pairs that share one, the share put in one group. Goal (issue 19): precision >= 0.9.
Also reported: how often the group's probable root is an alarm of the group's main incident whose
code is that incident's first alarm.
"""

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.ingest import setup_django


def pairs(counts) -> int:
    return sum(n * (n - 1) // 2 for n in counts)


def score(assigned: dict[str, int], truth: dict[str, str]) -> dict:
    """Pairwise precision and recall of groups (alarm -> group) against incidents (alarm -> incident)."""
    both = Counter((assigned[a], truth[a]) for a in assigned)
    predicted = pairs(Counter(assigned.values()).values())
    actual = pairs(Counter(truth[a] for a in assigned).values())
    agreed = pairs(both.values())
    return {
        "pairs_grouped": predicted,
        "pairs_same_root_cause": actual,
        "precision": round(agreed / predicted, 4) if predicted else None,
        "recall": round(agreed / actual, 4) if actual else None,
    }


def run(args) -> dict:
    from django.core.management import call_command

    from repair_center.ingestion.catalogue import import_catalogue_dir
    from repair_center.models import Alarm, AlarmGroup
    from repair_center.services.alarms import alarms_upsert
    from repair_center.simulator.alarm_stream import write_alarm_stream
    from repair_center.simulator.generator import SimulationConfig
    from ticketai.celery import app

    app.conf.task_always_eager = True
    results: dict = {"tickets": args.tickets, "window_minutes": args.window_minutes}
    with tempfile.TemporaryDirectory(prefix="ticketai-group-") as tmp:
        call_command("migrate", verbosity=0)
        call_command("flush", interactive=False, verbosity=0)
        counts = write_alarm_stream(SimulationConfig(tickets=args.tickets, seed=args.seed), tmp)
        import_catalogue_dir(Path(tmp))
        messages = [json.loads(line) for line in (Path(tmp) / "alarms.jsonl").read_text().splitlines()]
        truth_rows = [json.loads(line) for line in (Path(tmp) / "alarm_truth.jsonl").read_text().splitlines()]
    started = time.monotonic()
    for start in range(0, len(messages), args.batch_size):
        alarms_upsert(documents=messages[start : start + args.batch_size])
    results["seconds"] = round(time.monotonic() - started, 1)
    results["alarms"] = counts["alarms"]
    truth = {row["externalAlarmId"]: row["ticket"] for row in truth_rows}
    assigned = dict(Alarm.objects.filter(group__isnull=False).values_list("external_id", "group_id"))
    results["grouped_alarms"] = len(assigned)
    results["groups"] = AlarmGroup.objects.count()
    results["alarms_per_group"] = round(len(assigned) / max(results["groups"], 1), 2)
    results |= score(assigned, truth)
    # The root: is it an alarm of the incident most of the group came from, raised first in it?
    first_of_incident: dict[str, tuple] = {}
    for ext, raised in Alarm.objects.values_list("external_id", "raised_at"):
        incident = truth.get(ext)
        if incident and (incident not in first_of_incident or raised < first_of_incident[incident][1]):
            first_of_incident[incident] = (ext, raised)
    multi = AlarmGroup.objects.filter(size__gt=1).select_related("root")
    right = total = 0
    by_reason = Counter()
    for group in multi:
        members = list(group.alarms.values_list("external_id", flat=True))
        main = Counter(truth[m] for m in members).most_common(1)[0][0]
        total += 1
        by_reason[group.root_reason] += 1
        right += group.root is not None and group.root.external_id == first_of_incident[main][0]
    results["groups_of_several"] = total
    results["root_is_first_alarm_of_main_incident"] = round(right / total, 4) if total else None
    results["root_reasons"] = dict(by_reason)
    results["goal_met"] = results["precision"] is not None and results["precision"] >= 0.9
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--window-minutes", type=int, default=None, help="Grouping window (default: the setting's)."
    )
    parser.add_argument("--database-url", help="Benchmark database (default: ticketai_bench).")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)

    setup_django(args, TICKETAI_GROUPING_WINDOW_MINUTES=args.window_minutes)
    from django.conf import settings

    args.window_minutes = settings.TICKETAI_GROUPING_WINDOW_MINUTES
    results = run(args)
    print(json.dumps(results, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
