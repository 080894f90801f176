"""What the permission matrix is written in: the roles, the recurring expectations, the rows'
builders, and the world the rows' URLs point at (test_permission_matrix.py explains the table).
"""

import dataclasses
from collections.abc import Callable
from types import SimpleNamespace

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from rest_framework.test import APIClient

from ml.fleet import edge
from ml.models import EdgeBundle, WebhookDelivery, WebhookSubscription
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


def get(expected):
    return (None, expected)


# --- the objects the URLs point at, committed once for the module ------------------------------


def committed_world(django_db_blocker, tmp_path_factory):
    """What the module's ``world`` fixture (module scope) yields: committed first, deleted at the end."""
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
    _add_catalogue(w, keep)
    _add_ticket_and_records(w, files, keep)
    _add_edge(w, files, keep)
    _add_people(w, keep)
    _add_alarm(w, keep)
    w.site_content_type = ContentType.objects.get_for_model(w.site_a).pk
    w.handler = APIClient().handler
    return w


def _add_catalogue(w, keep) -> None:
    """Sites A and B with an element each, the codes, an unmapped code and a crew."""
    w.site_a = keep(SiteFactory(code="PM-SITE-A"))
    w.site_b = keep(SiteFactory(code="PM-SITE-B"))
    w.elements = {s.code: keep(NetworkElementFactory(site=s)) for s in (w.site_a, w.site_b)}
    w.error_code = keep(ErrorCodeFactory(code="PM_ALARM"))
    w.alias = keep(ErrorCodeAliasFactory(raw_code="PM-RAW-1", error_code=w.error_code))
    w.resolution = keep(ResolutionCodeFactory(code="PM_FIX"))
    w.unmapped = keep(UnmappedCode.objects.create(raw_code="PM-UNKNOWN", occurrences=1))
    w.group = keep(AssignmentGroup.objects.create(name="PM crew"))


def _add_ticket_and_records(w, files, keep) -> None:
    """A ticket of site A with its event, a repair record, a model version, a run and a webhook."""
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


def _add_edge(w, files, keep) -> None:
    """A bundle meant for each site, and an agent enrolled at each."""
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


def _add_people(w, keep) -> None:
    """A user of each role with a token, and a browser session for the engineer and the admin."""
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


def _add_alarm(w, keep) -> None:
    """An alarm raised on site A's element."""
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


def client_as(world, role: str, kind: str) -> APIClient:
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
