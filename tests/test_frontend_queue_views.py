"""The queue people use: saved views (My open by default), most urgent first, the SLA and the
recommended fix with its confidence band in each row, and the filters kept in the URL."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from ml.models import ModelVersion
from repair_center.models import AssignmentGroup, Ticket
from repair_center.services.tickets import tickets_upsert
from repair_center.services.workflow import ticket_assign
from tests.factories import RecommendationFactory, SiteFactory, UserFactory

pytestmark = pytest.mark.django_db


def _ago(hours: float) -> str:
    return (timezone.now() - timedelta(hours=hours)).isoformat()


@pytest.fixture
def world(engineer):
    """Engineer 'eng' in the coast crew; a colleague; tickets of every kind."""
    SiteFactory(code="CS-COAST-001", region="west")
    colleague = UserFactory(username="ana", roles=["engineer"])
    crew = AssignmentGroup.objects.create(name="Coast crew")
    crew.members.add(engineer, colleague)
    other = AssignmentGroup.objects.create(name="Hill crew")
    docs = {
        "MINE-LOW": dict(priority="low", opened_at=_ago(1)),  # due in 71 h
        "MINE-CRIT": dict(priority="critical", opened_at=_ago(3)),  # due in 1 h: due soon
        "CREW-HIGH": dict(priority="high", opened_at=_ago(10)),  # breached 2 h ago
        "ANA-MED": dict(priority="medium", opened_at=_ago(2)),
        "HILL": dict(priority="high", opened_at=_ago(1)),
        "NOBODY": dict(priority="medium", opened_at=_ago(30)),  # breached, unassigned
        "DONE": dict(priority="critical", opened_at=_ago(40), status="closed", resolved_at=_ago(39)),
    }
    ids = {}
    for key, fields in docs.items():
        [result] = tickets_upsert(
            documents=[{"external_id": key, "title": f"{key} alarm", "site": "CS-COAST-001", **fields}],
            source="noc",
        )
        ids[key] = result.id
    ticket_assign(ticket_id=ids["MINE-LOW"], group=crew, assignee=engineer)
    ticket_assign(ticket_id=ids["MINE-CRIT"], group=crew, assignee=engineer)
    ticket_assign(ticket_id=ids["CREW-HIGH"], group=crew)
    ticket_assign(ticket_id=ids["ANA-MED"], group=crew, assignee=colleague)
    ticket_assign(ticket_id=ids["HILL"], group=other)
    return ids


def _ids(response) -> list[str]:
    return re.findall(r'class="ticket-id">([^<]+)<', response.content.decode())


@pytest.fixture
def eng(client, engineer):
    client.force_login(engineer)
    return client


def test_my_open_is_the_default_most_urgent_first(eng, world):
    response = eng.get(reverse("ticket-list"))
    # Due times: CREW-HIGH 2 h ago, MINE-CRIT in 1 h, ANA-MED in 22 h, MINE-LOW in 71 h.
    assert _ids(response) == ["CREW-HIGH", "MINE-CRIT", "ANA-MED", "MINE-LOW"]
    html = response.content.decode()
    assert 'aria-current="page">My open</a>' in html
    assert "Breached 2 h" in html and re.search(r"Due in (59 min|1 h)<", html)


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        ("my_groups", {"CREW-HIGH", "MINE-CRIT", "ANA-MED", "MINE-LOW"}),
        ("unassigned", {"CREW-HIGH", "HILL", "NOBODY"}),
        ("breaching", {"CREW-HIGH", "MINE-CRIT", "NOBODY"}),
        ("all", {"MINE-LOW", "MINE-CRIT", "CREW-HIGH", "ANA-MED", "HILL", "NOBODY", "DONE"}),
    ],
)
def test_the_saved_views(eng, world, view, expected):
    assert set(_ids(eng.get(reverse("ticket-list"), {"view": view}))) == expected


def test_my_open_without_any_group_shows_only_what_is_mine_and_says_where_to_look(client, world):
    loner = UserFactory(username="solo", roles=["engineer"])
    client.force_login(loner)
    html = client.get(reverse("ticket-list")).content.decode()
    assert _ids(client.get(reverse("ticket-list"))) == []
    assert 'href="?view=unassigned"' in html and 'href="?view=all"' in html


def _recommend(ticket_id: int, code: str, confidence: float, *, unfamiliar: bool = False) -> None:
    version = ModelVersion.objects.get_or_create(
        base_model="t",
        data_fingerprint="f" * 64,
        artifact_path="/nowhere",
        format_version=1,
        serialization_version=1,
    )[0]
    ticket = Ticket.objects.get(pk=ticket_id)
    RecommendationFactory(
        ticket=ticket,
        ticket_revision=ticket.revision,
        model_version=version,
        top_resolution=code,
        top_confidence=confidence,
        abstained=unfamiliar,
        payload={"unfamiliar": unfamiliar},
    )


def test_each_row_shows_the_recommended_fix_with_its_band_and_needs_an_expert_follows_the_rule(eng, world):
    _recommend(world["MINE-CRIT"], "REPLACE_SFP", 0.9999)
    _recommend(world["CREW-HIGH"], "REBOOT_BASEBAND", 0.42)
    _recommend(world["ANA-MED"], "RESEAT_CPRI", 0.76)

    html = eng.get(reverse("ticket-list")).content.decode()

    assert (
        "<code>REPLACE_SFP</code>" in html and 'data-percent="over 99%"' in html and ">High</button>" in html
    )
    assert 'data-percent="76%"' in html and ">Medium</button>" in html
    assert ">100%<" not in html and "100%" not in html
    assert (
        '<span class="badge needs-expert" title="The model is unsure; its best guess is REBOOT_BASEBAND">'
        "Needs an expert</span>"
    ) in html
    assert set(_ids(eng.get(reverse("ticket-list"), {"view": "needs_expert"}))) == {"CREW-HIGH"}


def test_an_unfamiliar_ticket_needs_an_expert_whatever_its_confidence(eng, world):
    _recommend(world["MINE-CRIT"], "REPLACE_SFP", 0.97, unfamiliar=True)
    _recommend(world["ANA-MED"], "RESEAT_CPRI", 0.76)

    html = eng.get(reverse("ticket-list"), {"view": "all"}).content.decode()

    assert 'title="The model is unsure; its best guess is REPLACE_SFP">Needs an expert</span>' in html
    assert "best guess is RESEAT_CPRI" not in html
    assert set(_ids(eng.get(reverse("ticket-list"), {"view": "needs_expert"}))) == {"MINE-CRIT"}


def test_filters_stay_in_the_url_and_the_ticket_page_leads_back_to_them(eng, world):
    params = {"view": "all", "priority": "critical", "q": "alarm"}
    response = eng.get(reverse("ticket-list"), params)
    assert _ids(response) == ["MINE-CRIT", "DONE"]  # "All" lists the newest first
    html = response.content.decode()
    assert 'name="view" value="all"' in html and 'value="critical" selected' in html
    assert "2 on</span>" in html  # the collapsed filter button says how many are on

    ticket = eng.get(reverse("ticket-detail", args=[world["MINE-CRIT"]])).content.decode()
    assert 'href="/?view=all&amp;priority=critical&amp;q=alarm">← Tickets</a>' in ticket


def test_the_status_filter_takes_any_open_status(eng, world):
    found = set(_ids(eng.get(reverse("ticket-list"), {"view": "all", "status": "open"})))
    assert found == {"MINE-LOW", "MINE-CRIT", "CREW-HIGH", "ANA-MED", "HILL", "NOBODY"}


def test_engineers_see_tickets_and_their_profile_with_their_groups(eng, world, engineer):
    html = eng.get(reverse("profile")).content.decode()
    assert "Coast crew" in html and "2 assigned to you" in html and "engineer" in html
    nav = eng.get(reverse("ticket-list")).content.decode()
    assert ">Tickets</a>" in nav and ">Models</a>" not in nav and User.objects.get(username="eng")
