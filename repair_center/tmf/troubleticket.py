"""Tickets as TMF621 TroubleTickets (v4), and TMF621 changes applied through the one write path.

The mapping (docs/connect.md, "TMF621 Trouble Ticket API") in short: ``id``/``href`` are the
ticket's; ``externalId`` is ``<source>:<external id>`` (just the external id for tickets created
through this API, source ``tmf621``); ``priority`` and ``severity`` both come from our priority;
``status`` is our TMF621 status; ``note[]`` are the work notes plus, when one exists, the
recommendation as a note by ``RECOMMENDATION_AUTHOR``; ``relatedEntity[]`` names the site, the
network element, the alarms among the ticket's events and those it names (services/alarm_refs.py);
``resolutionCode`` and ``resolutionNotes`` are TicketAI extension attributes.

Creating goes through ``tickets_upsert``; a PATCH through ``services.workflow`` (status actions,
notes) and ``services.resolution`` (a resolution label), every step saved with the ticket's
revision checked, all steps in one transaction.
"""

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.dispatch import Signal

from repair_center import selectors
from repair_center.documents import OWN_ALARM_PATH, OWN_ALARM_RE, _iso, parse_timestamp
from repair_center.models import Ticket, TicketAlarm, TicketChange, TicketEvent, WorkNote
from repair_center.services import resolution, workflow
from repair_center.services.history import Actor, IllegalTransition, StaleRevision, WorkflowError

BASE_PATH = "/tmf-api/troubleTicket/v4"
DEFAULT_SOURCE = "tmf621"
TICKET_TYPE = "incident"
RECOMMENDATION_AUTHOR = "TicketAI recommender"
RECOMMENDATION_NOTE_TYPE = "TicketAIRecommendationNote"
_SOURCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

S = Ticket.Status
# Our priority as TMF621 priority (Critical, High, Medium, Low) and severity (the ITU-T X.733 words).
PRIORITY_NAMES = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low"}
SEVERITY_NAMES = {"critical": "Critical", "high": "Major", "medium": "Minor", "low": "Warning"}
_PRIORITY_OF = {
    **{v.lower(): k for k, v in PRIORITY_NAMES.items()},
    **{v.lower(): k for k, v in SEVERITY_NAMES.items()},
    "indeterminate": "low",
    "cleared": "low",
}

# The fields a PATCH may set; the rest belong to the ticket's source system.
PATCHABLE = ("status", "statusChangeReason", "note", "resolutionCode", "resolutionNotes")

# Asked for notes other apps add to the representation: receivers get tickets=[Ticket, ...] and
# return {ticket_id: [TMF621 Note, ...]} (ml answers with the ticket's current recommendation).
ticket_notes = Signal()


def href(ticket_id: int | str, base_url: str = "") -> str:
    return f"{base_url}{BASE_PATH}/troubleTicket/{ticket_id}"


def external_id_of(ticket: Ticket) -> str:
    if ticket.source == DEFAULT_SOURCE:
        return ticket.external_id
    return f"{ticket.source}:{ticket.external_id}"


def key_of(external_id: str) -> tuple[str, str]:
    """(source, external id) of a TMF621 externalId: ``source:id``, or an id of the tmf621 source."""
    source, colon, rest = external_id.partition(":")
    if colon and rest and _SOURCE_RE.match(source):
        return source, rest
    return DEFAULT_SOURCE, external_id


def priority_of(value: str) -> str | None:
    """Our priority for a TMF621 priority or severity word (None: not one we know)."""
    return _PRIORITY_OF.get(str(value).strip().lower())


# --- Reading -----------------------------------------------------------------------------------


def troubleticket_queryset() -> QuerySet[Ticket]:
    """Tickets with what their representation reads, in a constant number of queries."""
    return selectors.ticket_list().prefetch_related(
        Prefetch("work_notes", queryset=WorkNote.objects.order_by("created_at", "id")),
        Prefetch(
            "changes",
            queryset=TicketChange.objects.filter(changes__has_key="status").order_by("changed_at", "id"),
            to_attr="status_changes",
        ),
        Prefetch(
            "events",
            queryset=TicketEvent.objects.filter(kind=TicketEvent.Kind.ALARM_RAISED).order_by("position"),
            to_attr="alarm_events",
        ),
        Prefetch("alarm_refs", queryset=TicketAlarm.objects.order_by("position"), to_attr="named_alarms"),
    )


def _note(note: WorkNote) -> dict:
    return {
        "id": str(note.pk),
        "author": note.author,
        "date": _iso(note.created_at),
        "text": note.text,
        "@type": "Note",
    }


