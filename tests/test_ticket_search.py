"""Searching the queue as people type: PostgreSQL full-text search with English stemming, telecom
spelling variants and whole words, a site filter by prefix, and the index the search reads."""

import pytest
from django.db import connection
from django.urls import reverse

from frontend.queue import QueueFilters, ticket_queue
from repair_center import search
from repair_center.services.tickets import tickets_upsert
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

# Ticket ids that share no letters with the words searched, so only the text can match.
TICKETS = {
    "T-101": ("Fiber cut on the ring", "Backhoe hit the duct; optical loss total."),
    "T-102": ("Dirty fibre connector", "Cleaned it; rx levels back."),
    "T-103": ("No 4G at the train station", "Customers complain."),
    "T-104": ("Microwave hop down", "Heavy rain in the area since 02:00."),
    "T-105": ("Alarms chattering", "CPRI_LINK_DOWN raised and cleared 40 times; NL-7001 too."),
    "T-106": ("batt low on site", "site on batteries"),
}


@pytest.fixture(autouse=True)
def tickets():
    SiteFactory(code="CS-COAST-001", region="west")
    SiteFactory(code="CS-COAST-014", region="west")
    SiteFactory(code="HUB-COAST-001", region="west")
    docs = [
        {
            "external_id": key,
            "title": title,
            "description": text,
            "site": "CS-COAST-001",
            "status": "inProgress",
        }
        for key, (title, text) in TICKETS.items()
    ]
    docs.append({"external_id": "Q-14", "title": "fan alarm", "site": "CS-COAST-014"})
    docs.append({"external_id": "Q-21", "title": "fan alarm", "site": "HUB-COAST-001"})
    assert {r.status for r in tickets_upsert(documents=docs, source="noc")} == {"created"}


def _found(**filters) -> set[str]:
    from repair_center.models import Ticket

    ids = ticket_queue(filters=QueueFilters(view="all", **filters))
    return set(Ticket.objects.filter(pk__in=list(ids)).values_list("external_id", flat=True))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("fibre", {"T-101", "T-102"}),  # a spelling variant finds the other spelling
        ("fiber", {"T-101", "T-102"}),
        ("optic", {"T-101"}),  # optic, optical: one stem and a listed variant
        ("rain", {"T-104"}),  # a whole word: "train" does not match
        ("alarm", {"T-105", "Q-14", "Q-21"}),  # English stemming: alarm finds alarms
        ("battery", {"T-106"}),  # NOC shorthand: batt
        ("fibre cut", {"T-101"}),  # every word must match
        ("CPRI_LINK_DOWN", {"T-105"}),  # a code matches as a phrase
        ("nl-7001", {"T-105"}),
        ("fib", set()),  # a fragment is not a word
        ("ala", set()),
        ("q-1", {"Q-14"}),  # the start of a ticket id
        ("t-10", set(TICKETS)),
    ],
)
def test_words_match_whole_with_stemming_and_spelling_variants(query, expected):
    assert _found(q=query) == expected


def test_the_site_filter_takes_the_start_of_a_code_in_any_case():
    assert _found(site="cs-coast") == set(TICKETS) | {"Q-14"}
    assert _found(site="CS-COAST-01") == {"Q-14"}
    assert _found(site="hub") == {"Q-21"}


def test_the_search_reads_the_full_text_index():
    sql, params = (
        ticket_queue(filters=QueueFilters(view="all", q="fibre cut")).order_by().query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # undone with the test's transaction
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "ticket_search_vector_idx" in plan, plan


def test_the_stored_vector_follows_every_write():
    from repair_center.models import Ticket

    ticket = Ticket.objects.get(external_id="T-103")
    Ticket.objects.filter(pk=ticket.pk).update(title="Fibre cut near the train station")
    assert _found(q="fiber cut") == {"T-101", "T-103"}
    assert search.VECTOR_COLUMN == "search_vector"


def test_the_queue_page_searches_the_same_way(client, engineer):
    client.force_login(engineer)
    html = client.get(reverse("ticket-list"), {"view": "all", "q": "fiber"}).content.decode()
    assert "T-101" in html and "T-102" in html and "T-103" not in html
