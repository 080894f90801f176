"""How exports name a ticket's status and priority, read into TicketAI's (TMF621) values.

Ticketing systems each have their own words: ServiceNow's "3 - Moderate" and "On Hold", Jira's
"Highest", "Blocker" and "To Do", a service desk's "P2" or "Sev 1", an event log's "Awaiting User
Info", in English or in a desk's German, Spanish, French, Portuguese or Italian ("Gelöst", "En
curso", "Fermé", "Alta"; accents and case do not matter). A ticket whose status or priority is in
none of these lists is still refused, with the values that are known, so a typo is not stored as a
guess. A numeric state ("7") is refused too: ServiceNow's 6 is Resolved where Remedy's is Cancelled,
so the import's ``--value-map status:7=closed`` says which it is.
"""

import re
import unicodedata

from repair_center.models import Ticket

_S, _P = Ticket.Status, Ticket.Priority  # short: the tables below are long

_STATUSES: dict[str, str] = {
    **{value.lower(): value for value in _S.values},
    **dict.fromkeys(
        ("new", "open", "opened", "to do", "todo", "queued", "submitted", "registered"), _S.ACKNOWLEDGED
    ),
    **dict.fromkeys(("unassigned", "created", "ack", "reopened", "re opened"), _S.ACKNOWLEDGED),
    **dict.fromkeys(
        ("in progress", "inprogress", "work in progress", "wip", "active", "assigned"), _S.IN_PROGRESS
    ),
    **dict.fromkeys(
        ("ongoing", "investigating", "under investigation", "in work", "working"), _S.IN_PROGRESS
    ),
    **dict.fromkeys(("waiting", "awaiting", "suspended", "deferred", "parked"), _S.PENDING),
    **dict.fromkeys(("on hold", "onhold", "hold", "held"), _S.HELD),
    **dict.fromkeys(("done", "fixed", "solved", "completed", "complete", "restored", "cleared"), _S.RESOLVED),
    **dict.fromkeys(("closed complete", "closed incomplete", "closed skipped", "archived"), _S.CLOSED),
    **dict.fromkeys(("canceled", "withdrawn", "rejected", "aborted", "void"), _S.CANCELLED),
    # German, Spanish, French, Portuguese, Italian (accents removed: "geloest" is "gelöst" typed)
    **dict.fromkeys(
        ("neu", "offen", "eroffnet", "erfasst", "wiedereroffnet", "wiedereroeffnet"), _S.ACKNOWLEDGED
    ),
    **dict.fromkeys(("nuevo", "abierto", "reabierto", "nouveau", "ouvert", "reouvert"), _S.ACKNOWLEDGED),
    **dict.fromkeys(("novo", "aberto", "reaberto", "nuovo", "aperto", "riaperto"), _S.ACKNOWLEDGED),
    **dict.fromkeys(("in bearbeitung", "in arbeit", "zugewiesen", "aktiv"), _S.IN_PROGRESS),
    **dict.fromkeys(
        ("en curso", "en progreso", "en proceso", "asignado", "en cours", "assigne"), _S.IN_PROGRESS
    ),
    **dict.fromkeys(("em andamento", "em progresso", "em curso", "atribuido"), _S.IN_PROGRESS),
    **dict.fromkeys(("in corso", "in lavorazione", "assegnato"), _S.IN_PROGRESS),
    **dict.fromkeys(("wartend", "ausstehend", "pendiente", "pendente", "sospeso"), _S.PENDING),
    # ServiceNow's "On Hold" in its Spanish, French, Portuguese and Italian interfaces
    **dict.fromkeys(("zuruckgestellt", "zurueckgestellt", "angehalten", "en espera"), _S.HELD),
    **dict.fromkeys(("en attente", "em espera", "in attesa"), _S.HELD),
    **dict.fromkeys(("gelost", "geloest", "behoben", "erledigt", "resuelto", "solucionado"), _S.RESOLVED),
    **dict.fromkeys(("resolu", "resolvido", "solucionado", "risolto"), _S.RESOLVED),
    **dict.fromkeys(("geschlossen", "abgeschlossen", "cerrado", "ferme", "clos", "cloture"), _S.CLOSED),
    **dict.fromkeys(("fechado", "encerrado", "chiuso"), _S.CLOSED),
    **dict.fromkeys(
        ("storniert", "abgebrochen", "abgelehnt", "zuruckgezogen", "zurueckgezogen"), _S.CANCELLED
    ),
    **dict.fromkeys(("cancelado", "rechazado", "annule", "rejete", "rejeitado"), _S.CANCELLED),
    **dict.fromkeys(("annullato", "rifiutato"), _S.CANCELLED),
}
# "Awaiting User Info", "Waiting for customer", "Closed/Resolved by Caller": the first word says it.
_STATUS_PREFIXES = (
    (("awaiting ", "waiting ", "pending "), _S.PENDING),
    # "Warten auf Kunde", "En attente du client": waiting for someone is pending, not on hold
    (
        ("warten ", "wartet ", "en espera ", "esperando ", "en attente ", "aguardando ", "in attesa "),
        _S.PENDING,
    ),
    (("on hold ",), _S.HELD),
    (("resolved ", "solved ", "fixed "), _S.RESOLVED),
    (("gelost ", "resuelto ", "resolu ", "resolvido ", "risolto "), _S.RESOLVED),
    (("closed ", "closed/"), _S.CLOSED),
    (("geschlossen ", "cerrado ", "ferme ", "fechado ", "chiuso "), _S.CLOSED),
    (("cancelled ", "canceled "), _S.CANCELLED),
)