def _related_entities(ticket: Ticket, base_url: str) -> list[dict]:
    entities = []
    if ticket.site_id:
        site = ticket.site
        entities.append(
            {
                "id": site.code,
                "name": site.name or site.code,
                "role": "site",
                "@referredType": "GeographicSite",
            }
        )
    if ticket.element_id or ticket.element_ref:
        element = ticket.element
        entity = {"id": element.serial if element else ticket.element_ref, "role": "networkElement"}
        if element is not None and element.name:
            entity["name"] = element.name
        entities.append({**entity, "@referredType": "Resource"})
    stored = set()
    for event in getattr(ticket, "alarm_events", ()):
        attrs = event.attrs or {}
        if isinstance(attrs.get("alarm"), int):  # correlated from a stored alarm: its TMF642 resource
            stored.add(attrs["alarm"])
            entity = {"id": str(attrs["alarm"]), "href": f"{base_url}{OWN_ALARM_PATH}{attrs['alarm']}"}
        else:
            entity = {"id": str(attrs.get("alarm_id") or f"{ticket.pk}-{event.position}")}
            if attrs.get("alarm_href"):
                entity["href"] = str(attrs["alarm_href"])
        entity.update(role="alarm")
        if event.raw_code:
            entity["name"] = event.raw_code
        entities.append({**entity, "@referredType": "Alarm"})
    for ref in getattr(ticket, "named_alarms", ()):  # named, and not (yet) among its events
        if ref.alarm_id not in stored:
            entity = {"id": ref.ref, "role": "alarm", "@referredType": "Alarm"}
            if OWN_ALARM_RE.match(ref.ref):
                entity.update(id=ref.ref.rsplit("/", 1)[1], href=f"{base_url}{ref.ref}")
            entities.append(entity)
    return entities


def _related_parties(ticket: Ticket) -> list[dict]:
    parties = []
    if ticket.assignment_group_id:
        name = ticket.assignment_group.name
        parties.append({"id": name, "name": name, "role": "assignmentGroup", "@referredType": "PartyRole"})
    if ticket.assignee_id:
        username = ticket.assignee.get_username()
        parties.append({"id": username, "name": username, "role": "assignee", "@referredType": "Individual"})
    return parties


def representation(ticket: Ticket, *, base_url: str = "", extra_notes: Iterable[dict] = ()) -> dict:
    """The ticket as a TMF621 TroubleTicket (read from troubleticket_queryset())."""
    data: dict[str, Any] = {
        "id": str(ticket.pk),
        "href": href(ticket.pk, base_url),
        "@type": "TroubleTicket",
        "externalId": external_id_of(ticket),
        "name": ticket.title,
        "description": ticket.description,
        "ticketType": TICKET_TYPE,
        "severity": SEVERITY_NAMES[ticket.priority],
        "priority": PRIORITY_NAMES[ticket.priority],
        "status": ticket.status,
        "creationDate": _iso(ticket.opened_at or ticket.created_at),
        "lastUpdate": _iso(ticket.updated_at),
    }
    if ticket.status_changed_at:
        data["statusChangeDate"] = _iso(ticket.status_changed_at)
    if ticket.status_change_reason:
        data["statusChangeReason"] = ticket.status_change_reason
    if ticket.resolved_at:
        data["resolutionDate"] = _iso(ticket.resolved_at)
    data["statusChange"] = [
        {
            "status": change.changes["status"].get("to") or "",
            "changeDate": _iso(change.changed_at),
            **({"changeReason": change.reason} if change.reason else {}),
        }
        for change in getattr(ticket, "status_changes", ())
    ]
    data["note"] = [_note(n) for n in ticket.work_notes.all()] + list(extra_notes)
    data["relatedEntity"] = _related_entities(ticket, base_url)
    data["relatedParty"] = _related_parties(ticket)
    if ticket.resolution_id:
        data["resolutionCode"] = ticket.resolution.code
    if ticket.resolution_notes:
        data["resolutionNotes"] = ticket.resolution_notes
    return data


def representations(tickets: list[Ticket], *, base_url: str = "") -> list[dict]:
    """TMF621 TroubleTickets of these tickets, with the notes other apps add (one ask for all)."""
    extra: dict[int, list[dict]] = {}
    for _receiver, answer in ticket_notes.send(sender=Ticket, tickets=tickets):
        for ticket_id, notes in (answer or {}).items():
            extra.setdefault(ticket_id, []).extend(notes)
    return [representation(t, base_url=base_url, extra_notes=extra.get(t.pk, ())) for t in tickets]


