"""Who may reach what (issue 7): every route the URL resolver knows, against every role.

The table below has one row per route (API, pages, admin, probes, metrics, schema, sign-in): how to
build a concrete URL, the methods to try and the exact answer for each role. A route added later
without a row fails ``test_every_route_has_a_row``. Each cell is its own test
(``test_cell[GET api:ticket-detail agent_site_a_on_b]``), except the six views the admin generates
for every registered model, asked one test per model and role (``test_admin_views_of_each_model``).

Roles and how they authenticate:

- ``anonymous``: nothing.
- ``engineer``, ``admin``: a ``Token`` on API rows, a browser session (force_login) on page rows.
- ``integration``: a ``Token`` everywhere. Integrations are token-only API principals
  (``create_api_token --create-user`` gives them no password), so on pages their token is ignored
  and they are sent to sign in like anyone anonymous.
- ``agent_site_a``: ``Authorization: Agent <token>`` of an agent enrolled at site A, on site A's
  objects. ``agent_site_a_on_b``: the same agent on site B's objects (site B's detail and placement,
  its bundle, predictions naming site B). Rows that name no site send it the same request. Agents
  authenticate only on the edge API; everywhere else they count as anonymous.
- ``fault_management``: a ``Token`` of a fault-management system, which may post alarms (TMF642) and
  nothing else. Rows written before the role existed give six answers and its seventh is derived
  (``_fault_management``): 403 on the API, what integrations get on pages and public routes. The
  alarm rows give all seven.

Expected values: a status code, or a redirect given as the path it goes to (``LOGIN``,
``ADMIN_LOGIN``, or a path; ``*`` at the end matches any path under it). A body that fails
validation is enough where the status shows the permission check passed (400 = allowed).
"""

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from ml.fleet import edge
from ml.models import (
    EdgeAgent,
    EdgeBundle,
    EdgePrediction,
    WebhookDelivery,
    WebhookSubscription,
)
from repair_center.models import Alarm, ApiToken, AssignmentGroup, Ticket, UnmappedCode
from repair_center.services.alarms import alarms_upsert
from repair_center.services.tickets import tickets_upsert
from tests.factories import (
    ErrorCodeAliasFactory,
    ErrorCodeFactory,
    ModelVersionFactory,
    NetworkElementFactory,
    RepairRecordFactory,
    ResolutionCodeFactory,
    SiteFactory,
    TrainingRunFactory,
    UserFactory,
)

pytestmark = pytest.mark.slow  # an exhaustive matrix: every route against every role

ROLES = (
    "anonymous",
    "engineer",
    "integration",
    "admin",
    "agent_site_a",
    "agent_site_a_on_b",
    "fault_management",
)
LOGIN = "/login/"
ADMIN_LOGIN = "/admin/login/"
API, PAGE = "api", "page"

# Recurring expectations; every tuple is in ROLES order.
READ_ANY = (401, 200, 200, 200, 401, 401)
ADMIN_ONLY = (401, 403, 403, 200, 401, 401)
ADMIN_WRITE_400 = (401, 403, 403, 400, 401, 401)
TICKET_WRITE_400 = (401, 403, 400, 400, 401, 401)
WORK_400 = (401, 400, 400, 400, 401, 401)  # engineers, integrations and admins work tickets
# RolePermission checks before the method: a write to a route that takes none is 403 for a
# non-admin and 405 for an admin (writes default to admin only).
NO_WRITE = (401, 403, 403, 405, 401, 401)
NO_READ = (401, 405, 405, 405, 401, 401)  # a safe method on a write-only route: readers pass, then 405
EDGE_NO_GET = (401, 401, 401, 401, 405, 405)  # only agents authenticate on the edge API
EDGE_POST_400 = (401, 401, 401, 401, 400, 400)
EVERYONE = (200, 200, 200, 200, 200, 200)
PAGE_READ = (LOGIN, 200, LOGIN, 200, LOGIN, LOGIN)
PAGE_ADMIN = (LOGIN, 403, LOGIN, 200, LOGIN, LOGIN)
PAGE_NO_POST = (LOGIN, 405, LOGIN, 405, LOGIN, LOGIN)
STAFF = (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200, ADMIN_LOGIN, ADMIN_LOGIN)
ALARM_WRITE_400 = (401, 403, 400, 400, 401, 401, 400)  # fault management, integrations and admins


def staff(for_admin) -> tuple:
    """Admin-site views: only staff get past the login wall; this is what the admin gets then."""
    return (*STAFF[:3], for_admin, *STAFF[4:])


