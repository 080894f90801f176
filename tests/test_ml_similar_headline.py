"""A similar past ticket without a title (the public IT-support export has only a description) is
shown by the start of its description, never as an empty line beside its id."""

import pytest

from ml.serving import inference, similar
from repair_center.models import Ticket

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

DOCUMENT = {
    "external_id": "NEW-1",
    "title": "optical receive power low on the fibre link",
    "description": "",
    "site": "SITE-ML",
    "element": "SN-ML-1",
    "opened_at": "2026-03-01T10:00:00Z",
    "error_codes": ["SFP_RX_LOW"],
}


def test_a_similar_ticket_without_a_title_shows_the_start_of_its_description(trained_champion):
    Ticket.objects.update(title="", description="mail list owner change " * 20 + "end")

    found = inference.recommend(DOCUMENT, top_k=1)["similar"]

    assert found
    for item in found:
        assert item["title"].startswith("mail list owner change mail list")
        assert item["title"].endswith("...") and len(item["title"]) <= similar.HEADLINE_CHARS + 3
        assert "end" not in item["title"]


def test_a_title_is_kept_and_a_short_description_shown_whole():
    assert similar.headline("Card reseated", "a long description") == "Card reseated"
    assert similar.headline("", "  fan   noisy\n in cabinet ") == "fan noisy in cabinet"
    assert similar.headline("", "x" * 150) == "x" * similar.HEADLINE_CHARS + "..."
    assert similar.headline("", "") == ""
