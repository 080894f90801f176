"""Correlation benchmark: does the model lose anything when a ticket's alarms come from the TMF642 alarm
stream (correlation) instead of inside the ticket?

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x python -m benchmarks.correlation --tickets 6000

It works in its own database (``ticketai_bench``, flushed here) and loads the simulator's catalogue.
Then the same simulated tickets go in twice, through the real write paths:
  inline      every ticket with its alarm events inside it (tickets_upsert), as the simulator writes them;
  correlated  the world as a fault-management system and a ticketing system see it: the TMF642 alarm
              stream (alarms_upsert, with the correlation task run in process) and tickets without alarm
              events, interleaved in time order, so alarms reach tickets both when a ticket is written
              and when they arrive after it.
Each set is read back as the model reads tickets (ml.core.dataset.build_dataset), split by time
(newest 20% held out), and a TF-IDF + logistic-regression model on the full model input is trained
on the older part and scored on the held-out part. Goal (issue 19): the correlated macro-F1 at most
1 point below the inline one. "without_alarms" scores tickets that lost their alarm events and got
none back, to show what the events are worth.

One simulated world's figure is not enough to decide that: the points lost move by more than 1 from
one world seed to the next, and resampling one run's held-out tickets (``held_out_noise``, a paired
bootstrap) spreads them by about as much. ``--seeds 3 4 5`` runs each world in turn and reports the
mean and spread of the points lost.

``--save DIR`` also writes each world as it stood after the correlated load, so that a change to the
correlation rule can be scored again in about a minute a world, without loading the world again
(``python -m benchmarks.correlation_replay DIR``).
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.ingest import setup_django

MIN_CLASS_COUNT = 5
ROUNDS = 1000  # bootstrap resamples of each world's held-out tickets
# The simulator's precursors (fibre flaps, licence warnings) mostly go back up to 15 days: under the
# product's default window (one day) correlation cuts them, and the benchmark would measure the window
# instead. A few go further (feeder-corrosion VSWR warnings up to 40 days), but a 40-day window lost as
# much (other incidents' older alarms come in with them; docs/benchmarks.md).
SIMULATOR_WINDOW_MINUTES = 15 * 24 * 60


def _score(examples: list, *, held_fraction: float = 0.2) -> dict:
    """Train on the older part, score the newest ``held_fraction``; the held-out predictions come
    back under ``"_held"`` (external id, label, prediction) for the paired comparison."""
    from benchmarks.ablation import _tfidf
    from ml.training import evaluation

    examples = sorted(examples, key=lambda e: (e.opened_at, e.ticket_id))
    cut = int(len(examples) * (1 - held_fraction))
    train, held = examples[:cut], examples[cut:]
    counts = Counter(e.label for e in train)
    labels = sorted(label for label, n in counts.items() if n >= MIN_CLASS_COUNT)
    train = [e for e in train if e.label in labels]
    held = [e for e in held if e.label in labels]
    _, _, proba = _tfidf([e.text for e in train], [e.label for e in train], [e.text for e in held], labels)
    metrics = evaluation.report([e.label for e in held], proba, labels)
    predicted = [labels[i] for i in proba.argmax(axis=1)] if len(held) else []
    return {
        "train": len(train),
        "held_out": len(held),
        "macro_f1": round(metrics["macro_f1"], 4),
        "accuracy": round(metrics["accuracy"], 4),
        "_held": [(e.document["external_id"], e.label, p) for e, p in zip(held, predicted, strict=True)],
    }


def paired_bootstrap(first: list[tuple], second: list[tuple], *, rounds: int = ROUNDS, seed: int = 0) -> dict:
    """Macro-F1 points the second scorer loses to the first, on the same held-out tickets resampled
    with replacement: the spread a held-out set of this size gives the difference on its own. The
    rounds' losses, in drawing order, come back under ``"_rounds"`` for ``mean_interval``."""
    import random

    import numpy as np

    from ml.serving.ensemble import accuracy_macro_f1

    second_of = {ticket: predicted for ticket, _, predicted in second}
    rows = [(label, mine, second_of[ticket]) for ticket, label, mine in first if ticket in second_of]
    if not rows:
        return {}
    classes = {name: i for i, name in enumerate(sorted({name for row in rows for name in row}))}
    truth, mine, theirs = (np.array([classes[row[k]] for row in rows]) for k in range(3))
    votes = np.eye(len(classes))  # one row per class: a prediction as the probabilities argmax reads
    rng = random.Random(seed)
    lost = []
    for _ in range(rounds):
        sample = np.array([rng.randrange(len(rows)) for _ in rows])
        y = truth[sample]
        ours, other = (
            accuracy_macro_f1(y, votes[mine[sample]])[1],
            accuracy_macro_f1(y, votes[theirs[sample]])[1],
        )
        lost.append(100 * (ours - other))
    drawn = list(lost)
    lost.sort()
    return {
        "_rounds": drawn,
        "tickets": len(rows),
        "points_lost_sd": round(statistics.pstdev(lost), 2),
        "points_lost_95": [round(lost[int(0.025 * rounds)], 2), round(lost[int(0.975 * rounds) - 1], 2)],
        "share_within_1_point": round(sum(x <= 1.0 for x in lost) / rounds, 3),
    }