_PRIORITIES: dict[str, str] = {
    **{value.lower(): value for value in _P.values},
    **dict.fromkeys(
        ("urgent", "emergency", "highest", "blocker", "very high", "immediate", "top"), _P.CRITICAL
    ),
    **dict.fromkeys(("major", "important", "elevated"), _P.HIGH),
    **dict.fromkeys(("moderate", "normal", "standard", "average", "indeterminate"), _P.MEDIUM),
    **dict.fromkeys(("planning", "lowest", "minor", "trivial", "very low", "warning", "info"), _P.LOW),
    **dict.fromkeys(("informational", "cosmetic", "routine"), _P.LOW),
    # German, Spanish, French, Portuguese, Italian (accents removed)
    **dict.fromkeys(("kritisch", "sehr hoch", "dringend", "critica", "critico", "critique"), _P.CRITICAL),
    **dict.fromkeys(("urgente", "muy alta", "tres haute", "muito alta", "molto alta"), _P.CRITICAL),
    **dict.fromkeys(("hoch", "alta", "alto", "haute", "haut", "elevee", "eleve", "elevata"), _P.HIGH),
    **dict.fromkeys(("mittel", "media", "medio", "moyenne", "moyen", "normale"), _P.MEDIUM),
    **dict.fromkeys(("niedrig", "gering", "baja", "bajo", "basse", "bas", "faible"), _P.LOW),
    **dict.fromkeys(("baixa", "baixo", "bassa", "basso", "muy baja", "tres basse"), _P.LOW),
}
# A level: "P1", "Sev 2", "S3", "Severity 4", "Prio 1", "Priority 2" or a bare "1" (1 is the most urgent).
_LEVEL_RE = re.compile(r"^(?:p|s|sev|severity|prio|priority)?\s*([0-5])$")
_LEVELS = {0: _P.CRITICAL, 1: _P.CRITICAL, 2: _P.HIGH, 3: _P.MEDIUM, 4: _P.LOW, 5: _P.LOW}
# ServiceNow's "3 - Moderate" and OTRS's "3 normal" are read by their word: OTRS numbers its
# priorities the other way round ("5 very high", "1 very low"), so the word, not the number, says it.
_NUMBER_PREFIX_RE = re.compile(r"^\d+\s*(?:-\s*|\s+)(?=\D)")


def _words(raw: str) -> str:
    """Lower case without accents, with runs of spaces, '_', '-' and '.' as one space: "On_Hold" is
    "on hold", "Gelöst" is "gelost", "Résolu" is "resolu"."""
    return " ".join(re.split(r"[\s_.\-]+", _unaccented(raw.strip().lower()))).strip()


def _unaccented(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def status_of(raw: str) -> str | None:
    """The TMF621 status an export's word names, or None when it names none."""
    words = _words(_NUMBER_PREFIX_RE.sub("", raw.strip()))
    if words in _STATUSES:
        return _STATUSES[words]
    for prefixes, status in _STATUS_PREFIXES:
        if words.startswith(prefixes):
            return status
    return _STATUSES.get(words.replace(" ", ""))


def priority_of(raw: str) -> str | None:
    """The priority an export's word or level names, or None when it names none."""
    text = raw.strip().lower()
    level = _LEVEL_RE.match(text.replace("-", " ").replace("_", " ").strip())
    if level:
        return _LEVELS[int(level.group(1))]
    words = _words(_NUMBER_PREFIX_RE.sub("", text))
    return _PRIORITIES.get(words) or _PRIORITIES.get(words.replace(" ", ""))
