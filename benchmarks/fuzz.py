"""Fuzz every API operation from our own OpenAPI schema with schemathesis, authenticated as admin.

It runs schemathesis's own engine, phase by phase, on whatever the schema holds (routes that other
modules add later are fuzzed without touching this file): examples, coverage (boundary values of
every parameter, valid and invalid), fuzzing (``--examples`` generated requests per operation, valid
and invalid) and stateful (chains of calls along links inferred from the schema, such as a POST's
id fed to the GET, PUT and DELETE of the object it made). A response fails when it is a 5xx or does
not match the schema it documents. `make test` runs a bounded version (tests/test_fuzz_schema.py);
this script runs the long one and prints a JSON report.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ticketai_fuzz python -m benchmarks.fuzz --examples 25

It creates its own database objects (an admin with a token, a small catalogue) in the database
DATABASE_URL names, and the fuzzer writes whatever the API lets an admin write: point it at a
scratch database, never at production. The engine calls the WSGI app from worker threads, each
with its own database connection, so what it needs must be committed first.
"""

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

PHASES = ("examples", "coverage", "fuzzing", "stateful")
CHECKS = ("not_a_server_error", "response_schema_conformance")


@dataclass
class FuzzReport:
    operations: set[str] = field(default_factory=set)
    requests: Counter = field(default_factory=Counter)  # per phase
    statuses: Counter = field(default_factory=Counter)
    transitions: int = 0  # links the stateful phase followed
    failures: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the engine's own (a schema it cannot use, ...)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "operations": len(self.operations),
            "requests": sum(self.requests.values()),
            "requests_per_phase": dict(self.requests),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "stateful_transitions": self.transitions,
            "failures": self.failures,
            "errors": self.errors,
            "seconds": round(self.seconds, 1),
        }


# The edge API answers only agents: those operations are fuzzed with an agent's token instead.
AGENT_PATHS = r"^/api/v1/edge/(?!enrol/)"


def load_schema(
    *,
    headers: dict[str, str],
    agent_headers: dict[str, str] | None = None,
    max_examples: int,
    phases=PHASES,
    max_steps: int = 8,
    seed=1,
):
    """The schema as the running code serves it, called in-process through the WSGI app."""
    import schemathesis
    from django.core.wsgi import get_wsgi_application
    from schemathesis.config import SchemathesisConfig

    config = SchemathesisConfig.from_dict(
        {
            "seed": seed,
            # No cache between runs: each run is reproducible from its seed, and writes nothing
            # into the working tree.
            "cache": {"enabled": False},
            "workers": 1,
            "headers": headers,
            "generation": {
                "max-examples": max_examples,
                "mode": "all",  # valid and invalid requests
                "deterministic": True,
                "with-security-parameters": False,  # always the admin's token, never a made-up one
            },
            "phases": {
                **{name: {"enabled": name in phases} for name in PHASES},
                "stateful": {"enabled": "stateful" in phases, "max-steps": max_steps},
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "operations": [{"include-path-regex": AGENT_PATHS, "headers": agent_headers}]
            if agent_headers
            else [],
        }
    )
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), config=config)

    @schema.hook("after_call")
    def close_the_callers_connection(context, case, response):
        # The engine calls from threads of its own: what a call opened there is closed there, or it
        # outlives the thread (and a test database could not be dropped).
        from django.db import connection

        connection.close()

    return schema


def fuzz(schema) -> FuzzReport:
    """Run the engine's phases; collect (never raise) failures so one bad route does not hide others."""
    from schemathesis import engine
    from schemathesis.engine import events

    report = FuzzReport()
    started = time.monotonic()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted) and event.payload is not None:
            report.transitions = event.payload.transitions_selected
        elif isinstance(event, events.ScenarioFinished):
            _record(report, str(event.phase), event.recorder)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            report.errors.append(str(getattr(event, "value", None) or getattr(event, "exception", ""))[:500])
    report.seconds = time.monotonic() - started
    return report


def _record(report: FuzzReport, phase: str, recorder) -> None:
    for case_id, interaction in recorder.interactions.items():
        report.requests[phase] += 1
        report.operations.add(
            recorder.cases[case_id].value.operation.label if case_id in recorder.cases else recorder.label
        )
        if interaction.response is not None:
            report.statuses[interaction.response.status_code] += 1
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.failure_info is None or len(report.failures) >= 50:
                continue
            interaction = recorder.interactions.get(case_id)
            response = interaction.response if interaction is not None else None
            request = interaction.request if interaction is not None else None
            report.failures.append(
                {
                    "phase": phase,
                    "operation": recorder.label,
                    "check": check.name,
                    "failure": str(check.failure_info.failure)[:1000],
                    "request": None if request is None else f"{request.method} {request.uri}"[:500],
                    "status": None if response is None else response.status_code,
                    "response": "" if response is None else response.content[:300].decode("utf-8", "replace"),
                }
            )


def prepare_catalogue() -> None:
    """A few real rows, so that generated codes and ids sometimes name something."""
    from repair_center.models import ErrorCode, ResolutionCode, Site

    Site.objects.get_or_create(code="FUZZ-SITE", defaults={"name": "fuzz"})
    ErrorCode.objects.get_or_create(code="FUZZ_ALARM")
    ResolutionCode.objects.get_or_create(code="FUZZ_FIX", defaults={"title": "fuzz"})


def prepare_agent() -> dict[str, str]:
    """An edge agent enrolled for the catalogue's site; returns its Authorization header."""
    from ml.fleet import edge
    from repair_center.models import Site

    _, token = edge.enrolment_token_issue(site=Site.objects.get(code="FUZZ-SITE"))
    _, raw = edge.agent_enrol(token=token, name="fuzz-agent", capabilities={})
    return {"Authorization": f"Agent {raw}"}


def prepare_admin() -> dict[str, str]:
    """An admin user with a fresh API token; returns the Authorization header."""
    from django.contrib.auth.models import Group, User

    from repair_center.models import ApiToken

    user, _ = User.objects.get_or_create(
        username="fuzz-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    user.groups.add(Group.objects.get_or_create(name="admin")[0])
    _, raw = ApiToken.issue(user=user, name="fuzz")
    return {"Authorization": f"Token {raw}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=25, help="generated requests per operation and phase")
    parser.add_argument("--max-steps", type=int, default=12, help="calls per stateful scenario")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketai.settings")
    # Generous limits: the fuzzer is one user sending thousands of requests on purpose.
    for scope in ("AUTH", "BULK", "RECOMMENDATION", "EDGE"):
        os.environ.setdefault(f"TICKETAI_THROTTLE_{scope}", "100000/min")
    import django

    django.setup()
    prepare_catalogue()
    schema = load_schema(
        headers=prepare_admin(),
        agent_headers=prepare_agent(),
        max_examples=args.examples,
        phases=tuple(args.phases.split(",")),
        max_steps=args.max_steps,
        seed=args.seed,
    )
    report = fuzz(schema)
    out = json.dumps(report.to_json(), indent=2)
    print(out)
    if args.json:
        with open(args.json, "w") as f:
            f.write(out)
    return 1 if report.failures or report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
