"""Statuses and priorities as ticketing systems write them are read into TicketAI's values; a word
no system uses is still refused, naming the known values."""

import pytest

from repair_center.documents import DocumentError, parse_ticket

STATUSES = {
    "acknowledged": "acknowledged",
    "inProgress": "inProgress",
    # ServiceNow
    "New": "acknowledged",
    "In Progress": "inProgress",
    "On Hold": "held",
    "6 - Resolved": "resolved",
    "Closed Complete": "closed",
    "Canceled": "cancelled",
    "Closed/Resolved by Caller": "closed",
    # OTRS / Znuny
    "closed successful": "closed",
    "pending reminder": "pending",
    # Jira
    "To Do": "acknowledged",
    "In_Progress": "inProgress",
    "Waiting for customer": "pending",
    "Done": "resolved",
    "Reopened": "acknowledged",
    # an event log's states
    "Active": "inProgress",
    "Awaiting User Info": "pending",
    "Awaiting Vendor": "pending",
    # German, Spanish, French, Portuguese, Italian desks; accents and case do not matter
    "Offen": "acknowledged",
    "In Bearbeitung": "inProgress",
    "Warten auf Kunde": "pending",
    "Gelöst": "resolved",
    "geloest": "resolved",
    "GESCHLOSSEN": "closed",
    "Abierto": "acknowledged",
    "En curso": "inProgress",
    "Resuelto": "resolved",
    "Cerrado": "closed",
    "Ouvert": "acknowledged",
    "En cours": "inProgress",
    "En attente": "held",
    "En attente d'information": "pending",
    "Résolu": "resolved",
    "resolu": "resolved",
    "Fermé": "closed",
    "Aberto": "acknowledged",
    "Resolvido": "resolved",
    "Fechado": "closed",
    "Aperto": "acknowledged",
    "Risolto": "resolved",
    "Chiuso": "closed",
}
PRIORITIES = {
    "": "medium",
    "HIGH": "high",
    # ServiceNow
    "1 - Critical": "critical",
    "3 - Moderate": "medium",
    "5 - Planning": "low",
    # OTRS / Znuny: numbered the other way round, so the word counts, not the number
    "1 very low": "low",
    "3 normal": "medium",
    "4 high": "high",
    "5 very high": "critical",
    # Jira
    "Highest": "critical",
    "Blocker": "critical",
    "Major": "high",
    "Minor": "low",
    "Lowest": "low",
    # levels, 1 the most urgent
    "P1": "critical",
    "p2": "high",
    "Sev 1": "critical",
    "SEV-3": "medium",
    "S4": "low",
    "Severity 2": "high",
    "3": "medium",
    "5": "low",
    # fault management
    "warning": "low",
    # German, Spanish, French, Portuguese, Italian
    "Kritisch": "critical",
    "Hoch": "high",
    "Mittel": "medium",
    "Niedrig": "low",
    "Crítica": "critical",
    "Alta": "high",
    "Media": "medium",
    "Baja": "low",
    "Critique": "critical",
    "Haute": "high",
    "Moyenne": "medium",
    "Basse": "low",
    "Média": "medium",
    "Baixa": "low",
    "Bassa": "low",
}


@pytest.mark.parametrize(("raw", "expected"), STATUSES.items())
def test_a_systems_status_word_is_read_as_its_tmf621_status(raw, expected):
    assert parse_ticket({"external_id": "T-1", "title": "t", "status": raw}).status == expected


@pytest.mark.parametrize(("raw", "expected"), PRIORITIES.items())
def test_a_systems_priority_word_or_level_is_read_as_its_priority(raw, expected):
    assert parse_ticket({"external_id": "T-1", "title": "t", "priority": raw}).priority == expected


@pytest.mark.parametrize(
    ("field", "raw"), [("status", "Teleported"), ("priority", "P9"), ("priority", "soon")]
)
def test_a_word_no_system_uses_is_refused_with_the_known_values(field, raw):
    with pytest.raises(DocumentError) as refused:
        parse_ticket({"external_id": "T-1", "title": "t", field: raw})
    [message] = refused.value.errors[field]
    assert message.startswith(f"{raw!r} is not one of ") and "(nor a known alias)" in message


@pytest.mark.parametrize("raw", ["1", "6", "7"])
def test_a_numeric_state_is_refused_naming_value_map_as_systems_number_states_differently(raw):
    # ServiceNow's 6 is Resolved and Remedy's 6 Cancelled: the number alone does not say which.
    with pytest.raises(DocumentError) as refused:
        parse_ticket({"external_id": "T-1", "title": "t", "status": raw})
    [message] = refused.value.errors["status"]
    assert "(nor a known alias); a numeric state is a system's own code (ServiceNow: 1 New" in message
    assert message.endswith("e.g. --value-map status:7=closed")
