"""A ticket number typed as digits finds the ticket whatever its prefix and leading zeros:
595 and 0000595 find SIM-0000595, not SIM-0001595; words are searched as before."""

import pytest

from repair_center.models import Ticket
from repair_center.search import ticket_text_q
from repair_center.services.tickets import tickets_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture
def tickets(db):
    tickets_upsert(
        documents=[
            {"external_id": "SIM-0000595", "title": "CPRI link down"},
            {"external_id": "SIM-0001595", "title": "Fan alarm"},
            {"external_id": "NOC-595-B", "title": "Battery low"},
            {"external_id": "INC0010595", "title": "Mains out"},
        ],
        source="noc",
    )


def _found(query: str) -> list[str]:
    return sorted(Ticket.objects.filter(ticket_text_q(query)).values_list("external_id", flat=True))


@pytest.mark.parametrize("query", ["595", "0000595", " 595 ", "#595"])
def test_digits_find_the_ticket_whose_number_they_are(tickets, query):
    assert _found(query) == ["SIM-0000595"]


def test_a_whole_id_and_its_start_still_work(tickets):
    assert _found("SIM-0000595") == ["SIM-0000595"]
    assert _found("INC00105") == ["INC0010595"]


def test_the_number_of_an_id_without_a_dash(tickets):
    assert _found("10595") == ["INC0010595"]


def test_words_are_searched_as_before(tickets):
    assert _found("fan") == ["SIM-0001595"]
