"""The permission matrix's rows for the probes and the APIs (repair_center, TMF621, TMF642, edge,
ml); test_permission_matrix.py explains the table."""

from tests.permission_matrix_support import (
    ADMIN_ONLY,
    ADMIN_WRITE_400,
    ALARM_WRITE_400,
    EDGE_NO_GET,
    EDGE_POST_400,
    EVERYONE,
    NO_READ,
    NO_WRITE,
    READ_ANY,
    TICKET_WRITE_400,
    WORK_400,
    Row,
    api,
    get,
    page,
)


def _predictions(w, site) -> dict:
    return {"predictions": [{"site": site.code}]}  # the site is checked before the rest


API_ROWS: dict[str, Row] = {
    # --- probes, metrics, schema ---------------------------------------------------------------
    "healthz": page(lambda w, s: "/healthz", GET=get(EVERYONE)),
    "readyz": page(lambda w, s: "/readyz", GET=get(EVERYONE)),
    # An admin session reads metrics; a Token or Agent header is not the metrics bearer token: 403.
    "metrics": page(lambda w, s: "/metrics", GET=get((401, 403, 403, 200, 403, 403))),
    "schema": api(lambda w, s: "/api/schema/", GET=get(EVERYONE)),
    "docs": api(lambda w, s: "/api/docs/", GET=get(EVERYONE)),
    "static": page(lambda w, s: "/static/frontend/app.css", GET=get(EVERYONE)),
    # --- repair_center API ---------------------------------------------------------------------
    "api:api-root": api(
        lambda w, s: "/api/v1/", lambda w, s: "/api/v1/.json", GET=get(READ_ANY), POST=({}, NO_WRITE)
    ),
    "api:ticket-list": api(
        lambda w, s: "/api/v1/tickets/", True, GET=get(READ_ANY), POST=({}, TICKET_WRITE_400)
    ),
    "api:ticket-bulk": api(
        lambda w, s: "/api/v1/tickets/bulk/", True, GET=get(NO_READ), POST=({}, TICKET_WRITE_400)
    ),
    "api:ticket-detail": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/",
        True,
        GET=get(READ_ANY),
        PATCH=({"external_id": "changed"}, TICKET_WRITE_400),  # identity cannot change: 400
        DELETE=(None, (401, 403, 204, 204, 401, 401)),  # rolled back with the test
    ),
    "api:ticketevent-list": api(lambda w, s: "/api/v1/events/", True, GET=get(READ_ANY), POST=({}, NO_WRITE)),
    "api:ticketevent-detail": api(
        lambda w, s: f"/api/v1/events/{w.event.pk}/", True, GET=get(READ_ANY), DELETE=(None, NO_WRITE)
    ),
    "api:errorcode-list": api(
        lambda w, s: "/api/v1/error-codes/", True, GET=get(READ_ANY), POST=({}, ADMIN_WRITE_400)
    ),
    "api:errorcode-detail": api(
        lambda w, s: f"/api/v1/error-codes/{w.error_code.pk}/",
        True,
        GET=get(READ_ANY),
        PUT=({}, ADMIN_WRITE_400),
    ),
    "api:errorcodealias-list": api(
        lambda w, s: "/api/v1/error-code-aliases/", True, GET=get(READ_ANY), POST=({}, ADMIN_WRITE_400)
    ),
    "api:errorcodealias-detail": api(
        lambda w, s: f"/api/v1/error-code-aliases/{w.alias.pk}/",
        True,
        GET=get(READ_ANY),
        PUT=({}, ADMIN_WRITE_400),
    ),
    "api:resolutioncode-list": api(
        lambda w, s: "/api/v1/resolution-codes/", True, GET=get(READ_ANY), POST=({}, ADMIN_WRITE_400)
    ),
    "api:resolutioncode-detail": api(
        lambda w, s: f"/api/v1/resolution-codes/{w.resolution.pk}/",
        True,
        GET=get(READ_ANY),
        PUT=({}, ADMIN_WRITE_400),
    ),
    "api:unmappedcode-list": api(
        lambda w, s: "/api/v1/unmapped-codes/", True, GET=get(READ_ANY), POST=({}, NO_WRITE)
    ),
    "api:unmappedcode-detail": api(
        lambda w, s: f"/api/v1/unmapped-codes/{w.unmapped.pk}/",
        True,
        GET=get(READ_ANY),
        DELETE=(None, NO_WRITE),
    ),
    "api:site-list": api(lambda w, s: "/api/v1/sites/", True, GET=get(READ_ANY), POST=({}, ADMIN_WRITE_400)),
    "api:site-detail": api(
        lambda w, s: f"/api/v1/sites/{s.pk}/", True, GET=get(READ_ANY), PUT=({}, ADMIN_WRITE_400)
    ),
    "api:networkelement-list": api(
        lambda w, s: "/api/v1/elements/", True, GET=get(READ_ANY), POST=({}, ADMIN_WRITE_400)
    ),
    "api:networkelement-detail": api(
        lambda w, s: f"/api/v1/elements/{w.elements[s.code].pk}/",
        True,
        GET=get(READ_ANY),
        PUT=({}, ADMIN_WRITE_400),
    ),
    "api:repairrecord-list": api(
        lambda w, s: "/api/v1/repair-records/", True, GET=get(READ_ANY), POST=({}, ADMIN_WRITE_400)
    ),
    "api:repairrecord-detail": api(
        lambda w, s: f"/api/v1/repair-records/{w.repair.pk}/",
        True,
        GET=get(READ_ANY),
        PATCH=({"finding": "not-a-finding"}, ADMIN_WRITE_400),
    ),
    # Working tickets: engineers and integrations act, any role reads (an empty body: 400).
    "api:ticket-transition": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/transition/",
        True,
        GET=get(NO_READ),
        POST=({}, WORK_400),
    ),
    "api:ticket-assign": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/assign/", True, GET=get(NO_READ), POST=({}, WORK_400)
    ),
    "api:ticket-notes": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/notes/", True, GET=get(READ_ANY), POST=({}, WORK_400)
    ),
    "api:ticket-history": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/history/",
        True,
        GET=get(READ_ANY),
        POST=({}, (401, 403, 405, 405, 401, 401)),  # ticket writers pass, then 405
    ),
    "api:assignmentgroup-list": api(
        lambda w, s: "/api/v1/assignment-groups/", True, GET=get(READ_ANY), POST=({}, ADMIN_WRITE_400)
    ),
    "api:assignmentgroup-detail": api(
        lambda w, s: f"/api/v1/assignment-groups/{w.group.pk}/",
        True,
        GET=get(READ_ANY),
        PUT=({}, ADMIN_WRITE_400),
    ),
    # --- TMF621 (docs/connect.md): any role reads; integrations and admins create and register
    # listeners; whoever works tickets patches them (a field the source owns: 400).
    "tmf621:troubleticket-list": api(
        lambda w, s: "/tmf-api/troubleTicket/v4/troubleTicket",
        GET=get(READ_ANY),
        POST=({}, TICKET_WRITE_400),
    ),
    "tmf621:troubleticket-detail": api(
        lambda w, s: f"/tmf-api/troubleTicket/v4/troubleTicket/{w.ticket.pk}",
        GET=get(READ_ANY),
        PATCH=({"name": "renamed"}, WORK_400),
    ),
    "tmf621:troubleticket-listener": api(  # events from a system a tmf621 connector pulls
        lambda w, s: "/tmf-api/troubleTicket/v4/connector/nobody/listener/troubleTicketCreateEvent",
        GET=get(NO_READ),
        POST=({}, (401, 403, 404, 404, 401, 401)),  # no such connector: 404 once allowed
    ),
    "tmf621-hub:hub-list": api(
        lambda w, s: "/tmf-api/troubleTicket/v4/hub",
        GET=get((401, 403, 405, 405, 401, 401)),
        POST=({}, TICKET_WRITE_400),
    ),
    "tmf621-hub:hub-detail": api(
        lambda w, s: "/tmf-api/troubleTicket/v4/hub/0",  # no such listener: 404 once allowed
        DELETE=(None, (401, 403, 404, 404, 401, 401)),
    ),
    # --- TMF642 alarms: fault-management systems post and read nothing; the rest as for tickets ---
    "tmf642-alarm-list": api(
        lambda w, s: "/tmf-api/alarm/v4/alarm",
        GET=get((*READ_ANY, 403)),
        POST=({}, ALARM_WRITE_400),  # no attributes: 400 once allowed
    ),
    "tmf642-alarm-bulk": api(
        lambda w, s: "/tmf-api/alarm/v4/alarm/bulk",
        GET=get((*NO_READ, 403)),
        POST=({}, ALARM_WRITE_400),
    ),
    "tmf642-alarm-detail": api(
        lambda w, s: f"/tmf-api/alarm/v4/alarm/{w.alarm.pk}",
        GET=get((*READ_ANY, 403)),
        PATCH=({"state": "not-a-state"}, ALARM_WRITE_400),
    ),
    "tmf642-clear-alarms": api(
        lambda w, s: "/tmf-api/alarm/v4/clearAlarms", GET=get((*NO_READ, 403)), POST=({}, ALARM_WRITE_400)
    ),
    "tmf642-ack-alarms": api(
        lambda w, s: "/tmf-api/alarm/v4/ackAlarms", GET=get((*NO_READ, 403)), POST=({}, ALARM_WRITE_400)
    ),
    "tmf642-listener": api(  # an alarm event from a TMF642 system TicketAI listens to
        lambda w, s: "/tmf-api/alarm/v4/listener/alarmCreateEvent",
        GET=get((*NO_READ, 403)),
        POST=({}, ALARM_WRITE_400),  # no event.alarm: 400 once allowed
    ),
    # --- edge API: agents only, each for its own site ---------------------------------------------
    "edge-enrol": api(
        lambda w, s: "/api/v1/edge/enrol/",
        GET=get((405,) * 6),
        POST=({}, (400,) * 6),  # no token in the body: 400; a spent or unknown one: 403
    ),
    "edge-heartbeat": api(
        lambda w, s: "/api/v1/edge/heartbeat/",
        GET=get(EDGE_NO_GET),
        POST=({"backlog": 1}, (401, 401, 401, 401, 200, 200)),  # no site in it: the token's own
    ),
    "edge-bundle": api(
        lambda w, s: f"/api/v1/edge/bundles/{w.bundles[s.code].version}/",
        GET=get((401, 401, 401, 401, 200, 403)),
        POST=({}, (*EDGE_NO_GET[:4], 405, 405)),
    ),
    "edge-predictions": api(
        lambda w, s: "/api/v1/edge/predictions/",
        GET=get(EDGE_NO_GET),
        # An agent's own site: its malformed item is refused on its own in a 200 (errors by index).
        POST=(_predictions, (401, 401, 401, 401, 200, 403)),
    ),
    "edge-reports": api(lambda w, s: "/api/v1/edge/reports/", GET=get(EDGE_NO_GET), POST=({}, EDGE_POST_400)),
    "edge-etl": api(lambda w, s: "/api/v1/edge/etl/", GET=get(EDGE_NO_GET), POST=({}, EDGE_POST_400)),
    # --- ml API ----------------------------------------------------------------------------------
    "api-ticket-feedback": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/feedback/",
        GET=get(READ_ANY),
        POST=({}, (401, 400, 403, 400, 401, 401)),  # engineers and admins give feedback
    ),
    "webhook-list": api(lambda w, s: "/api/v1/webhooks/", GET=get(ADMIN_ONLY), POST=({}, ADMIN_WRITE_400)),
    "webhook-detail": api(
        lambda w, s: f"/api/v1/webhooks/{w.webhook.pk}/",
        GET=get(ADMIN_ONLY),
        DELETE=(None, (401, 403, 403, 204, 401, 401)),
    ),
    "webhook-deliveries": api(
        lambda w, s: f"/api/v1/webhooks/{w.webhook.pk}/deliveries/", GET=get(ADMIN_ONLY), POST=({}, NO_WRITE)
    ),
    "webhook-redeliver": api(
        lambda w, s: f"/api/v1/webhooks/{w.webhook.pk}/deliveries/{w.delivery.pk}/redeliver/",
        GET=get(NO_WRITE),  # webhooks are read by admins only, so GET is 403 before it is 405
        POST=(None, (401, 403, 403, 202, 401, 401)),
    ),
    "site-placement": api(
        lambda w, s: f"/api/v1/sites/{s.pk}/placement/", GET=get(READ_ANY), POST=({}, NO_WRITE)
    ),
    "placement-what-if": api(
        lambda w, s: "/api/v1/placement/what-if/",
        GET=get(NO_READ),
        POST=({}, (401, 200, 200, 200, 401, 401)),  # computes an answer, stores nothing
    ),
    "model-shadow": api(
        lambda w, s: f"/api/v1/models/{w.version.pk}/shadow/",
        GET=get(READ_ANY),
        POST=(None, ADMIN_WRITE_400),  # the candidate has no files to verify: 400 once allowed
        DELETE=(None, (401, 403, 403, 200, 401, 401)),
    ),
    "ticket-recommendation": api(
        lambda w, s: f"/api/v1/tickets/{w.ticket.pk}/recommendation/",
        GET=get((401, 200, 200, 200, 401, 401)),  # allowed; no champion yet: no recommendations
        POST=({}, NO_WRITE),
    ),
    "recommendations": api(
        lambda w, s: "/api/v1/recommendations/",
        GET=get(NO_READ),
        POST=({}, (401, 400, 400, 400, 401, 401)),  # a draft with no content: 400
    ),
}