def troubleticket_get(ticket_id: int, *, base_url: str = "") -> dict | None:
    ticket = troubleticket_queryset().filter(pk=ticket_id).first()
    return None if ticket is None else representations([ticket], base_url=base_url)[0]


# --- From TMF621 to the canonical document -------------------------------------------------------

# Canonical field -> the TMF621 attribute it came from (to name the right field in errors).
TMF_NAMES = {
    "external_id": "externalId",
    "title": "name",
    "description": "description",
    "status": "status",
    "priority": "priority",
    "opened_at": "creationDate",
    "resolved_at": "resolutionDate",
    "site": "relatedEntity",
    "element": "relatedEntity",
    "alarms": "relatedEntity",
    "resolution": "resolutionCode",
    "resolution_notes": "resolutionNotes",
    # The workflow's names, for a PATCH the workflow refuses.
    "reason": "statusChangeReason",
}


def _entity_ref(entities: Any, *, roles: set[str], types: set[str]) -> str:
    for entity in entities if isinstance(entities, list) else ():
        if not isinstance(entity, dict):
            continue
        role = str(entity.get("role") or "").lower()
        kind = str(entity.get("@referredType") or "").lower()
        if (role in roles or kind in types) and entity.get("id") not in (None, ""):
            return str(entity["id"])
    return ""


def _alarm_names(entities: Any, own_base: str | None) -> list[str]:
    """The alarms a ticket names (``relatedEntity`` of role or ``@referredType`` alarm): by its path
    when the ``href`` is TicketAI's own TMF642 alarm (on ``own_base``, or a path; never with no
    ``own_base``: another system's hrefs are its own), else by ``id`` (an externalAlarmId)."""
    names = []
    for entity in entities if isinstance(entities, list) else ():
        if not isinstance(entity, dict) or "alarm" not in (
            str(entity.get("role") or "").lower(),
            str(entity.get("@referredType") or "").lower(),
        ):
            continue
        link = str(entity.get("href") or "") if own_base is not None else ""
        path = link[len(own_base) :] if own_base and link.startswith(own_base) else link
        if OWN_ALARM_RE.match(path):
            names.append(path)
        elif entity.get("id") not in (None, ""):
            names.append(str(entity["id"]))
    return names


# The TroubleTicket attributes document_fields reads (and ``id``, which keys a ticket pulled or imported).
READ = (
    "id",
    "name",
    "description",
    "status",
    "creationDate",
    "resolutionDate",
    "resolutionCode",
    "resolutionNotes",
    "priority",
    "severity",
    "relatedEntity",
)


def is_troubleticket(data: dict) -> bool:
    """Whether a JSON object is a TMF621 TroubleTicket (a dump of a TMF621 API, say) rather than a
    canonical document: it says so (``@type``), or has TMF621's names and none of ours."""
    if data.get("@type") == "TroubleTicket":
        return True
    return (
        "external_id" not in data and "creationDate" in data and ("name" in data or "relatedEntity" in data)
    )


def document_fields(data: dict, *, own_base: str | None = None) -> dict:
    """The canonical document fields (source and external_id aside) of a TMF621 TroubleTicket.

    Values are passed on as given; ``parse_ticket`` judges them. Used for POST /troubleTicket (with
    ``own_base``, this server's URL, to know its own alarms' hrefs) and by the TMF621 connector preset
    on what a remote TMF621 system answers (no ``own_base``: alarms by their ids only)."""
    doc: dict[str, Any] = {}
    for canonical, tmf in (
        ("title", "name"),
        ("description", "description"),
        ("status", "status"),
        ("opened_at", "creationDate"),
        ("resolved_at", "resolutionDate"),
        ("resolution", "resolutionCode"),
        ("resolution_notes", "resolutionNotes"),
    ):
        if data.get(tmf) is not None:
            doc[canonical] = data[tmf]
    for tmf in ("priority", "severity"):  # priority wins; severity when it is all there is
        value = data.get(tmf)
        if value is not None and "priority" not in doc:
            doc["priority"] = priority_of(value) or value
    entities = data.get("relatedEntity")
    site = _entity_ref(entities, roles={"site"}, types={"geographicsite", "site"})
    element = _entity_ref(entities, roles={"networkelement", "element"}, types={"resource", "networkelement"})
    if site:
        doc["site"] = site
    if element:
        doc["element"] = element
    if alarms := _alarm_names(entities, own_base):
        doc["alarms"] = alarms
    return doc


