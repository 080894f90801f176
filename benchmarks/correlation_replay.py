"""Score saved correlation worlds again under the correlation rule as it stands now.

    python -m benchmarks.correlation --seeds 3 4 5 6 7 --save /tmp/worlds   # once, about 10 minutes
    python -m benchmarks.correlation_replay /tmp/worlds [--json out.json]   # after each rule change

A world saved by ``benchmarks.correlation --save`` holds what correlation reads (the stored alarms, the
correlated tickets' spans, the fixes on their elements and sites, the domains of the curated codes)
and both arms' examples. The replay chooses each ticket's alarm events with
``repair_center.services.correlation.choose`` (the rule the product runs, without the database),
merges them with the ticket's own events as the write path does, serialises the tickets as training
reads them and scores both arms as the benchmark does. With the rule unchanged it gives the
benchmark's figures to the last digit; the inline arm is scored from its saved model input.

``--truth`` also scores two arms that only a simulated world allows: every ticket given exactly its own
alarms (the simulator's truth, rendered as correlation renders them), and the rule's choice with
other incidents' alarms kept out of the model input. They show how much of the loss is ownership
(which incident an alarm belongs to) and how much is the rendering.

The replay sees the world as the load left it: every alarm and every fix is known. That is what the
benchmark scores too (it reads the tickets back after the whole stream), so the figures compare;
what they do not show is a rule that changes which alarms a ticket is given while it is written.
"""

import argparse
import gzip
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

FORMAT = 2
TIME_KEYS = ("raised_at", "cleared_at", "opened_at", "until", "resolved_at")


@dataclass(frozen=True, slots=True)
class Replayed:
    """What benchmarks.correlation._score reads of an example."""

    ticket_id: int
    label: str
    text: str
    opened_at: datetime
    document: dict = field(repr=False)