# What anonymous may reach (SECURITY.md, "Actors"); anything else answers 401/403 or sends to sign in.
PUBLIC = {
    "healthz",
    "readyz",
    "schema",
    "docs",
    "static",
    "login",
    "logout",  # signing out is harmless; it sends to sign in
    "admin:login",
    "admin:logout",  # the admin sends a non-staff caller to its index, which asks to sign in
    "edge-enrol",  # an agent enrols with a one-time token (checked in the body, 403 when bad)
}
ANONYMOUS_DENIED = {401, 403, LOGIN, ADMIN_LOGIN}


@dataclasses.dataclass(frozen=True)
class Row:
    kind: str
    url: Callable  # (world, site) -> path; site is site B for agent_site_a_on_b, else site A
    methods: dict  # method -> (body or (world, site) -> body, expected per role)
    formats: bool | Callable = False  # the router's .json twin (a route of its own): True, or its URL
    group: str = ""  # admin model views: asked together, see test_admin_views_of_each_model


def api(url, formats=False, **methods) -> Row:
    return Row(API, url, methods, formats)


def page(url, group="", **methods) -> Row:
    return Row(PAGE, url, methods, group=group)


def _get(expected):
    return (None, expected)


def _predictions(w, site) -> dict:
    return {"predictions": [{"site": site.code}]}  # the site is checked before the rest


