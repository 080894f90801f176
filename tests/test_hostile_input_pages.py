"""Hostile form values on every page that takes a POST (SECURITY.md, threat 9): never a 5xx, and a
refused value changes nothing. A page taking a POST without a row fails
``test_every_page_that_takes_a_post_has_a_row``.
"""

import dataclasses
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django_celery_beat.models import PeriodicTask

from ml.models import EnrolmentToken, Feedback, ModelVersion, TrainingRun
from repair_center.models import Ticket, WorkNote
from tests.hostile_input_support import committed_world

pytestmark = pytest.mark.slow  # an exhaustive matrix: every page form against every hostile input


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    yield from committed_world(django_db_blocker)


@dataclasses.dataclass(frozen=True)
class Form:
    url: Callable  # (world) -> path
    fields: dict  # field -> a good value; each is sent bad in turn ("{task}": the world's task id)
    unchanged: Callable  # (world) -> a value the bad post must not change


PAGES: dict[str, Form] = {
    "ticket-feedback": Form(
        lambda w: f"/tickets/{w.ticket.pk}/feedback/",
        {"action": "reject", "notes": "n", "resolution_code": ""},
        lambda w: Feedback.objects.count(),
    ),
    "model-promote": Form(
        lambda w: f"/models/{w.version.pk}/promote/",
        {"reason": "r"},
        lambda w: ModelVersion.objects.get(pk=w.version.pk).status,
    ),
    "model-rollback": Form(
        lambda w: f"/models/{w.version.pk}/rollback/",
        {"reason": "r"},
        lambda w: ModelVersion.objects.get(pk=w.version.pk).status,
    ),
    "training": Form(
        lambda w: "/training/", {"reason": "r", "epochs": "1"}, lambda w: TrainingRun.objects.count()
    ),
    "schedule": Form(
        lambda w: "/schedule/",
        {
            "task": "{task}",
            "t{task}-minute": "5",
            "t{task}-hour": "3",
            "t{task}-day_of_month": "*",
            "t{task}-month_of_year": "*",
            "t{task}-day_of_week": "*",
        },
        lambda w: list(PeriodicTask.objects.values_list("id", "crontab_id", "enabled")),
    ),
    "ticket-action": Form(
        lambda w: f"/tickets/{w.ticket.pk}/action/",
        {"action": "hold", "reason": "r", "confirmed": "yes"},
        lambda w: Ticket.objects.get(pk=w.ticket.pk).revision,
    ),
    "ticket-assign": Form(
        lambda w: f"/tickets/{w.ticket.pk}/assign/",
        {"group": "HI crew", "assignee": ""},
        lambda w: Ticket.objects.get(pk=w.ticket.pk).revision,
    ),
    "ticket-note": Form(
        lambda w: f"/tickets/{w.ticket.pk}/notes/",
        {"text": "n", "visibility": "internal"},
        lambda w: WorkNote.objects.count(),
    ),
    "fleet": Form(
        lambda w: "/fleet/", {"site": "HI-SITE", "note": "n"}, lambda w: EnrolmentToken.objects.count()
    ),
    "login": Form(lambda w: "/login/", {"username": "hi-admin", "password": "wrong"}, lambda w: None),
    "logout": Form(lambda w: "/logout/", {}, lambda w: None),
}
# A browser never sends bytes that are not UTF-8, nor a field twice: Django reads those as U+FFFD
# and as the last value, which the page then judges like any other text. NUL and oversized values
# are refused with a message, and change nothing.
FORM_VALUES = {"nul": "a\x00b", "huge": "x" * 200_000, "invalid-utf8": b"caf\xe9\xff", "twice": ["a", "b"]}
REFUSED = {"nul", "huge"}


def _form_cases() -> list:
    return [
        pytest.param(name, field, kind, id=f"{name} {field} {kind}")
        for name, form in PAGES.items()
        for field in form.fields or [""]
        for kind in FORM_VALUES
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("form_name", "field", "kind"), _form_cases())
def test_hostile_form_values_never_make_a_page_fail(world, form_name, field, kind):
    form = PAGES[form_name]
    browser = Client()
    browser.force_login(world.users["admin"])
    before = form.unchanged(world)
    value = FORM_VALUES[kind]
    fields = {k.format(task=world.task.pk): v.format(task=world.task.pk) for k, v in form.fields.items()}
    field = field.format(task=world.task.pk)
    if isinstance(value, bytes):
        body = urlencode({k: v for k, v in fields.items() if k != field}).encode()
        body += (b"&" if body else b"") + field.encode() + b"=" + value
        response = browser.post(form.url(world), body, content_type="application/x-www-form-urlencoded")
    else:
        response = browser.post(form.url(world), {**fields, field: value} if field else {"x": value})
    assert response.status_code < 500, response.content[:300]
    if kind in REFUSED:
        assert form.unchanged(world) == before


# --- The tables cover what exists ------------------------------------------------------------------


def _posting_pages(resolver=None, namespace=None):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace != "admin" and "api" not in str(entry.pattern):
                yield from _posting_pages(entry, entry.namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            view = getattr(entry.callback, "view_class", None)
            if view is not None and hasattr(view, "post"):
                yield entry.name


def test_every_page_that_takes_a_post_has_a_row():
    # The admin's forms are Django's own (ModelForms over the same models and validators).
    missing = sorted(set(_posting_pages()) - set(PAGES))
    assert not missing, f"pages taking a POST without a row in PAGES: {missing}"
    assert not set(PAGES) - set(_posting_pages())