def _dump(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _times(row: dict) -> dict:
    from repair_center.documents import parse_timestamp

    return {
        key: parse_timestamp(value) if key in TIME_KEYS and value else value for key, value in row.items()
    }


def save_world(path: Path, results: dict, inline: list, correlated: list, owners: dict[str, str]) -> None:
    """Write one world: what correlation read for the correlated tickets, both arms' examples, and the
    simulator's truth of which ticket each alarm (by external id) belongs to."""
    from repair_center.models import Alarm, ErrorCode, Ticket
    from repair_center.services import correlation

    tickets = Ticket.objects.filter(source="correlated")
    codes = correlation.code_ids_of(tickets.values_list("id", flat=True))
    spans = [correlation.Span.of(t, codes.get(t.pk, ())) for t in tickets.order_by("id")]
    world = {
        "format": FORMAT,
        "seed": results["seed"],
        "tickets": results["tickets"],
        "window_minutes": results["window_minutes"],
        "alarms": list(
            Alarm.objects.order_by("raised_at", "id").values(*correlation.ALARM_FIELDS, "external_id")
        ),
        "owners": owners,
        "spans": [
            {
                **{k: getattr(s, k) for k in ("id", "element_id", "site_id", "opened_at", "until")},
                "code_ids": sorted(s.code_ids),
            }
            for s in spans
        ],
        "fixes": [
            dict(zip(("id", "element_id", "site_id", "resolved_at"), row, strict=True))
            for row in tickets.exclude(resolved_at=None).values_list(
                "id", "element_id", "site_id", "resolved_at"
            )
        ],
        "codes": {
            str(pk): [code, domain]
            for pk, code, domain in ErrorCode.objects.values_list("id", "code", "domain")
        },
        "inline": [_example(e, text=True) for e in inline],
        "correlated": [_example(e, text=False) for e in correlated],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as out:
        json.dump(world, out, default=_dump)


def _example(example, *, text: bool) -> dict:
    row = {
        "ticket_id": example.ticket_id,
        "label": example.label,
        "opened_at": example.opened_at,
        "document": example.document,
    }
    if text:
        return {**row, "text": example.text}
    return {**row, "context": example.context, "code_map": example.code_map}


def load_world(path: Path) -> dict:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        world = json.load(handle)
    if world.get("format") != FORMAT:
        sys.exit(f"{path}: saved in format {world.get('format')}, this replay reads {FORMAT}")
    for key in ("alarms", "spans", "fixes", "inline", "correlated"):
        world[key] = [_times(row) for row in world[key]]
    return world


def rule_events(world: dict) -> dict:
    """Each correlated ticket's alarm events (by ticket id), chosen by the current rule."""
    from datetime import timedelta

    from repair_center.services import correlation

    spans = [correlation.Span(**{**row, "code_ids": frozenset(row["code_ids"])}) for row in world["spans"]]
    return correlation.choose(
        spans,
        world["alarms"],
        domains={int(pk): domain for pk, (_, domain) in world["codes"].items()},
        fixes=[(f["id"], f["element_id"], f["site_id"], f["resolved_at"]) for f in world["fixes"]],
        before=timedelta(minutes=world["window_minutes"]),
    )


def true_owner_events(world: dict) -> dict:
    """Each ticket's own alarms by the simulator's truth, rendered as correlation renders them: what
    a rule that always knew an alarm's incident would give."""
    from repair_center.services import correlation

    ticket_of = {row["document"]["external_id"]: row["ticket_id"] for row in world["correlated"]}
    until = {row["id"]: row["until"] for row in world["spans"]}
    out: dict = {}
    for alarm in world["alarms"]:
        ticket_id = ticket_of.get(world["owners"].get(alarm["external_id"]))
        if ticket_id is not None:
            out.setdefault(ticket_id, []).extend(
                correlation._events(alarm, "element", until=until.get(ticket_id))
            )
    return out


def without_foreign(world: dict, chosen: dict) -> dict:
    """The rule's choice with other incidents' alarms (by the simulator's truth) kept out of the model
    input, as correlation keeps out those it marks unrelated."""
    ext_of = {row["ticket_id"]: row["document"]["external_id"] for row in world["correlated"]}
    owner = {a["id"]: world["owners"].get(a["external_id"]) for a in world["alarms"]}
    return {
        ticket_id: [
            (
                *row[:4],
                {**row[4], "unrelated": True}
                if owner.get(row[4]["alarm"]) != ext_of.get(ticket_id)
                else row[4],
            )
            for row in rows
        ]
        for ticket_id, rows in chosen.items()
    }


def correlated_examples(world: dict, chosen: dict) -> list[Replayed]:
    """The correlated arm as training would read it, with these alarm events (by ticket id)."""
    from edge_agent.serialization import serialize
    from repair_center.documents import parse_timestamp
    from repair_center.services import correlation

    codes = {int(pk): code for pk, (code, _) in world["codes"].items()}
    curated = {a["raw_code"]: codes[a["error_code_id"]] for a in world["alarms"] if a["error_code_id"]}
    out = []
    for row in world["correlated"]:
        document = row["document"]
        own = [
            (parse_timestamp(e["at"]) if e["at"] else None, e["kind"], e["code"], None, e["attrs"] or {})
            for e in document["events"]
            if not correlation.is_correlated(e["attrs"])
        ]
        found = chosen.get(row["ticket_id"], [])
        opened = parse_timestamp(document["opened_at"]) if document["opened_at"] else None
        events = correlation.merge(own, found, opened_at=opened) if found else own
        document = {
            **document,
            "events": [
                {"at": at.isoformat() if at else None, "kind": kind, "code": code or None, "attrs": attrs}
                for at, kind, code, _, attrs in events
            ],
        }
        code_map = {**curated, **row["code_map"]}
        text = serialize(document, context=row["context"], code_map=code_map)
        out.append(Replayed(row["ticket_id"], row["label"], text, row["opened_at"], document))
    return out


def replay(world: dict, *, truth: bool = False) -> dict:
    """Both arms scored as benchmarks.correlation scores them, the correlated one under the current rule.

    With ``truth``, two more correlated arms show where the points go (``ownership``): every ticket
    given exactly its own alarms, and the rule's choice without other incidents' alarms."""
    from benchmarks.correlation import _score, paired_bootstrap

    inline = [
        Replayed(r["ticket_id"], r["label"], r["text"], r["opened_at"], r["document"])
        for r in world["inline"]
    ]
    chosen = rule_events(world)
    scores = {"inline": _score(inline), "correlated": _score(correlated_examples(world, chosen))}
    held = {name: score.pop("_held") for name, score in scores.items()}
    ownership = {}
    if truth:
        for name, events in (
            ("true_owner", true_owner_events(world)),
            ("without_foreign", without_foreign(world, chosen)),
        ):
            score = _score(correlated_examples(world, events))
            score.pop("_held")
            lost = 100 * (scores["inline"]["macro_f1"] - score["macro_f1"])
            ownership[name] = {**score, "macro_f1_points_lost": round(lost, 2)}
    delta = 100 * (scores["inline"]["macro_f1"] - scores["correlated"]["macro_f1"])
    noise = paired_bootstrap(held["inline"], held["correlated"], seed=world["seed"])
    return {
        "seed": world["seed"],
        "tickets": world["tickets"],
        "window_minutes": world["window_minutes"],
        "scores": scores,
        "macro_f1_points_lost": round(delta, 2),
        "goal_met": delta <= 1.0,
        "_rounds": noise.pop("_rounds", None),
        "held_out_noise": noise,
        **({"ownership": ownership} if ownership else {}),
    }


def _setup_django() -> None:
    """Django for the imports only: the replay reads no database."""
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketai.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()


def main(argv=None) -> int:
    from benchmarks.correlation import public, summary

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("worlds", type=Path, help="A directory written by benchmarks.correlation --save.")
    parser.add_argument("--json", dest="json_out")
    parser.add_argument(
        "--truth",
        action="store_true",
        help="Also score the correlated tickets with their alarms as the simulator's truth owns them.",
    )
    args = parser.parse_args(argv)
    paths = sorted(args.worlds.glob("world-*.json.gz"), key=lambda p: int(p.name.split("-")[1].split(".")[0]))
    if not paths:
        sys.exit(f"{args.worlds}: no world-*.json.gz here (benchmarks.correlation --save writes them)")
    _setup_django()
    runs = []
    for path in paths:
        runs.append(replay(load_world(path), truth=args.truth))
        print(
            f"seed {runs[-1]['seed']}: {runs[-1]['macro_f1_points_lost']} macro-F1 points lost",
            file=sys.stderr,
        )
    results = {"summary": summary(runs), "runs": [public(r) for r in runs]}
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