MATRIX: dict[str, Row] = {
    # --- probes, metrics, schema ---------------------------------------------------------------
    "healthz": page(lambda w, s: "/healthz", GET=_get(EVERYONE)),
    "readyz": page(lambda w, s: "/readyz", GET=_get(EVERYONE)),
    # An admin session reads metrics; a Token or Agent header is not the metrics bearer token: 403.
    "metrics": page(lambda w, s: "/metrics", GET=_get((401, 403, 403, 200, 403, 403))),
    "schema": api(lambda w, s: "/api/schema/", GET=_get(EVERYONE)),
    "docs": api(lambda w, s: "/api/docs/", GET=_get(EVERYONE)),
    "static": page(lambda w, s: "/static/frontend/app.css", GET=_get(EVERYONE)),
    # --- repair_center API ---------------------------------------------------------------------
    "api:api-root": api(
        lambda w, s: "/api/v1/", lambda w, s: "/api/v1/.json", GET=_get(READ_ANY), POST=({}, NO_WRITE)
    ),
    "api:ticket-list": api(
        lambda w, s: "/api/v1/tickets/", True, GET=_get(READ_ANY), POST=({}, TICKET_WRITE_400)
    ),
    "api:ticket-bulk": api(
        lambda w, s: "/api/v1/tickets/bulk/", True, GET=_get(NO_READ), POST=({}, TICKET_WRITE_400)
    ),
    "api:ticket-detail": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/",
        True,
        GET=_get(READ_ANY),
        PATCH=({"external_id": "changed"}, TICKET_WRITE_400),  # identity cannot change: 400
        DELETE=(None, (401, 403, 204, 204, 401, 401)),  # rolled back with the test
    ),
    "api:ticketevent-list": api(
        lambda w, s: "/api/v1/events/", True, GET=_get(READ_ANY), POST=({}, NO_WRITE)
    ),
    "api:ticketevent-detail": api(
        lambda w, s: f"/api/v1/events/{w.event.pk}/", True, GET=_get(READ_ANY), DELETE=(None, NO_WRITE)
    ),
    "api:errorcode-list": api(
        lambda w, s: "/api/v1/error-codes/", True, GET=_get(READ_ANY), POST=({}, ADMIN_WRITE_400)
    ),
    "api:errorcode-detail": api(
        lambda w, s: f"/api/v1/error-codes/{w.error_code.pk}/",
        True,
        GET=_get(READ_ANY),
        PUT=({}, ADMIN_WRITE_400),
    ),
    "api:errorcodealias-list": api(
        lambda w, s: "/api/v1/error-code-aliases/", True, GET=_get(READ_ANY), POST=({}, ADMIN_WRITE_400)
    ),
    "api:errorcodealias-detail": api(
        lambda w, s: f"/api/v1/error-code-aliases/{w.alias.pk}/",
        True,
        GET=_get(READ_ANY),
        PUT=({}, ADMIN_WRITE_400),
    ),
    "api:resolutioncode-list": api(
        lambda w, s: "/api/v1/resolution-codes/", True, GET=_get(READ_ANY), POST=({}, ADMIN_WRITE_400)
    ),
    "api:resolutioncode-detail": api(
        lambda w, s: f"/api/v1/resolution-codes/{w.resolution.pk}/",
        True,
        GET=_get(READ_ANY),
        PUT=({}, ADMIN_WRITE_400),
    ),
    "api:unmappedcode-list": api(
        lambda w, s: "/api/v1/unmapped-codes/", True, GET=_get(READ_ANY), POST=({}, NO_WRITE)
    ),
    "api:unmappedcode-detail": api(
        lambda w, s: f"/api/v1/unmapped-codes/{w.unmapped.pk}/",
        True,
        GET=_get(READ_ANY),
        DELETE=(None, NO_WRITE),
    ),
    "api:site-list": api(lambda w, s: "/api/v1/sites/", True, GET=_get(READ_ANY), POST=({}, ADMIN_WRITE_400)),
    "api:site-detail": api(
        lambda w, s: f"/api/v1/sites/{s.pk}/", True, GET=_get(READ_ANY), PUT=({}, ADMIN_WRITE_400)
    ),
    "api:networkelement-list": api(
        lambda w, s: "/api/v1/elements/", True, GET=_get(READ_ANY), POST=({}, ADMIN_WRITE_400)
    ),
    "api:networkelement-detail": api(
        lambda w, s: f"/api/v1/elements/{w.elements[s.code].pk}/",
        True,
        GET=_get(READ_ANY),
        PUT=({}, ADMIN_WRITE_400),
    ),
    "api:repairrecord-list": api(
        lambda w, s: "/api/v1/repair-records/", True, GET=_get(READ_ANY), POST=({}, ADMIN_WRITE_400)
    ),
    "api:repairrecord-detail": api(
        lambda w, s: f"/api/v1/repair-records/{w.repair.pk}/",
        True,
        GET=_get(READ_ANY),
        PATCH=({"finding": "not-a-finding"}, ADMIN_WRITE_400),
    ),
    # Working tickets: engineers and integrations act, any role reads (an empty body: 400).
    "api:ticket-transition": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/transition/",
        True,
        GET=_get(NO_READ),
        POST=({}, WORK_400),
    ),
    "api:ticket-assign": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/assign/", True, GET=_get(NO_READ), POST=({}, WORK_400)
    ),
    "api:ticket-notes": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/notes/", True, GET=_get(READ_ANY), POST=({}, WORK_400)
    ),
    "api:ticket-history": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/history/",
        True,
        GET=_get(READ_ANY),
        POST=({}, (401, 403, 405, 405, 401, 401)),  # ticket writers pass, then 405
    ),
    "api:assignmentgroup-list": api(
        lambda w, s: "/api/v1/assignment-groups/", True, GET=_get(READ_ANY), POST=({}, ADMIN_WRITE_400)
    ),
    "api:assignmentgroup-detail": api(
        lambda w, s: f"/api/v1/assignment-groups/{w.group.pk}/",
        True,
        GET=_get(READ_ANY),
        PUT=({}, ADMIN_WRITE_400),
    ),
    # --- TMF621 (docs/connect.md): any role reads; integrations and admins create and register
    # listeners; whoever works tickets patches them (a field the source owns: 400).
    "tmf621:troubleticket-list": api(
        lambda w, s: "/tmf-api/troubleTicket/v4/troubleTicket",
        GET=_get(READ_ANY),
        POST=({}, TICKET_WRITE_400),
    ),
    "tmf621:troubleticket-detail": api(
        lambda w, s: f"/tmf-api/troubleTicket/v4/troubleTicket/{w.ticket.pk}",
        GET=_get(READ_ANY),
        PATCH=({"name": "renamed"}, WORK_400),
    ),
    "tmf621-hub:hub-list": api(
        lambda w, s: "/tmf-api/troubleTicket/v4/hub",
        GET=_get((401, 403, 405, 405, 401, 401)),
        POST=({}, TICKET_WRITE_400),
    ),
    "tmf621-hub:hub-detail": api(
        lambda w, s: "/tmf-api/troubleTicket/v4/hub/0",  # no such listener: 404 once allowed
        DELETE=(None, (401, 403, 404, 404, 401, 401)),
    ),
    # --- TMF642 alarms: fault-management systems post and read nothing; the rest as for tickets ---
    "tmf642-alarm-list": api(
        lambda w, s: "/tmf-api/alarm/v4/alarm",
        GET=_get((*READ_ANY, 403)),
        POST=({}, ALARM_WRITE_400),  # no attributes: 400 once allowed
    ),
    "tmf642-alarm-bulk": api(
        lambda w, s: "/tmf-api/alarm/v4/alarm/bulk",
        GET=_get((*NO_READ, 403)),
        POST=({}, ALARM_WRITE_400),
    ),
    "tmf642-alarm-detail": api(
        lambda w, s: f"/tmf-api/alarm/v4/alarm/{w.alarm.pk}",
        GET=_get((*READ_ANY, 403)),
        PATCH=({"state": "not-a-state"}, ALARM_WRITE_400),
    ),
    "tmf642-clear-alarms": api(
        lambda w, s: "/tmf-api/alarm/v4/clearAlarms", GET=_get((*NO_READ, 403)), POST=({}, ALARM_WRITE_400)
    ),
    "tmf642-ack-alarms": api(
        lambda w, s: "/tmf-api/alarm/v4/ackAlarms", GET=_get((*NO_READ, 403)), POST=({}, ALARM_WRITE_400)
    ),
    # --- edge API: agents only, each for its own site ---------------------------------------------
    "edge-enrol": api(
        lambda w, s: "/api/v1/edge/enrol/",
        GET=_get((405,) * 6),
        POST=({}, (400,) * 6),  # no token in the body: 400; a spent or unknown one: 403
    ),
    "edge-heartbeat": api(
        lambda w, s: "/api/v1/edge/heartbeat/",
        GET=_get(EDGE_NO_GET),
        POST=({"backlog": 1}, (401, 401, 401, 401, 200, 200)),  # no site in it: the token's own
    ),
    "edge-bundle": api(
        lambda w, s: f"/api/v1/edge/bundles/{w.bundles[s.code].version}/",
        GET=_get((401, 401, 401, 401, 200, 403)),
        POST=({}, (*EDGE_NO_GET[:4], 405, 405)),
    ),
    "edge-predictions": api(
        lambda w, s: "/api/v1/edge/predictions/",
        GET=_get(EDGE_NO_GET),
        # An agent's own site: its malformed item is refused on its own in a 200 (errors by index).
        POST=(_predictions, (401, 401, 401, 401, 200, 403)),
    ),
    "edge-reports": api(
        lambda w, s: "/api/v1/edge/reports/", GET=_get(EDGE_NO_GET), POST=({}, EDGE_POST_400)
    ),
    "edge-etl": api(lambda w, s: "/api/v1/edge/etl/", GET=_get(EDGE_NO_GET), POST=({}, EDGE_POST_400)),
    # --- ml API ----------------------------------------------------------------------------------
    "api-ticket-feedback": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/feedback/",
        GET=_get(READ_ANY),
        POST=({}, (401, 400, 403, 400, 401, 401)),  # engineers and admins give feedback
    ),
    "webhook-list": api(lambda w, s: "/api/v1/webhooks/", GET=_get(ADMIN_ONLY), POST=({}, ADMIN_WRITE_400)),
    "webhook-detail": api(
        lambda w, s: f"/api/v1/webhooks/{w.webhook.pk}/",
        GET=_get(ADMIN_ONLY),
        DELETE=(None, (401, 403, 403, 204, 401, 401)),
    ),
    "webhook-deliveries": api(
        lambda w, s: f"/api/v1/webhooks/{w.webhook.pk}/deliveries/", GET=_get(ADMIN_ONLY), POST=({}, NO_WRITE)
    ),
    "webhook-redeliver": api(
        lambda w, s: f"/api/v1/webhooks/{w.webhook.pk}/deliveries/{w.delivery.pk}/redeliver/",
        GET=_get(NO_WRITE),  # webhooks are read by admins only, so GET is 403 before it is 405
        POST=(None, (401, 403, 403, 202, 401, 401)),
    ),
    "site-placement": api(
        lambda w, s: f"/api/v1/sites/{s.pk}/placement/", GET=_get(READ_ANY), POST=({}, NO_WRITE)
    ),
    "placement-what-if": api(
        lambda w, s: "/api/v1/placement/what-if/",
        GET=_get(NO_READ),
        POST=({}, (401, 200, 200, 200, 401, 401)),  # computes an answer, stores nothing
    ),
    "model-shadow": api(
        lambda w, s: f"/api/v1/models/{w.version.pk}/shadow/",
        GET=_get(READ_ANY),
        POST=(None, ADMIN_WRITE_400),  # the candidate has no files to verify: 400 once allowed
        DELETE=(None, (401, 403, 403, 200, 401, 401)),
    ),
    "ticket-recommendation": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/recommendation/",
        GET=_get((401, 200, 200, 200, 401, 401)),  # allowed; no champion yet: no recommendations
        POST=({}, NO_WRITE),
    ),
    "recommendations": api(
        lambda w, s: "/api/v1/recommendations/",
        GET=_get(NO_READ),
        POST=({}, (401, 400, 400, 400, 401, 401)),  # a draft with no content: 400
    ),
    # --- pages -----------------------------------------------------------------------------------
    "ticket-list": page(lambda w, s: "/", GET=_get(PAGE_READ), POST=({}, PAGE_NO_POST)),
    "ticket-detail": page(lambda w, s: f"/tickets/{w.ticket.pk}/", GET=_get(PAGE_READ)),
    "ticket-feedback": page(
        lambda w, s: f"/tickets/{w.ticket.pk}/feedback/",
        GET=_get(PAGE_NO_POST),
        POST=({}, (LOGIN, "/tickets/*", LOGIN, "/tickets/*", LOGIN, LOGIN)),  # an error message
    ),
    "ticket-action": page(
        lambda w, s: f"/tickets/{w.ticket.pk}/action/",
        GET=_get((LOGIN, 404, LOGIN, 404, LOGIN, LOGIN)),  # no such action: 404 once allowed
        POST=({}, (LOGIN, "/tickets/*", LOGIN, "/tickets/*", LOGIN, LOGIN)),  # an error message
    ),
    "ticket-assign": page(
        lambda w, s: f"/tickets/{w.ticket.pk}/assign/",
        GET=_get(PAGE_NO_POST),
        POST=({}, (LOGIN, "/tickets/*", LOGIN, "/tickets/*", LOGIN, LOGIN)),  # a resolved ticket: a message
    ),
    "ticket-note": page(
        lambda w, s: f"/tickets/{w.ticket.pk}/notes/",
        GET=_get(PAGE_NO_POST),
        POST=({}, (LOGIN, "/tickets/*", LOGIN, "/tickets/*", LOGIN, LOGIN)),  # no text: a message
    ),
    "profile": page(lambda w, s: "/profile/", GET=_get(PAGE_READ)),
    # The admin pages: engineers get a 403 page (item 6 of issue 18).
    "model-list": page(lambda w, s: "/models/", GET=_get(PAGE_ADMIN)),
    "model-detail": page(lambda w, s: f"/models/{w.version.pk}/", GET=_get(PAGE_ADMIN)),
    "model-promote": page(
        lambda w, s: f"/models/{w.version.pk}/promote/",
        GET=_get((LOGIN, 403, LOGIN, 200, LOGIN, LOGIN)),
        POST=({}, (LOGIN, 403, LOGIN, "/models/*", LOGIN, LOGIN)),  # files do not verify: a message
    ),
    "model-rollback": page(
        lambda w, s: f"/models/{w.version.pk}/rollback/",
        GET=_get((LOGIN, 403, LOGIN, 404, LOGIN, LOGIN)),  # a candidate has nothing to roll back
        POST=({}, (LOGIN, 403, LOGIN, 404, LOGIN, LOGIN)),
    ),
    "training": page(
        lambda w, s: "/training/",
        GET=_get(PAGE_ADMIN),
        POST=({"epochs": "-1"}, (LOGIN, 403, LOGIN, 400, LOGIN, LOGIN)),  # invalid form: nothing queued
    ),
    "training-run": page(lambda w, s: f"/training/{w.run.pk}/", GET=_get(PAGE_ADMIN)),
    "training-progress": page(lambda w, s: f"/training/{w.run.pk}/progress.json", GET=_get(PAGE_ADMIN)),
    "schedule": page(
        lambda w, s: "/schedule/",
        GET=_get(PAGE_ADMIN),
        POST=({"task": "0"}, (LOGIN, 403, LOGIN, 404, LOGIN, LOGIN)),  # no such task once allowed
    ),
    "fleet": page(
        lambda w, s: "/fleet/",
        GET=_get(PAGE_ADMIN),
        POST=({}, (LOGIN, 403, LOGIN, 400, LOGIN, LOGIN)),  # no site for the enrolment token: 400
    ),
    "login": page(
        lambda w, s: "/login/",
        GET=_get((200, "/", 200, "/", 200, 200)),  # signed in already: on to the queue
        POST=({}, (200, "/", 200, "/", 200, 200)),  # an empty form is shown again
    ),
    "logout": page(lambda w, s: "/logout/", GET=_get((405,) * 6), POST=({}, (LOGIN,) * 6)),
    # --- the admin site's own views (each model's views are generated below) --------------------
    "admin:index": page(lambda w, s: "/admin/", GET=_get(STAFF)),
    "admin:login": page(
        lambda w, s: "/admin/login/",
        # A signed-in non-staff user is told they are not authorised; staff go on to the index.
        GET=_get((200, 200, 200, "/admin/", 200, 200)),
        POST=({}, (200,) * 6),  # an empty form is shown again, to staff too
    ),
    # The admin sends a non-staff caller at its logout to its index (which asks them to sign in).
    "admin:logout": page(
        lambda w, s: "/admin/logout/",
        GET=_get(("/admin/", "/admin/", "/admin/", 405, "/admin/", "/admin/")),
        POST=({}, ("/admin/", "/admin/", "/admin/", LOGIN, "/admin/", "/admin/")),
    ),
    "admin:password_change": page(lambda w, s: "/admin/password_change/", GET=_get(STAFF)),
    "admin:password_change_done": page(lambda w, s: "/admin/password_change/done/", GET=_get(STAFF)),
    "admin:jsi18n": page(lambda w, s: "/admin/jsi18n/", GET=_get(STAFF)),
    # No model admin has autocomplete fields: staff get 403 for any question, others sign in.
    "admin:autocomplete": page(lambda w, s: "/admin/autocomplete/", GET=_get(staff(403))),
    "admin:view_on_site": page(
        lambda w, s: f"/admin/r/{w.site_content_type}/{s.pk}/", GET=_get(staff(404))
    ),  # sites have no public page: 404 for staff
    # UserAdmin's own view: staff set another user's password.
    "admin:auth_user_password_change": page(
        lambda w, s: f"/admin/auth/user/{w.users['engineer'].pk}/password/", GET=_get(STAFF)
    ),
    "admin:app_list": page(lambda w, s: "/admin/repair_center/", GET=_get(STAFF)),
    "admin/(?P<url>.*)$": page(lambda w, s: "/admin/no-such-page/", GET=_get(staff(404))),
}