def tmf_errors(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Canonical field errors renamed to the TMF621 attributes the caller sent."""
    renamed: dict[str, list[str]] = {}
    for field, messages in errors.items():
        renamed.setdefault(TMF_NAMES.get(field, field), []).extend(messages)
    return renamed


def new_notes(notes: Any, existing_ids: set[str]) -> list[str]:
    """Texts of the notes to add: those without an id we already hold (notes are never edited)."""
    texts = []
    for note in notes or ():
        if isinstance(note, dict) and str(note.get("id") or "") not in existing_ids:
            texts.append(str(note.get("text") or ""))
    return texts


# --- PATCH ---------------------------------------------------------------------------------------


def _action_for(ticket: Ticket, target: str) -> str | None:
    """The workflow action that takes the ticket to ``target`` (None: it is there already)."""
    if target == ticket.status:
        if target == S.ACKNOWLEDGED and ticket.acknowledged_at is None:
            return "acknowledge"
        return None
    actions = {
        S.IN_PROGRESS: "reopen" if ticket.status == S.RESOLVED else "start",
        S.HELD: "hold",
        S.RESOLVED: "resolve",
        S.CLOSED: "close",
        S.CANCELLED: "cancel",
    }
    action = actions.get(target)
    if action is None:
        reachable = sorted({t.target for t in workflow.allowed_actions(ticket)} - {ticket.status})
        can = f"it can be set to {', '.join(reachable)}" if reachable else "it cannot change (a final status)"
        raise IllegalTransition(
            f"ticket {ticket.external_id} cannot be set to {target} here; from {ticket.status} {can}",
            field="status",
        )
    return action


def troubleticket_patch(
    *,
    ticket_id: int,
    patch: dict,
    user=None,
    actor: Actor | None = None,
    expected_revision: int | None = None,
) -> Ticket:
    """Apply a TMF621 merge-patch (status with statusChangeReason, new notes, resolution) in one transaction.

    Raises WorkflowError (400), IllegalTransition or StaleRevision (409); nothing is saved then.
    """
    refused = sorted(set(patch) - set(PATCHABLE))
    if refused:
        raise WorkflowError(
            f"{', '.join(refused)} cannot be changed here: they belong to the ticket's source system; "
            f"a PATCH may set {', '.join(PATCHABLE)}",
            field=refused[0],
        )
    if "statusChangeReason" in patch and "status" not in patch:
        raise WorkflowError("statusChangeReason goes with a status", field="statusChangeReason")
    actor = actor or Actor.of(user)
    with transaction.atomic():
        # The row lock keeps other changes out between our steps: each step pins the revision the
        # step before it left.
        ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
        if ticket is None:
            raise WorkflowError(f"ticket #{ticket_id} does not exist", field="id")
        if expected_revision is not None and expected_revision != ticket.revision:
            raise StaleRevision(ticket_id=ticket_id, expected=expected_revision, current=ticket.revision)
        revision = ticket.revision
        code = patch.get("resolutionCode") or ""
        notes = patch.get("resolutionNotes") or ""
        action = _action_for(ticket, patch["status"]) if patch.get("status") else None
        if action is not None:
            ticket = workflow.ticket_transition(
                ticket_id=ticket_id,
                action=action,
                actor=actor,
                reason=patch.get("statusChangeReason") or "",
                resolution_code=code,
                resolution_notes=notes,
                expected_revision=revision,
            )
            revision = ticket.revision
        elif code or notes:
            if ticket.status not in (S.RESOLVED, S.CLOSED) or not (code or ticket.resolution_id):
                raise WorkflowError(
                    "a resolution goes with status resolved (or on a resolved ticket)", field="resolutionCode"
                )
            ticket = resolution.ticket_resolve(
                ticket_id=ticket_id,
                resolution_code=code or ticket.resolution.code,
                notes=notes,
                resolved_by=actor.name,
                user=actor.user,
            )
            revision = ticket.revision
        held = {str(pk) for pk in WorkNote.objects.filter(ticket_id=ticket_id).values_list("pk", flat=True)}
        for text in new_notes(patch.get("note"), held):
            workflow.ticket_note_add(ticket_id=ticket_id, text=text, actor=actor, expected_revision=revision)
            revision += 1
    return Ticket.objects.get(pk=ticket_id)


def parse_time_filter(value: str) -> datetime:
    """A lastUpdate filter value; raises ValueError with the reason."""
    return parse_timestamp(value)
