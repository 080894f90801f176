"""The permission matrix's rows for the pages and the admin site, the admin's per-model views
included; test_permission_matrix.py explains the table."""

from django.contrib import admin
from django.urls import reverse

from tests.permission_matrix_support import (
    LOGIN,
    PAGE_ADMIN,
    PAGE_NO_POST,
    PAGE_READ,
    STAFF,
    Row,
    get,
    page,
    staff,
)

PAGE_ROWS: dict[str, Row] = {
    # --- pages -----------------------------------------------------------------------------------
    "ticket-list": page(lambda w, s: "/", GET=get(PAGE_READ), POST=({}, PAGE_NO_POST)),
    "ticket-detail": page(lambda w, s: f"/tickets/{w.ticket.pk}/", GET=get(PAGE_READ)),
    "ticket-feedback": page(
        lambda w, s: f"/tickets/{w.ticket.pk}/feedback/",
        GET=get(PAGE_NO_POST),
        POST=({}, (LOGIN, "/tickets/*", LOGIN, "/tickets/*", LOGIN, LOGIN)),  # an error message
    ),
    "ticket-action": page(
        lambda w, s: f"/tickets/{w.ticket.pk}/action/",
        GET=get((LOGIN, 404, LOGIN, 404, LOGIN, LOGIN)),  # no such action: 404 once allowed
        POST=({}, (LOGIN, "/tickets/*", LOGIN, "/tickets/*", LOGIN, LOGIN)),  # an error message
    ),
    "ticket-assign": page(
        lambda w, s: f"/tickets/{w.ticket.pk}/assign/",
        GET=get(PAGE_NO_POST),
        POST=({}, (LOGIN, "/tickets/*", LOGIN, "/tickets/*", LOGIN, LOGIN)),  # a resolved ticket: a message
    ),
    "ticket-note": page(
        lambda w, s: f"/tickets/{w.ticket.pk}/notes/",
        GET=get(PAGE_NO_POST),
        POST=({}, (LOGIN, "/tickets/*", LOGIN, "/tickets/*", LOGIN, LOGIN)),  # no text: a message
    ),
    "profile": page(lambda w, s: "/profile/", GET=get(PAGE_READ)),
    # The admin pages: engineers get a 403 page (item 6 of issue 18).
    "model-list": page(lambda w, s: "/models/", GET=get(PAGE_ADMIN)),
    "model-detail": page(lambda w, s: f"/models/{w.version.pk}/", GET=get(PAGE_ADMIN)),
    "model-promote": page(
        lambda w, s: f"/models/{w.version.pk}/promote/",
        GET=get((LOGIN, 403, LOGIN, 200, LOGIN, LOGIN)),
        # with a reason (a blank one is the form again, 400); the files do not verify: a message
        POST=({"reason": "permission matrix"}, (LOGIN, 403, LOGIN, "/models/*", LOGIN, LOGIN)),
    ),
    "model-rollback": page(
        lambda w, s: f"/models/{w.version.pk}/rollback/",
        GET=get((LOGIN, 403, LOGIN, 404, LOGIN, LOGIN)),  # a candidate has nothing to roll back
        POST=({}, (LOGIN, 403, LOGIN, 404, LOGIN, LOGIN)),
    ),
    "training": page(
        lambda w, s: "/training/",
        GET=get(PAGE_ADMIN),
        POST=({"epochs": "-1"}, (LOGIN, 403, LOGIN, 400, LOGIN, LOGIN)),  # invalid form: nothing queued
    ),
    "training-run": page(lambda w, s: f"/training/{w.run.pk}/", GET=get(PAGE_ADMIN)),
    "training-progress": page(lambda w, s: f"/training/{w.run.pk}/progress.json", GET=get(PAGE_ADMIN)),
    "schedule": page(
        lambda w, s: "/schedule/",
        GET=get(PAGE_ADMIN),
        POST=({"task": "0"}, (LOGIN, 403, LOGIN, 404, LOGIN, LOGIN)),  # no such task once allowed
    ),
    "fleet": page(
        lambda w, s: "/fleet/",
        GET=get(PAGE_ADMIN),
        POST=({}, (LOGIN, 403, LOGIN, 400, LOGIN, LOGIN)),  # no site for the enrolment token: 400
    ),
    "login": page(
        lambda w, s: "/login/",
        GET=get((200, "/", 200, "/", 200, 200)),  # signed in already: on to the queue
        POST=({}, (200, "/", 200, "/", 200, 200)),  # an empty form is shown again
    ),
    "logout": page(lambda w, s: "/logout/", GET=get((405,) * 6), POST=({}, (LOGIN,) * 6)),
    # --- the admin site's own views (each model's views are generated below) --------------------
    "admin:index": page(lambda w, s: "/admin/", GET=get(STAFF)),
    "admin:login": page(
        lambda w, s: "/admin/login/",
        # A signed-in non-staff user is told they are not authorised; staff go on to the index.
        GET=get((200, 200, 200, "/admin/", 200, 200)),
        POST=({}, (200,) * 6),  # an empty form is shown again, to staff too
    ),
    # The admin sends a non-staff caller at its logout to its index (which asks them to sign in).
    "admin:logout": page(
        lambda w, s: "/admin/logout/",
        GET=get(("/admin/", "/admin/", "/admin/", 405, "/admin/", "/admin/")),
        POST=({}, ("/admin/", "/admin/", "/admin/", LOGIN, "/admin/", "/admin/")),
    ),
    "admin:password_change": page(lambda w, s: "/admin/password_change/", GET=get(STAFF)),
    "admin:password_change_done": page(lambda w, s: "/admin/password_change/done/", GET=get(STAFF)),
    "admin:jsi18n": page(lambda w, s: "/admin/jsi18n/", GET=get(STAFF)),
    # No model admin has autocomplete fields: staff get 403 for any question, others sign in.
    "admin:autocomplete": page(lambda w, s: "/admin/autocomplete/", GET=get(staff(403))),
    "admin:view_on_site": page(
        lambda w, s: f"/admin/r/{w.site_content_type}/{s.pk}/", GET=get(staff(404))
    ),  # sites have no public page: 404 for staff
    # UserAdmin's own view: staff set another user's password.
    "admin:auth_user_password_change": page(
        lambda w, s: f"/admin/auth/user/{w.users['engineer'].pk}/password/", GET=get(STAFF)
    ),
    "admin:app_list": page(lambda w, s: "/admin/repair_center/", GET=get(STAFF)),
    "admin/(?P<url>.*)$": page(lambda w, s: "/admin/no-such-page/", GET=get(staff(404))),
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

# Models whose admin refuses "delete": the registry's history (versions and their audit entries).
NO_DELETE = {"ml.modelversion", "ml.auditlog"}


def admin_model_rows() -> dict[str, Row]:
    rows = {}
    for model in admin.site._registry:
        app, name = model._meta.app_label, model._meta.model_name
        add = 403 if f"{app}.{name}" in NO_ADD else 200
        delete = 403 if f"{app}.{name}" in NO_DELETE else "/admin/"
        views = {
            "changelist": (None, 200),
            "add": (None, add),
            "change": ("0", "/admin/"),
            "delete": ("0", delete),
            "history": ("0", "/admin/"),
        }
        for view, (arg, for_admin) in views.items():
            url = reverse(f"admin:{app}_{name}_{view}", args=[arg] if arg else [])
            rows[f"admin:{app}_{name}_{view}"] = page(
                lambda w, s, url=url: url, f"{app}.{name}", GET=get(staff(for_admin))
            )
        # /admin/<app>/<model>/<id>/ redirects staff to the change page.
        rows[f"admin/{app}/{name}/<path:object_id>/"] = page(
            lambda w, s, a=app, n=name: f"/admin/{a}/{n}/0/",
            f"{app}.{name}",
            GET=get(staff(f"/admin/{app}/{name}/0/change/")),
        )
    return rows
