"""The assignment form lists people under their teams, so it is plain before saving who belongs to
the group chosen; someone in no team is listed as such."""

import re
from html import unescape

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from repair_center.models import AssignmentGroup
from repair_center.services.tickets import tickets_upsert

pytestmark = pytest.mark.django_db


def test_people_are_grouped_by_team(client, engineer):
    [result] = tickets_upsert(documents=[{"external_id": "A-1", "title": "Fan alarm"}], source="noc")
    AssignmentGroup.objects.create(name="Coast crew").members.add(engineer)
    loner = User.objects.create_user("zed")
    loner.groups.add(*engineer.groups.all())
    client.force_login(engineer)

    html = unescape(client.get(reverse("ticket-detail", args=[result.id])).content.decode())

    person = html[
        html.index('id="assign-person"') : html.index("</select>", html.index('id="assign-person"'))
    ]
    groups = dict(re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', person, re.S))
    assert set(groups) == {"Coast crew", "In no team"}
    assert f'value="{engineer.username}"' in groups["Coast crew"]
    assert 'value="zed"' in groups["In no team"] and 'value="zed"' not in groups["Coast crew"]


def test_the_assignee_is_selected_once_even_in_no_team(client, engineer):
    from repair_center.services import workflow

    [result] = tickets_upsert(documents=[{"external_id": "A-2", "title": "Fan alarm"}], source="noc")
    AssignmentGroup.objects.create(name="Hill crew")  # the engineer is in no team
    workflow.ticket_assign(ticket_id=result.id, assignee=engineer, user=engineer)
    client.force_login(engineer)
    html = client.get(reverse("ticket-detail", args=[result.id])).content.decode()
    person = html[
        html.index('id="assign-person"') : html.index("</select>", html.index('id="assign-person"'))
    ]
    assert person.count(" selected") == 1 and f'value="{engineer.username}" selected' in person
