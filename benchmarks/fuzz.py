"""Fuzz every API operation from our own OpenAPI schema with schemathesis, authenticated as admin.

Each operation gets ``--examples`` generated requests (valid and invalid ones); a response fails
when it is a 5xx or when it does not match the schema it documents. `make test` runs a bounded
version (tests/test_fuzz_schema.py); this script runs the long one and prints a JSON report.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ticketai_fuzz python -m benchmarks.fuzz --examples 200

It creates its own database objects (an admin with a token, a small catalogue) in the database
DATABASE_URL names: point it at a scratch database, never at production.
"""

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable


@dataclass
class FuzzReport:
    operations: int = 0
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "operations": self.operations,
            "requests": self.requests,
            "statuses": dict(sorted(self.statuses.items())),
            "failures": self.failures,
            "seconds": round(self.seconds, 1),
        }


@contextlib.contextmanager
def in_process_requests():
    """Keep the caller's database connection across in-process requests, as Django's test client does.

    Django closes "old" connections when a request starts and finishes; called through WSGI inside
    a test, that would close the test's own connection and its transaction.
    """
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def load_schema():
    """The schema as the running code serves it, called in-process through the WSGI app."""
    import schemathesis
    from django.core.wsgi import get_wsgi_application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


def fuzz(schema, *, headers: dict[str, str], max_examples: int) -> FuzzReport:
    """Run every operation; collect (never raise) failures so one bad route does not hide others."""
    from schemathesis.generation import GenerationMode

    report = FuzzReport()
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # Unsatisfiable: an operation without inputs has no invalid request to make.
            with contextlib.suppress(Unsatisfiable):
                _fuzz_operation(report, operation, mode, headers=headers, max_examples=max_examples)
    report.seconds = time.monotonic() - started
    return report


def _fuzz_operation(report: FuzzReport, operation, mode, *, headers: dict[str, str], max_examples: int):
    from schemathesis.checks import not_a_server_error, response_schema_conformance

    documented = {
        str(code) for code in (getattr(operation.definition, "raw", None) or {}).get("responses", {})
    }

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time, first failure kept
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        response = None
        try:
            response = case.call(headers=headers)
            report.requests += 1
            key = str(response.status_code)
            report.statuses[key] = report.statuses.get(key, 0) + 1
            # A 503 the operation documents (e.g. "no model trained yet") is an answer, not a crash.
            expected_503 = response.status_code == 503 and "503" in documented
            checks = (
                [response_schema_conformance]
                if expected_503
                else [not_a_server_error, response_schema_conformance]
            )
            case.validate_response(response, checks=checks, headers=headers)
        except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - FailureGroup is a BaseExceptionGroup
            _record(report, operation, case, response, e)

    run()


def _record(report: FuzzReport, operation, case, response, error: BaseException) -> None:
    if len(report.failures) >= 50:
        return
    content = getattr(response, "content", b"") or b""
    report.failures.append(
        {
            "operation": operation.label,
            "status": getattr(response, "status_code", None),
            "error": str(error)[:1500],
            "request": {"path": case.formatted_path, "query": case.query, "body": repr(case.body)[:300]},
            "response": content[:300].decode("utf-8", "replace"),
        }
    )


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
    parser.add_argument("--examples", type=int, default=200, help="generated requests per operation and mode")
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketai.settings")
    # Generous limits: the fuzzer is one user sending thousands of requests on purpose.
    for scope in ("AUTH", "BULK", "RECOMMENDATION", "EDGE"):
        os.environ.setdefault(f"TICKETAI_THROTTLE_{scope}", "100000/min")
    import django

    django.setup()
    with in_process_requests():
        report = fuzz(load_schema(), headers=prepare_admin(), max_examples=args.examples)
    out = json.dumps(report.to_json(), indent=2)
    print(out)
    if args.json:
        with open(args.json, "w") as f:
            f.write(out)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