# Admin views every registered model gets; they differ only in what the admin may do. Change,
# delete and history are asked for an object that does not exist: the admin is sent to the index
# with a message, anyone else to sign in, which is all a permission check needs.
# Models whose admin refuses "add" (their rows come from training, agents or the API).
NO_ADD = {
    "ml.modelversion",
    "ml.trainingrun",
    "ml.auditlog",
    "ml.enrolmenttoken",
    "ml.edgeprediction",
    "ml.edgereport",
    "ml.webhookdelivery",
    "ml.feedback",
    "ml.driftreport",
    "ml.shadowdeployment",
    "ml.recommendation",
}


def _admin_rows() -> dict[str, Row]:
    rows = {}
    for model in admin.site._registry:
        app, name = model._meta.app_label, model._meta.model_name
        add = 403 if f"{app}.{name}" in NO_ADD else 200
        views = {
            "changelist": (None, 200),
            "add": (None, add),
            "change": ("0", "/admin/"),
            "delete": ("0", "/admin/"),
            "history": ("0", "/admin/"),
        }
        for view, (arg, for_admin) in views.items():
            url = reverse(f"admin:{app}_{name}_{view}", args=[arg] if arg else [])
            rows[f"admin:{app}_{name}_{view}"] = page(
                lambda w, s, url=url: url, f"{app}.{name}", GET=_get(staff(for_admin))
            )
        # /admin/<app>/<model>/<id>/ redirects staff to the change page.
        rows[f"admin/{app}/{name}/<path:object_id>/"] = page(
            lambda w, s, a=app, n=name: f"/admin/{a}/{n}/0/",
            f"{app}.{name}",
            GET=_get(staff(f"/admin/{app}/{name}/0/change/")),
        )
    return rows