def _dataset(source: str) -> list:
    from ml.core.dataset import build_dataset

    return build_dataset(sources=[source]).examples


def _event_stats(source: str) -> dict:
    from django.db.models import Count, Q

    from repair_center.models import Ticket, TicketEvent

    tickets = Ticket.objects.filter(source=source).count()
    events = TicketEvent.objects.filter(ticket__source=source).aggregate(
        all=Count("id"),
        alarms=Count("id", filter=Q(kind__in=["alarm_raised", "alarm_cleared"])),
        site=Count("id", filter=Q(attrs__scope="site")),
    )
    return {
        "events_per_ticket": round(events["all"] / max(tickets, 1), 2),
        "alarm_events_per_ticket": round(events["alarms"] / max(tickets, 1), 2),
        "site_scope_share": round(events["site"] / max(events["alarms"], 1), 3),
    }


def interleaved(tickets: list[dict], messages: list[dict], *, hours: int):
    """(kind, batch) in time order, a slice of ``hours`` at a time: the alarm messages sent in the slice,
    then the tickets opened in it. A ticket gets its earlier alarms when it is written and the later
    ones (clears, follow-ups) when they arrive, through the correlation task."""
    from repair_center.documents import parse_timestamp

    def slot(stamp: str) -> int:
        return int(parse_timestamp(stamp).timestamp() // (hours * 3600))

    slices: dict[int, tuple[list, list]] = {}
    for message in messages:
        slices.setdefault(slot(message.get("alarmChangedTime") or message["alarmRaisedTime"]), ([], []))[
            0
        ].append(message)
    for ticket in tickets:
        slices.setdefault(slot(ticket["opened_at"]), ([], []))[1].append(ticket)
    for key in sorted(slices):
        alarms, opened = slices[key]
        if alarms:
            yield "alarm", alarms
        if opened:
            yield "ticket", opened


def run(args, seed: int) -> dict:
    from django.core.management import call_command

    from repair_center.ingestion.catalogue import import_catalogue_dir
    from repair_center.models import Ticket
    from repair_center.services.alarms import alarms_upsert
    from repair_center.services.tickets import tickets_upsert
    from repair_center.simulator.alarm_stream import split_ticket, write_alarm_stream
    from repair_center.simulator.catalogue import aliases
    from repair_center.simulator.generator import SimulationConfig, TicketGenerator
    from ticketai.celery import app

    app.conf.task_always_eager = True  # the correlation task runs in process, after each alarm batch
    config = SimulationConfig(tickets=args.tickets, seed=seed)
    results: dict = {
        "seed": seed,
        "tickets": args.tickets,
        "window_minutes": args.window_minutes,
        "slice_hours": args.slice_hours,
    }
    with tempfile.TemporaryDirectory(prefix="ticketai-corr-") as tmp:
        call_command("migrate", verbosity=0)
        call_command("flush", interactive=False, verbosity=0)
        write_alarm_stream(config, tmp)
        import_catalogue_dir(Path(tmp))
    curated_of = {raw: code for (_, code), raw in aliases(drift=False).items()}
    inline, bare, messages, owners = [], [], [], {}
    for doc, truth, _ in TicketGenerator(config):
        alarms, ticket, alarm_truth = split_ticket(doc, truth, curated_of)
        owners.update((row["externalAlarmId"], row["ticket"]) for row in alarm_truth)
        inline.append({**doc, "source": "inline"})
        bare.append({**ticket, "source": "bare"})
        messages += alarms

    started = time.monotonic()
    for start in range(0, len(inline), 1000):
        tickets_upsert(documents=inline[start : start + 1000], source="inline")
    tickets_upsert(documents=bare, source="bare")  # before any alarm exists: no events come back
    results["inline_load_s"] = round(time.monotonic() - started, 1)
    inline_examples = _dataset("inline")
    scores = {"inline": _score(inline_examples), "without_alarms": _score(_dataset("bare"))}
    stats = {"inline": _event_stats("inline")}
    # Scored: out of the way, so the correlation task does not recorrelate their copies too.
    Ticket.objects.filter(source__in=["inline", "bare"]).delete()

    started = time.monotonic()
    correlated = [{**t, "source": "correlated"} for t in bare]
    for kind, batch in interleaved(correlated, messages, hours=args.slice_hours):
        if kind == "ticket":
            tickets_upsert(documents=batch, source="correlated")
        else:
            rejected = [r for r in alarms_upsert(documents=batch) if r.status == "rejected"]
            if rejected:
                sys.exit(f"alarms rejected: {rejected[0].to_json()}")
    results["correlated_load_s"] = round(time.monotonic() - started, 1)
    results["alarm_messages"] = len(messages)
    correlated_examples = _dataset("correlated")
    scores["correlated"] = _score(correlated_examples)
    if args.save:
        from benchmarks.correlation_replay import save_world

        save_world(
            Path(args.save) / f"world-{seed}.json.gz", results, inline_examples, correlated_examples, owners
        )
    stats["correlated"] = _event_stats("correlated")

    held = {name: score.pop("_held") for name, score in scores.items()}
    results["scores"] = scores
    results["events"] = stats
    delta = 100 * (scores["inline"]["macro_f1"] - scores["correlated"]["macro_f1"])
    results["macro_f1_points_lost"] = round(delta, 2)
    results["goal_met"] = delta <= 1.0
    noise = paired_bootstrap(held["inline"], held["correlated"], seed=seed)
    results["_rounds"] = noise.pop("_rounds", None)
    results["held_out_noise"] = noise
    return results


def public(run: dict) -> dict:
    """A run as reported: without the bootstrap rounds kept for the summary."""
    return {key: value for key, value in run.items() if not key.startswith("_")}


def mean_interval(rounds: list[list[float] | None]) -> dict:
    """The mean over worlds of the points lost, with each world's held-out tickets resampled: round i
    of every world's bootstrap (drawn independently) makes one resampled mean. Its 95% interval and
    share within the goal say how sure the mean's verdict is, given the held-out sets' size."""
    if len(rounds) < 2 or any(not r for r in rounds):
        return {}
    means = sorted(statistics.fmean(column) for column in zip(*rounds, strict=True))
    return {
        "points_lost_mean_95": [
            round(means[int(0.025 * len(means))], 2),
            round(means[int(0.975 * len(means)) - 1], 2),
        ],
        "points_lost_mean_share_within_1_point": round(sum(m <= 1.0 for m in means) / len(means), 3),
    }


def summary(runs: list[dict]) -> dict:
    """Points lost per world seed, their mean and spread: one seed's figure moves by more than the
    goal's 1 point from one simulated world to the next."""
    lost = [r["macro_f1_points_lost"] for r in runs]
    return {
        **mean_interval([r.get("_rounds") for r in runs]),
        "seeds": [r["seed"] for r in runs],
        "points_lost": lost,
        "points_lost_mean": round(statistics.fmean(lost), 2),
        "points_lost_sd": round(statistics.stdev(lost), 2) if len(lost) > 1 else None,
        "inline_macro_f1_mean": round(statistics.fmean(r["scores"]["inline"]["macro_f1"] for r in runs), 4),
        "correlated_macro_f1_mean": round(
            statistics.fmean(r["scores"]["correlated"]["macro_f1"] for r in runs), 4
        ),
        "goal_met_on_mean": statistics.fmean(lost) <= 1.0,
        "goal_met_on_every_seed": all(x <= 1.0 for x in lost),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=6000)
    parser.add_argument(
        "--seed", "--seeds", dest="seeds", type=int, nargs="+", default=[3], help="World seeds, one run each."
    )
    parser.add_argument(
        "--window-minutes",
        type=int,
        default=SIMULATOR_WINDOW_MINUTES,
        help="Correlation window (default: 15 days, the simulator's oldest precursors).",
    )
    parser.add_argument("--slice-hours", type=int, default=24, help="Stream time written per step.")
    parser.add_argument("--database-url", help="Benchmark database (default: ticketai_bench).")
    parser.add_argument("--json", dest="json_out")
    parser.add_argument(
        "--save",
        metavar="DIR",
        help="Also write each world (alarms, tickets, both arms) to DIR, for benchmarks.correlation_replay.",
    )
    args = parser.parse_args(argv)

    setup_django(args, TICKETAI_CORRELATION_WINDOW_MINUTES=args.window_minutes)
    from django.conf import settings

    args.window_minutes = settings.TICKETAI_CORRELATION_WINDOW_MINUTES
    runs = []
    for seed in args.seeds:
        runs.append(run(args, seed))
        print(f"seed {seed}: {runs[-1]['macro_f1_points_lost']} macro-F1 points lost", file=sys.stderr)
        shown = [public(r) for r in runs]
        results = shown[0] if len(args.seeds) == 1 else {"summary": summary(runs), "runs": shown}
        if args.json_out:  # after each seed: a long run that stops keeps the seeds it finished
            Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