def _format_rows(rows: dict[str, Row]) -> dict[str, Row]:
    """The router's ``.json`` twin of each route: same view, same permissions, read only."""

    def with_suffix(row):
        if callable(row.formats):
            return row.formats
        return lambda w, s: row.url(w, s).rstrip("/") + ".json"

    return {
        f"{key}.<format>": api(with_suffix(row), GET=row.methods["GET"])
        for key, row in rows.items()
        if row.formats
    }


MATRIX |= _format_rows(MATRIX) | _admin_rows()


def _routes(resolver=None, prefix="", namespace=None):
    """(key, pattern) for every route: namespaced name, ``.<format>`` for suffix twins, else the pattern."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(n for n in (namespace, entry.namespace) if n) or None
            yield from _routes(entry, prefix + str(entry.pattern), inner)
            continue
        assert isinstance(entry, URLPattern)
        pattern = prefix + str(entry.pattern)
        if entry.name is None:
            yield pattern, pattern
            continue
        key = f"{namespace}:{entry.name}" if namespace else entry.name
        converters = getattr(entry.pattern, "converters", {})
        if "format" in converters or "format" in entry.pattern.regex.groupindex:
            key += ".<format>"
        yield key, pattern


# --- the objects the URLs point at, committed once for the module ------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    files = tmp_path_factory.mktemp("matrix")
    made: list = []  # deleted in reverse at the end, so what others reference goes first

    def keep(obj):
        made.append(obj)
        return obj

    # Users are made with the fast hasher (conftest's autouse override is per test).
    fast_hashing = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with fast_hashing, django_db_blocker.unblock():
        try:
            yield _build_world(files, keep)
        finally:
            for obj in reversed(made):
                type(obj).objects.filter(pk=obj.pk).delete()


def _build_world(files, keep) -> SimpleNamespace:
    w = SimpleNamespace()
    w.site_a = keep(SiteFactory(code="PM-SITE-A"))
    w.site_b = keep(SiteFactory(code="PM-SITE-B"))
    w.elements = {s.code: keep(NetworkElementFactory(site=s)) for s in (w.site_a, w.site_b)}
    w.error_code = keep(ErrorCodeFactory(code="PM_ALARM"))
    w.alias = keep(ErrorCodeAliasFactory(raw_code="PM-RAW-1", error_code=w.error_code))
    w.resolution = keep(ResolutionCodeFactory(code="PM_FIX"))
    w.unmapped = keep(UnmappedCode.objects.create(raw_code="PM-UNKNOWN", occurrences=1))
    w.group = keep(AssignmentGroup.objects.create(name="PM crew"))
    [result] = tickets_upsert(
        documents=[
            {
                "external_id": "PM-1",
                "title": "permission matrix ticket",
                "site": w.site_a.code,
                "error_codes": [w.error_code.code],
                "events": [{"at": "2026-01-01T00:00:00Z", "kind": "alarm_raised", "code": w.error_code.code}],
                "resolution": w.resolution.code,
            }
        ],
        source="pm",
    )
    w.ticket = keep(Ticket.objects.get(pk=result.id))
    w.event = w.ticket.events.get()
    w.repair = keep(RepairRecordFactory(rma_id="PM-RMA-1"))
    w.version = keep(
        ModelVersionFactory(base_model="pm", data_fingerprint="p" * 64, artifact_path=str(files / "no-model"))
    )
    w.run = keep(TrainingRunFactory(trigger="manual", status="skipped", reason="permission matrix"))
    w.webhook = keep(
        WebhookSubscription.objects.create(url="http://127.0.0.1:9/hook", events=["ticket.created"])
    )
    w.delivery = WebhookDelivery.objects.create(  # goes with its subscription
        subscription=w.webhook, event="ticket.created", status="failed"
    )
    w.bundles = {}
    for site in (w.site_a, w.site_b):
        path = files / f"{site.code}.zip"
        path.write_bytes(b"PK bundle for " + site.code.encode())
        w.bundles[site.code] = keep(
            EdgeBundle.objects.create(
                version=f"pm-{site.code}",
                path=str(path),
                sha256="0" * 64,
                bytes=path.stat().st_size,
                intended_site=site,
            )
        )
    w.agents, w.agent_tokens = {}, {}
    for site in (w.site_a, w.site_b):
        token, raw = edge.enrolment_token_issue(site=site)
        keep(token)
        agent, w.agent_tokens[site.code] = edge.agent_enrol(
            token=raw, name=f"pm-{site.code}", capabilities={}
        )
        w.agents[site.code] = keep(agent)
    w.users = {
        "engineer": keep(UserFactory(username="pm-eng", roles=["engineer"])),
        "integration": keep(UserFactory(username="pm-integ", roles=["integration"])),
        "admin": keep(UserFactory(username="pm-boss", roles=["admin"], is_superuser=True)),
        "fault_management": keep(UserFactory(username="pm-fm", roles=["fault_management"])),
    }
    w.tokens = {role: ApiToken.issue(user=user, name="matrix")[1] for role, user in w.users.items()}
    w.sessions = {}
    for role in ("engineer", "admin"):
        client = Client()
        client.force_login(w.users[role])
        w.sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
        keep(Session.objects.get(pk=w.sessions[role]))
    [raised] = alarms_upsert(
        documents=[
            {
                "externalAlarmId": "PM-ALARM-1",
                "sourceSystemId": "pm-oss",
                "state": "raised",
                "alarmedObject": {"id": w.elements[w.site_a.code].serial},
                "alarmType": "Equipment Alarm",
                "perceivedSeverity": "major",
                "probableCause": "PM-RAW-1",
                "alarmRaisedTime": "2026-01-01T00:00:00Z",
            }
        ]
    )
    w.alarm = keep(Alarm.objects.get(pk=raised.id))
    w.site_content_type = ContentType.objects.get_for_model(w.site_a).pk
    w.handler = APIClient().handler
    return w


def _client(world, role: str, kind: str) -> APIClient:
    client = APIClient()
    # A new client builds its middleware chain on its first request, and WhiteNoise then scans every
    # static file (~90 ms); one handler for the module keeps that to once. It holds no request state.
    client.handler = world.handler
    if role == "anonymous":
        return client
    if role.startswith("agent"):
        client.credentials(HTTP_AUTHORIZATION=f"Agent {world.agent_tokens[world.site_a.code]}")
    elif kind == PAGE and role in world.sessions:
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[role]
    else:
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
    return client


def _cells() -> list:
    cells = []
    for key, row in MATRIX.items():
        for method, (_, expected) in row.methods.items():
            assert len(expected) in (len(ROLES) - 1, len(ROLES)), f"{method} {key}: one expectation per role"
            if not row.group:
                cells += [pytest.param(key, method, role, id=f"{method} {key} {role}") for role in ROLES]
    return cells


def _answer(response) -> int | str:
    """The status, or for a redirect the path it goes to (what the table writes)."""
    if response.status_code == 302:
        return urlsplit(response["Location"]).path
    return response.status_code


def _matches(got, expected) -> bool:
    if isinstance(expected, str) and expected.endswith("*"):
        return isinstance(got, str) and got.startswith(expected[:-1])
    return got == expected


def _ask(world, key: str, method: str, role: str):
    """(what the route answered, what the table expects, the response) for one cell."""
    row = MATRIX[key]
    body, expected = row.methods[method]
    site = world.site_b if role == "agent_site_a_on_b" else world.site_a
    url = row.url(world, site)
    if callable(body):
        body = body(world, site)
    call = getattr(_client(world, role, row.kind), method.lower())
    if method == "GET":
        response = call(url)
    elif row.kind == API:
        response = call(url, body, format="json")
    else:
        response = call(url, body or {})
    return _answer(response), _expected(key, row, expected, role), response


def _expected(key: str, row: Row, expected: tuple, role: str):
    if role == "fault_management" and len(expected) < len(ROLES):
        return _fault_management(key, row, expected)
    return expected[ROLES.index(role)]


def _fault_management(key: str, row: Row, expected: tuple):
    """What a fault-management token gets where the row predates the role: a token-only principal
    like an integration on pages and public routes; on the API, refused (403) wherever a role is
    needed, and 401 where only agents authenticate (the edge API)."""
    integration = expected[ROLES.index("integration")]
    if row.kind == PAGE or key in PUBLIC or integration == 401:
        return integration
    return 403


@pytest.mark.parametrize(("key", "method", "role"), _cells())
def test_cell(world, db, key, method, role):
    got, expected, response = _ask(world, key, method, role)
    assert _matches(got, expected), (
        f"{method} {response.request['PATH_INFO']} as {role}: expected {expected}, got {got}: "
        f"{response.content[:300]!r}"
    )


# The admin's per-model views (generated rows, six per registered model) are asked one test per
# model and role: the same cells, a fifth of the test items, which keeps the module fast.
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("model", sorted({row.group for row in MATRIX.values() if row.group}))
def test_admin_views_of_each_model(world, db, model, role):
    keys = [key for key, row in MATRIX.items() if row.group == model]
    answers = {key: _ask(world, key, "GET", role)[:2] for key in keys}
    wrong = {
        key: f"expected {expected}, got {got}"
        for key, (got, expected) in answers.items()
        if not _matches(got, expected)
    }
    assert not wrong, f"{model} admin as {role}: {wrong}"


def test_every_route_has_a_row():
    routes = list(_routes())
    keys = [key for key, _ in routes]
    assert len(keys) == len(set(keys)), "two routes share a key; give one a name"
    missing = [
        f"route {pattern} ({key}) has no row in the permission matrix"
        for key, pattern in routes
        if key not in MATRIX
    ]
    assert not missing, "\n".join(missing)


def test_every_row_is_a_route():
    stale = set(MATRIX) - {key for key, _ in _routes()} - {"static"}  # static files are not routes
    assert not stale, f"rows for routes that no longer exist: {sorted(stale)}"


def test_anonymous_reaches_only_sign_in_health_and_the_schema():
    reachable = {
        f"{method} {key}"
        for key, row in MATRIX.items()
        for method, (_, expected) in row.methods.items()
        if expected[0] not in ANONYMOUS_DENIED and key not in PUBLIC
    }
    assert not reachable, f"the table lets anonymous callers reach: {sorted(reachable)}"


def test_an_agent_acting_for_another_site_leaves_that_site_untouched(world, db):
    agent_b = EdgeAgent.objects.get(pk=world.agents[world.site_b.code].pk)
    client = _client(world, "agent_site_a_on_b", API)
    prediction = {
        "idempotency_key": "pm-1",
        "source": "pm",
        "external_id": "PM-1",
        "model_version": "b1",
        "resolution": "PM_FIX",
        "confidence": 0.9,
        "latency_ms": 1.0,
        "predicted_at": datetime.now(UTC).isoformat(),
        "site": world.site_b.code,
    }
    response = client.post("/api/v1/edge/predictions/", {"predictions": [prediction]}, format="json")
    assert response.status_code == 403
    assert client.get(f"/api/v1/edge/bundles/{world.bundles[world.site_b.code].version}/").status_code == 403
    assert not EdgePrediction.objects.filter(site=world.site_b).exists()
    assert client.post("/api/v1/edge/heartbeat/", {"backlog": 9}, format="json").status_code == 200
    after = EdgeAgent.objects.get(pk=agent_b.pk)
    assert (after.backlog, after.last_seen) == (agent_b.backlog, agent_b.last_seen)
    assert EdgeAgent.objects.get(pk=world.agents[world.site_a.code].pk).backlog == 9
